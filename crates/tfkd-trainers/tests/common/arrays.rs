//! An experiment of every loss kind on one architecture, trained alone and in fused arrays (the arrays tests).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use tch::{Kind, Tensor};
use tfkd_spec::Experiment;
use tfkd_trainers::{
    engine::{self, Options, Outcome},
    schedule, Event, Observer,
};

/// Every loss kind on one architecture: wave 0 trains the baseline, LSR and Tf-KD_reg (an array of three),
/// wave 1 the students of the baseline — KD, De-KD (epoch-1 snapshot) and Tf-KD_self (another array of three).
/// 200 training images at batch 20 for 2 epochs: 20 optimisation steps per run.
pub fn spec(model: &str, data: &Path) -> String {
    format!(
        r#"
name: arrays
dataset: {{ source: imagefolder, path: "{data}", image_size: [16, 16], augment: cifar, normalize: half, val_size: 20, train_subset: 200 }}
train: {{ epochs: 2, batch_size: 20, lr: 0.05, lr_batch_scaling: false, momentum: 0.9, weight_decay: 5.0e-4,
         warmup_epochs: 1, milestones: [0.5], gamma: 0.2, threads: 1 }}
model: {{ width: 0.125 }}
seeds: [3]
runs:
  - {{ id: base, model: {model}, method: {{ kind: baseline }} }}
  - {{ id: lsr, model: {model}, method: {{ kind: lsr }} }}
  - {{ id: reg, model: {model}, method: {{ kind: tf-kd-reg, alpha: 0.5, temperature: 20, multiplier: 5 }} }}
  - {{ id: kd, model: {model}, method: {{ kind: kd, alpha: 0.9, temperature: 4 }}, teacher: base }}
  - {{ id: dekd, model: {model}, method: {{ kind: de-kd, alpha: 0.9, temperature: 4 }}, teacher: base, teacher_snapshot: {{ epoch: 1 }} }}
  - {{ id: self, model: {model}, method: {{ kind: tf-kd-self, alpha: 0.95, temperature: 6, multiplier: 2 }}, teacher: base }}
profiles: {{ test: {{}} }}
"#,
        data = data.display()
    )
}

/// Collects each run's per-step losses.
#[derive(Default)]
pub struct Steps(pub BTreeMap<String, Vec<f64>>);

impl Observer for Steps {
    fn event(&mut self, e: &Event) {
        if let Event::Batch { label, step_loss, .. } = e {
            self.0.entry(label.clone()).or_default().push(*step_loss);
        }
    }
}

/// Each run's final weights, by label.
pub type Weights = BTreeMap<String, Vec<(String, Tensor)>>;

/// What one training of the experiment gave: per-step losses, each run's final weights and outcome.
pub type Trained = (Steps, Weights, Vec<Outcome>);

/// Trains the experiment with arrays of up to `array` runs in a cache of its own. Each job the engine starts goes
/// through a launch hook that trains it in this process as the engine would, and the jobs it was given are
/// checked against the schedule the estimate simulates for the plan: the estimate prices the arrays that train.
pub fn train(exp: &Experiment, data_dir: &Path, cache: PathBuf, array: usize) -> Trained {
    let ctx = super::cpu_context(&cache);
    let plan = engine::plan(exp, data_dir, &cache).unwrap();
    let mut steps = Steps::default();
    let started = std::sync::Mutex::new(Vec::new());
    let launch = |job: &[&tfkd_spec::PlannedRun], report: &mut dyn FnMut(Event)| {
        started.lock().unwrap().push(job.iter().map(|p| p.run_id.clone()).collect::<Vec<_>>());
        engine::train_job(&plan, job, &ctx, &mut engine::Forward(report))
    };
    let opts = Options { jobs: 1, array, launch: Some(&launch) };
    let outcomes = engine::execute(&plan, &ctx, &mut steps, opts).unwrap();
    let cost: Vec<Option<f64>> = plan.runs.iter().map(|_| Some(1.0)).collect();
    let starts = vec![(0, 0); plan.runs.len()];
    let simulated = schedule::simulate(&cost, &tfkd_spec::teacher_indices(&plan.runs), 1, &|ready| {
        schedule::group(&plan.runs, ready.iter().copied(), &starts, array)
    });
    assert_eq!(
        started.into_inner().unwrap(),
        simulated.run_ids(&plan.runs),
        "the engine's jobs are the ones the estimate schedules"
    );
    let mut weights = BTreeMap::new();
    for p in &plan.runs {
        let dir = tfkd_trainers::state::RunDir::new(&cache, &p.run_id);
        if let Ok((Some(ck), _)) = dir.resume(&p.run_id) {
            weights.insert(p.config.label(), ck.model);
        }
    }
    (steps, weights, outcomes)
}

pub fn relative(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[]).max(1e-12)
}
