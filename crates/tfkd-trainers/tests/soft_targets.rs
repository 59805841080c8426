//! The soft-target curve of a Tf-KD_reg table (the KD ≈ LSR figure): which teacher it is computed from, that
//! nothing is computed before that teacher has finished, and that the statistics behave as a softmax with
//! temperature must (entropy rising towards log K, the most likely class's probability falling towards 1/K).

use std::path::Path;

mod common;

use common::Quiet;
use tfkd_trainers::{
    engine::{self, Options},
    teacher,
};

/// Two candidate teachers (different runs: the cache would share identical ones); the first normal-KD cell
/// learns from `teacher-b`, so the curve is its.
fn spec(data: &Path, layout: &str) -> String {
    format!(
        r#"
name: soft
{settings}seeds: [1]
runs:
  - {{ id: teacher-a, model: cnn5, method: {{ kind: lsr }} }}
  - {{ id: teacher-b, model: cnn5, method: {{ kind: baseline }} }}
  - {{ id: kd, model: cnn5, method: {{ kind: kd, alpha: 0.9, temperature: 4 }}, teacher: teacher-b }}
paper:
  layout: {layout}
  dataset: test
  source: test
  rows:
    - label: CNN
      cells:
        baseline: {{ run: teacher-a, paper: "1.0" }}
        normal_kd: {{ run: kd, paper: "2.0" }}
profiles: {{ test: {{}} }}
"#,
        settings = common::one_epoch_settings(data)
    )
}

#[test]
fn the_curve_is_the_normal_kd_teachers_and_only_once_it_has_finished() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("images");
    common::dataset(&data, 12, 3, 16, 11);
    let cache = home.path().join("cache");
    let exp = tfkd_spec::load_str(&spec(&data, "tf-reg"), Path::new("soft.yaml"), "test", &[]).unwrap();
    let plan = engine::plan(&exp, home.path(), &cache).unwrap();

    let picked = teacher::soft_target_teacher(&exp, &plan).expect("a Tf-KD_reg table with a KD cell has a teacher");
    assert_eq!(picked.config.id, "teacher-b");
    assert!(
        teacher::soft_target_curve(&exp, &plan, &cache).unwrap().is_none(),
        "no curve before the teacher has trained"
    );

    let ctx = common::cpu_context(&cache);
    engine::execute(&plan, &ctx, &mut Quiet, Options { jobs: 1, array: 1, launch: None }).unwrap();
    let curve = teacher::soft_target_curve(&exp, &plan, &cache).unwrap().expect("the teacher has finished");
    assert_eq!(curve.teacher, "teacher-b@1");
    assert_eq!((curve.classes, curve.images), (10, 30));
    let log_k = 10f64.ln();
    for pair in curve.curve.windows(2) {
        assert!(pair[0].temperature < pair[1].temperature);
        assert!(pair[0].entropy <= pair[1].entropy + 1e-12, "entropy rises with T: {pair:?}");
        assert!(pair[0].max_prob >= pair[1].max_prob - 1e-12, "the top probability falls with T: {pair:?}");
    }
    let hottest = curve.curve.last().unwrap();
    assert!(
        hottest.entropy <= log_k + 1e-12 && log_k - hottest.entropy < 0.01,
        "T = 100 is nearly uniform: {hottest:?}"
    );
    assert!(hottest.kl_to_uniform >= 0.0 && hottest.kl_to_uniform < 0.01);

    let other = tfkd_spec::load_str(&spec(&data, "tf-self"), Path::new("soft.yaml"), "test", &[]).unwrap();
    assert!(teacher::soft_target_teacher(&other, &plan).is_none(), "only Tf-KD_reg tables carry the curve");
}
