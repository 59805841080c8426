//! Repairs remove files, so only the holder of a run's lease makes them: a second invocation that finds a
//! finished run's weights damaged while another process holds that run's lease leaves the folder as it is
//! and waits; once the lease is free, it repairs (retrains) the run.

use std::{
    path::Path,
    sync::{atomic::Ordering, Arc},
};

mod common;

use tfkd_trainers::{
    engine::{self, Options, Outcome},
    state::RunDir,
    Event, Observer,
};

fn spec(data: &Path) -> String {
    format!(
        "name: repairs\n{}seeds: [2]\nruns:\n  - {{ id: base, model: cnn5, method: {{ kind: baseline }} }}\nprofiles: {{ test: {{}} }}\n",
        common::one_epoch_settings(data)
    )
}

/// Stops the plan as soon as it waits for a lease, and keeps what it was told.
struct StopWhenWaiting(Arc<std::sync::atomic::AtomicBool>, Vec<Event>);

impl Observer for StopWhenWaiting {
    fn event(&mut self, e: &Event) {
        if matches!(e, Event::RunWaiting { .. }) {
            self.0.store(true, Ordering::SeqCst);
        }
        self.1.push(e.clone());
    }
}

#[test]
fn a_damaged_run_is_repaired_only_under_its_lease() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("images");
    common::dataset(&data, 6, 2, 16, 3);
    let cache = home.path().join("cache");
    let exp = tfkd_spec::load_str(&spec(&data), Path::new("r.yaml"), "test", &[]).unwrap();
    let plan = engine::plan(&exp, home.path(), &cache).unwrap();
    let opts = Options { jobs: 1, array: 1, launch: None };
    let first = engine::execute(&plan, &common::cpu_context(&cache), &mut common::Quiet, opts).unwrap();
    assert!(matches!(first[0], Outcome::Trained(_)), "{first:?}");

    // The weights of the finished run are cut short while another process holds its lease.
    let dir = RunDir::new(&cache, &plan.runs[0].run_id);
    let weights = dir.best();
    let damaged = std::fs::read(&weights).unwrap()[..100].to_vec();
    std::fs::write(&weights, &damaged).unwrap();
    let held = engine::try_lease(&dir).unwrap().expect("the lease is free");

    let ctx = common::cpu_context(&cache);
    let mut obs = StopWhenWaiting(ctx.interrupt.clone(), Vec::new());
    let waited = engine::execute(&plan, &ctx, &mut obs, opts).unwrap();
    assert!(
        matches!(&waited[0], Outcome::Interrupted { at, .. } if at.contains("waiting for its lease")),
        "{waited:?}"
    );
    assert!(!obs.1.iter().any(|e| matches!(e, Event::RunRepaired { .. })), "no repair without the lease: {:?}", obs.1);
    assert_eq!(std::fs::read(&weights).unwrap(), damaged, "the holder's folder is left as it is");
    assert!(dir.done().is_file(), "its record is left too");

    drop(held);
    let ctx = common::cpu_context(&cache);
    let mut obs = StopWhenWaiting(ctx.interrupt.clone(), Vec::new());
    let repaired = engine::execute(&plan, &ctx, &mut obs, opts).unwrap();
    assert!(matches!(repaired[0], Outcome::Trained(_)), "{repaired:?}");
    assert!(
        obs.1.iter().any(|e| matches!(e, Event::RunRepaired { action, .. } if action.contains("retraining"))),
        "{:?}",
        obs.1
    );
    let (Outcome::Trained(a), Outcome::Trained(b)) = (&first[0], &repaired[0]) else { unreachable!() };
    assert_eq!(
        a.metrics.iter().map(|m| m.train_loss).collect::<Vec<_>>(),
        b.metrics.iter().map(|m| m.train_loss).collect::<Vec<_>>(),
        "retrained to the same numbers"
    );
}
