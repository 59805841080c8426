//! The cache is shared by content: a run another target trained under its own name is reused, and its record
//! comes back under the name of the run that asked for it (a sweep point equal to another table's entry must
//! not read as "not run").

use std::path::Path;

mod common;

use common::Quiet;
use tfkd_trainers::engine::{self, Options, Outcome};

fn spec(data: &Path, id: &str) -> String {
    format!(
        r#"
name: shared
{settings}seeds: [4]
runs:
  - {{ id: {id}, model: cnn5, method: {{ kind: lsr }} }}
profiles: {{ test: {{}} }}
"#,
        settings = common::one_epoch_settings(data)
    )
}

#[test]
fn a_run_trained_under_another_name_is_reused_under_this_one() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("images");
    common::dataset(&data, 6, 2, 16, 5);
    let cache = home.path().join("cache");
    let ctx = common::cpu_context(&cache);
    let opts = || Options { jobs: 1, array: 1, launch: None };

    let first = tfkd_spec::load_str(&spec(&data, "lsr-table"), Path::new("a.yaml"), "test", &[]).unwrap();
    let plan = engine::plan(&first, home.path(), &cache).unwrap();
    let trained = engine::execute(&plan, &ctx, &mut Quiet, opts()).unwrap();
    let Outcome::Trained(original) = &trained[0] else { panic!("{:?}", trained[0]) };

    let second = tfkd_spec::load_str(&spec(&data, "lsr-sweep-point"), Path::new("b.yaml"), "test", &[]).unwrap();
    let plan2 = engine::plan(&second, home.path(), &cache).unwrap();
    assert_eq!(plan2.runs[0].run_id, plan.runs[0].run_id, "same settings, same run");
    let reused = engine::execute(&plan2, &ctx, &mut Quiet, opts()).unwrap();
    let Outcome::Cached { record, .. } = &reused[0] else { panic!("{:?}", reused[0]) };
    assert_eq!((record.label.as_str(), record.config.id.as_str()), ("lsr-sweep-point@4", "lsr-sweep-point"));
    assert_eq!(
        (&record.summary, &record.metrics, &record.run_id),
        (&original.summary, &original.metrics, &original.run_id)
    );
}
