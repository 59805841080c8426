//! The one timer of every benchmark (and of the estimate's probes): warm-up steps, then steps timed until a
//! budget is spent, with the device synchronised where the work is asynchronous (a GPU).

use std::time::Instant;

use tch::Device;

/// How long to time a step.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Untimed steps first (allocator, kernel choice, lazily loaded GPU kernels).
    pub warmup: usize,
    /// Steps always timed, whatever the time.
    pub min_steps: usize,
    /// Steps never exceeded (`usize::MAX`: no cap).
    pub max_steps: usize,
    /// Seconds after which no further step starts (once `min_steps` are done).
    pub seconds: f64,
    /// Synchronise the device every this many steps (0: only around the timed span), so a GPU's queue stays
    /// short and the clock measures work done.
    pub sync_every: usize,
}

impl Budget {
    /// `seconds` of timing after 1 warm-up step on the CPU and 5 on a GPU, at least 2 steps, no cap.
    #[must_use]
    pub fn seconds(seconds: f64, device: Device) -> Budget {
        Budget {
            warmup: if device.is_cuda() { 5 } else { 1 },
            min_steps: 2,
            max_steps: usize::MAX,
            seconds,
            sync_every: 0,
        }
    }
}

/// Steps timed and the seconds they took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    /// Timed steps.
    pub steps: usize,
    /// Their wall time.
    pub seconds: f64,
}

impl Timed {
    /// Items per second when each step handles `per_step` items.
    #[must_use]
    pub fn rate(&self, per_step: usize) -> f64 {
        (self.steps * per_step) as f64 / self.seconds
    }
}

/// The CUDA device index to synchronise for `device`: its own, never device 0 for another GPU.
#[must_use]
pub fn cuda_index(device: Device) -> Option<i64> {
    match device {
        Device::Cuda(i) => Some(i as i64),
        _ => None,
    }
}

/// Waits for `device`'s queued work (a no-op on the CPU, whose kernels are synchronous).
pub fn synchronize(device: Device) {
    if let Some(i) = cuda_index(device) {
        tch::Cuda::synchronize(i);
    }
}

/// Runs `step` `budget.warmup` times, then times it within `budget` on `device`.
pub fn time_steps(
    device: Device,
    budget: Budget,
    step: &mut dyn FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Timed> {
    for _ in 0..budget.warmup {
        step()?;
    }
    synchronize(device);
    let start = Instant::now();
    let mut steps = 0;
    while steps < budget.min_steps || (start.elapsed().as_secs_f64() < budget.seconds && steps < budget.max_steps) {
        step()?;
        steps += 1;
        if budget.sync_every > 0 && steps % budget.sync_every == 0 {
            synchronize(device);
        }
    }
    synchronize(device);
    Ok(Timed { steps, seconds: start.elapsed().as_secs_f64() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A benchmark on `cuda:N` waits for GPU N: the model benchmark once synchronised GPU 0 whatever GPU it
    /// timed, so a second GPU's queued work went uncounted.
    #[test]
    fn each_gpu_is_synchronised_by_its_own_index() {
        assert_eq!(cuda_index(Device::Cuda(3)), Some(3));
        assert_eq!(cuda_index(Device::Cuda(0)), Some(0));
        assert_eq!(cuda_index(Device::Cpu), None);
    }

    /// Warm-up steps are not timed, the minimum is kept even with no time, the cap is kept with time to spare.
    #[test]
    fn the_budget_bounds_the_timed_steps() {
        let mut calls = 0;
        let budget = Budget { warmup: 3, min_steps: 4, max_steps: usize::MAX, seconds: 0.0, sync_every: 2 };
        let timed = time_steps(Device::Cpu, budget, &mut || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((calls, timed.steps), (7, 4));
        let capped = Budget { warmup: 0, min_steps: 1, max_steps: 5, seconds: 60.0, sync_every: 0 };
        assert_eq!(time_steps(Device::Cpu, capped, &mut || Ok(())).unwrap().steps, 5);
        let failing = time_steps(Device::Cpu, capped, &mut || anyhow::bail!("step failed"));
        assert_eq!(failing.unwrap_err().to_string(), "step failed");
    }
}
