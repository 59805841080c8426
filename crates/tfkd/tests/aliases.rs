//! Every alias of the paper resolves, and the smoke profile of every CIFAR and Tiny-ImageNet table runs end to end
//! through its alias (table3's is tests/engine.rs's, the ImageNet tables' tests/imagenet.rs's): training, the
//! table with the paper's numbers, the index and the claims ledger. One results folder and cache for all, so
//! runs equal across targets train once.

mod common;

use common::{ok, text, tfkd};

/// The aliases whose smoke profile this test runs, with a number each table must print from the paper.
const SMOKE: [(&str, &[&str], &str); 7] = [
    ("table1", &["rekd-cifar100"], "77.28±0.28 (+1.41)"),
    ("table2", &["rekd-cifar10"], "91.81±0.23 (+0.92) (printed; arithmetic +0.83)"),
    ("table4", &["dekd", "dekd-tiny-imagenet"], "56.22 (+1.16)"),
    ("table5", &["tf-kd-self-cifar100"], "(+1.12) [ResNeXt101"),
    ("table6", &["tf-kd-self-tiny-imagenet"], "68.18 (+0.71)"),
    ("table9", &["tf-kd-reg-cifar100"], "78.84 (+0.99) (printed; arithmetic +0.69)"),
    ("table10", &["tf-kd-reg-tiny-imagenet"], "60.66 (+0.11) (printed; arithmetic +0.15)"),
];

#[test]
fn every_alias_resolves_and_its_smoke_profile_runs_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    for alias in (1..=11).map(|n| format!("table{n}")).chain(["fig2".into(), "fig3".into(), "fig4".into()]) {
        let out = ok(tfkd(home.path(), &["check", &alias, "--profile", "smoke"]).output().unwrap());
        assert!(out.contains("paper: Tab"), "{alias}: {out}");
    }
    let out = tfkd(home.path(), &["check", "fig5", "--profile", "smoke"]).output().unwrap();
    assert!(!out.status.success() && text(&out).contains("no experiment 'fig5'"), "{}", text(&out));

    for (alias, targets, printed) in SMOKE {
        let out = ok(tfkd(home.path(), &["reproduce", alias, "--profile", "smoke", "--quiet"]).output().unwrap());
        for target in targets {
            let table = std::fs::read_to_string(home.path().join("results").join(target).join("smoke/table.md"))
                .unwrap_or_else(|e| panic!("{alias} → {target}: {e}\n{out}"));
            assert!(table.contains("Tab. "), "{target}: the paper table named");
        }
        let all: String = targets
            .iter()
            .map(|t| std::fs::read_to_string(home.path().join("results").join(t).join("smoke/table.md")).unwrap())
            .collect();
        assert!(all.contains(printed), "{alias}: the paper's {printed:?} in its table\n{all}");
    }
    let ledger = std::fs::read_to_string(home.path().join("results/CLAIMS.md")).unwrap();
    assert!(ledger.contains("## Tab. 10 — "), "{ledger}");
}
