//! The throughput cache (`.cache/throughput.json`): measured speeds per model setting and machine, with the
//! load each was measured under, so estimates measure once per machine and again only when a probe was taken
//! while other processes loaded the CPUs.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

/// Measured speeds of one model setting.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Speed {
    /// Training images per second (forward, backward, SGD step).
    pub train_img_per_s: f64,
    /// Images per second of a forward pass in eval mode without gradients.
    pub eval_img_per_s: f64,
}

/// The throughput cache file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Cache {
    /// Augmentation CPU-seconds per image, per machine key.
    pub(super) augment_cpu_s_per_img: BTreeMap<String, f64>,
    /// Speeds per setting key.
    pub(super) speeds: BTreeMap<String, Speed>,
    /// The share of the CPUs other processes took while a speed was measured, for the speeds measured under
    /// load ([`crate::contention::BUSY_SHARE`]): used as they are while the machine stays busy, measured again
    /// by the first estimate made when it is quiet.
    #[serde(default)]
    pub(super) loaded: BTreeMap<String, f64>,
}

impl Cache {
    /// The cache at `path`; empty when there is none or it cannot be read (it is rebuilt by measuring).
    pub(super) fn read(path: &std::path::Path) -> Cache {
        std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
    }

    /// Forgets the speeds measured under load if the machine is quiet now, so that they are measured again.
    pub(super) fn retire_loaded(&mut self) {
        if self.loaded.is_empty() || crate::contention::busy_now().is_some() {
            return;
        }
        for key in std::mem::take(&mut self.loaded).into_keys() {
            self.speeds.remove(&key);
        }
    }

    /// Measures the setting `key` with `f` and keeps its speed, tagged with the load it was measured under.
    pub(super) fn measure(&mut self, key: &str, f: impl FnOnce() -> anyhow::Result<Speed>) -> anyhow::Result<()> {
        let start = crate::contention::CpuTimes::now();
        let speed = f()?;
        self.speeds.insert(key.to_string(), speed);
        match crate::contention::under_load_since(start) {
            Some(share) => self.loaded.insert(key.to_string(), share),
            None => self.loaded.remove(key),
        };
        Ok(())
    }

    /// The largest share of the CPUs others took while any of `keys` was measured, if any was under load.
    pub(super) fn load_of<'a>(&self, keys: impl IntoIterator<Item = &'a String>) -> Option<f64> {
        keys.into_iter().filter_map(|k| self.loaded.get(k).copied()).reduce(f64::max)
    }

    /// Writes the cache atomically.
    pub(super) fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        tfkd_io::write_atomic(path, serde_json::to_string_pretty(self)?)?;
        Ok(())
    }
}

/// Where the throughput cache lives: under the cache folder.
pub(super) fn cache_path() -> PathBuf {
    tfkd_io::paths::cache_dir().join("throughput.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A speed measured while every CPU was kept busy by other processes is cached tagged with that load (which
    /// the estimates that use it report), and the tag is kept with the cache.
    #[test]
    fn speeds_measured_under_load_are_tagged() {
        if crate::contention::CpuTimes::now().is_none() {
            return; // no CPU accounting here: every measurement counts as quiet
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let speed = Speed { train_img_per_s: 1.0, eval_img_per_s: 3.0 };
        let mut cache = Cache::default();
        cache
            .measure("k", || {
                let mut spinners: Vec<_> = (0..cores)
                    .map(|_| std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap())
                    .collect();
                std::thread::sleep(std::time::Duration::from_millis(600));
                for s in &mut spinners {
                    s.kill().unwrap();
                    s.wait().unwrap();
                }
                Ok(speed)
            })
            .unwrap();
        let share = cache.load_of(&["k".to_string()]).expect("measured under load");
        assert!(share > crate::contention::BUSY_SHARE, "{share}");
        assert_eq!(cache.load_of(&["other".to_string()]), None);
        let saved: Cache = serde_json::from_str(&serde_json::to_string(&cache).unwrap()).unwrap();
        assert_eq!(saved.loaded, cache.loaded, "the tag is kept with the cache");
        let old: Cache = serde_json::from_str(r#"{"augment_cpu_s_per_img": {}, "speeds": {}}"#).unwrap();
        assert!(old.loaded.is_empty(), "a cache written before the tags reads as untagged");
    }
}
