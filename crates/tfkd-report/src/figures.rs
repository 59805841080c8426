//! One figure per observation, built as data from the table and the records.

use tfkd_analysis::{soft, stats::Summary};
use tfkd_spec::Layout;

use crate::{
    figure::{Figure, Kind, Series},
    record::{Metric, Record},
    table::TableReport,
};

fn cell_summary(t: &TableReport, row: usize, col: &str) -> Option<Summary> {
    t.rows[row].cells.iter().find(|c| c.column == col)?.ours
}

/// Grouped bars of the given columns over the rows that were run.
fn bars(t: &TableReport, stem: &str, title: &str, columns: &[(&str, &str)], metric: Metric) -> Figure {
    let rows: Vec<usize> =
        (0..t.rows.len()).filter(|&r| columns.iter().all(|(c, _)| cell_summary(t, r, c).is_some())).collect();
    Figure {
        stem: stem.into(),
        title: title.into(),
        kind: Kind::Bars,
        x_label: String::new(),
        y_label: y_label(metric),
        categories: rows.iter().map(|&r| t.rows[r].label.clone()).collect(),
        series: columns
            .iter()
            .map(|(col, name)| Series {
                name: (*name).into(),
                points: rows
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &r)| cell_summary(t, r, col).map(|s| (i as f64, s.mean, s.sd)))
                    .collect(),
            })
            .collect(),
        hlines: Vec::new(),
        log_x: false,
    }
}

fn y_label(metric: Metric) -> String {
    match metric {
        Metric::BestTest => "best test accuracy (%)".into(),
        Metric::Last => "final test accuracy (%)".into(),
        Metric::TestAtBestVal => "test accuracy at best val (%)".into(),
    }
}

/// Mean over seeds of an entry's per-epoch test accuracy.
fn curve(records: &[Record], id: &str) -> Vec<(f64, f64, f64)> {
    let runs: Vec<&Record> = records.iter().filter(|r| r.config.id == id).collect();
    let epochs = runs.iter().map(|r| r.metrics.len()).min().unwrap_or(0);
    (0..epochs)
        .filter_map(|e| {
            let s = Summary::of(&runs.iter().map(|r| 100.0 * r.metrics[e].test_acc).collect::<Vec<_>>())?;
            Some((f64::from(runs[0].metrics[e].epoch), s.mean, s.sd))
        })
        .collect()
}

/// The figures of a table (and, for Tf-KD_reg, the KD ≈ LSR figure when soft targets were computed).
#[must_use]
pub fn figures(
    t: &TableReport,
    records: &[Record],
    spec_cells: &tfkd_spec::PaperTable,
    metric: Metric,
    teacher: Option<&soft::TeacherCurve>,
) -> Vec<Figure> {
    let run_of = |row: usize, col: &str| spec_cells.rows[row].cells.get(col).and_then(|c| c.run.clone());
    let first_run_row = (0..t.rows.len()).find(|&r| t.rows[r].cells.iter().all(|c| c.ours.is_some()));
    let mut out = Vec::new();
    match t.layout {
        Layout::ReKd => out.push(bars(
            t,
            "re-kd",
            "Re-KD: the large model taught by the small one vs its baseline",
            &[
                ("teacher_baseline", "large model: baseline"),
                ("re_kd", "large model: Re-KD (taught by the small one)"),
                ("student_baseline", "small model: baseline"),
                ("normal_kd", "small model: normal KD"),
            ],
            metric,
        )),
        Layout::TfReg => out.push(bars(
            t,
            "tf-kd-reg",
            "Tf-KD_reg vs LSR vs normal KD",
            &[("baseline", "baseline"), ("lsr", "LSR"), ("tf_kd_reg", "Tf-KD_reg"), ("normal_kd", "normal KD")],
            metric,
        )),
        Layout::TfSelf => {
            if let Some(r) = first_run_row {
                let series = [("baseline", "baseline"), ("tf_kd_self", "Tf-KD_self"), ("normal_kd", "normal KD")]
                    .iter()
                    .filter_map(|(col, name)| {
                        Some(Series {
                            name: format!("{} {name}", t.rows[r].label),
                            points: curve(records, &run_of(r, col)?),
                        })
                    })
                    .filter(|s| !s.points.is_empty())
                    .collect();
                out.push(Figure {
                    stem: "tf-kd-self".into(),
                    title: format!("Tf-KD_self: test accuracy by epoch ({})", t.rows[r].label),
                    kind: Kind::Lines,
                    x_label: "epoch".into(),
                    y_label: "test accuracy (%), mean over seeds".into(),
                    categories: Vec::new(),
                    series,
                    hlines: Vec::new(),
                    log_x: false,
                });
            }
        }
        Layout::DeKd => {
            if let Some(r) = first_run_row {
                let base_id = run_of(r, "student_baseline").unwrap_or_default();
                let model =
                    records.iter().find(|x| x.config.id == base_id).map(|x| x.config.model.clone()).unwrap_or_default();
                let mut ids: Vec<String> = records
                    .iter()
                    .filter(|x| x.config.model == model && x.teacher_test_acc.is_some())
                    .map(|x| x.config.id.clone())
                    .collect();
                ids.sort();
                ids.dedup();
                let points = ids
                    .iter()
                    .filter_map(|id| {
                        let runs: Vec<&Record> = records.iter().filter(|x| &x.config.id == id).collect();
                        let tx = Summary::of(
                            &runs.iter().filter_map(|x| x.teacher_test_acc.map(|a| 100.0 * a)).collect::<Vec<_>>(),
                        )?;
                        let sy = Summary::of(&runs.iter().filter_map(|x| metric.of(x)).collect::<Vec<_>>())?;
                        Some((tx.mean, sy.mean, sy.sd))
                    })
                    .collect();
                out.push(Figure {
                    stem: "de-kd".into(),
                    title: format!("De-KD: {model} student vs the accuracy of its teacher"),
                    kind: Kind::Scatter,
                    x_label: "teacher test accuracy (%) — teacher snapshots at several epochs".into(),
                    y_label: y_label(metric),
                    categories: Vec::new(),
                    series: vec![Series { name: format!("{model} taught by the teacher"), points }],
                    hlines: cell_summary(t, r, "student_baseline")
                        .map(|s| (format!("{model} baseline"), s.mean))
                        .into_iter()
                        .collect(),
                    log_x: false,
                });
            }
        }
    }
    if let Some(tc) = teacher {
        let k = tc.classes;
        let lsr = soft::lsr_target(0.1, k, true).kl_to_uniform(k);
        out.push(Figure {
            stem: "kd-vs-lsr".into(),
            title: format!("KD → LSR as T grows: soft targets of {} (K = {k})", tc.teacher),
            kind: Kind::Lines,
            x_label: "temperature T".into(),
            y_label: "KL(target ‖ uniform) (nats)".into(),
            categories: Vec::new(),
            series: vec![
                Series {
                    name: "trained teacher softmax(z/T)".into(),
                    points: tc.curve.iter().map(|s| (s.temperature, s.kl_to_uniform, 0.0)).collect(),
                },
                Series {
                    name: "virtual teacher softmax(p^d/T), a = 0.99".into(),
                    points: tc
                        .curve
                        .iter()
                        .map(|s| (s.temperature, soft::virtual_teacher(0.99, s.temperature, k).kl_to_uniform(k), 0.0))
                        .collect(),
                },
            ],
            hlines: vec![
                ("LSR target, ε = 0.1 (official spread)".into(), lsr),
                (
                    "Tf-KD_reg paper Eq. 9: student pulled to softmax(p^d)".into(),
                    soft::reg_effective_target(0.99, 20.0, k, true).kl_to_uniform(k),
                ),
            ],
            log_x: true,
        });
    }
    out
}
