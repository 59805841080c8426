//! One figure per observation, built as data from the table and the records.

use tfkd_analysis::{soft, stats::Summary};
use tfkd_spec::Layout;

use crate::{
    figure::{Figure, Kind, Series},
    record::Metric,
    table::TableReport,
    RunRecord,
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
        diagonal: false,
        caption: None,
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
fn curve(records: &[RunRecord], id: &str) -> Vec<(f64, f64, f64)> {
    let runs: Vec<&RunRecord> = records.iter().filter(|r| r.config.id == id).collect();
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
    records: &[RunRecord],
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
        Layout::TfImagenet => out.push(bars(
            t,
            "tf-kd-imagenet",
            "ImageNet: Tf-KD_self, Tf-KD_reg, LSR and normal KD vs the baseline",
            &[
                ("baseline", "baseline"),
                ("lsr", "LSR"),
                ("tf_kd_self", "Tf-KD_self"),
                ("tf_kd_reg", "Tf-KD_reg"),
                ("normal_kd", "normal KD"),
            ],
            metric,
        )),
        Layout::TfSelf => {
            // Fig. 4 is MobileNetV2's; another row where MobileNetV2 was not run.
            let mobilenet = (0..t.rows.len()).find(|&r| t.rows[r].label == "MobileNetV2" && Some(r) == first_run_row);
            out.extend(mobilenet.or(first_run_row).map(|r| self_curves(t, records, r, &run_of)));
        }
        Layout::DeKd => out.extend(first_run_row.map(|r| dekd_scatter(t, records, r, &run_of, metric))),
    }
    out.extend(verdicts(t));
    out.extend(reliability(records, metric));
    out.extend(confidence(records, metric));
    out.extend(teacher.map(|tc| kd_vs_lsr(tc, SoftSettings::of(records))));
    if t.layout == Layout::TfReg {
        out.extend(virtual_teacher_figure(SoftSettings::of(records).a));
    }
    out
}

/// The paper's figure `n` as read from its chart, if transcribed.
fn paper_figure(n: u32) -> Option<&'static tfkd_spec::paper::PaperFigure> {
    tfkd_spec::paper::data().ok()?.figure(n)
}

/// The paper's Fig. 3: its virtual teacher at τ = 20 on 10 classes (C6 correct) as the paper draws it, beside
/// the distribution the official code feeds the loss, `softmax(p^d/τ)` (docs/paper.md §3.4), and LSR's u(k).
fn virtual_teacher_figure(a: f64) -> Option<Figure> {
    let paper = paper_figure(3)?;
    let (k, tau, correct) = (10, 20.0, 5);
    let code = soft::virtual_teacher(a, tau, k);
    let per_class = |f: &dyn Fn(usize) -> f64| (0..k).map(|c| (c as f64, f(c), 0.0)).collect::<Vec<_>>();
    let drawn = |c: usize| {
        paper
            .series
            .iter()
            .filter(|s| s.name.starts_with("virtual teacher"))
            .find_map(|s| s.x.iter().position(|&x| x == (c + 1) as f64).map(|i| s.y[i]))
    };
    let mut fig = Figure::new(
        "fig3-virtual-teacher",
        format!("Fig. 3: the virtual teacher at τ = {tau} on {k} classes (a = {a}) against LSR's u(k)"),
        Kind::Bars,
        "class (C6 correct)",
        "probability",
    );
    fig.categories = (1..=k).map(|c| format!("C{c}")).collect();
    fig.series = vec![
        Series {
            name: "the paper's Fig. 3 (read from its chart, approximate)".into(),
            points: per_class(&|c| drawn(c).unwrap_or(f64::NAN)),
        },
        Series {
            name: format!("as the official code feeds it: softmax(p^d/τ), a = {a}, τ = {tau}"),
            points: per_class(&|c| if c == correct { code.true_class } else { code.other }),
        },
        Series { name: "LSR's u(k) = 1/K".into(), points: per_class(&|_| 1.0 / k as f64) },
    ];
    fig.caption = Some(format!(
        "The paper draws {:.3} on the correct class; the official code's softmax(p^d/τ) gives {:.4} there and {:.4} \
         elsewhere: at τ = {tau} the virtual teacher the code trains with is within {:.4} of LSR's u(k).",
        drawn(correct).unwrap_or(f64::NAN),
        code.true_class,
        code.other,
        code.true_class - 1.0 / k as f64
    ));
    Some(fig)
}

/// Tf-KD_self: test accuracy by epoch of row `r`'s baseline, Tf-KD_self and normal KD.
fn self_curves(
    t: &TableReport,
    records: &[RunRecord],
    r: usize,
    run_of: &dyn Fn(usize, &str) -> Option<String>,
) -> Figure {
    let series = [("baseline", "baseline"), ("tf_kd_self", "Tf-KD_self"), ("normal_kd", "normal KD")]
        .iter()
        .filter_map(|(col, name)| {
            Some(Series { name: format!("{} {name}", t.rows[r].label), points: curve(records, &run_of(r, col)?) })
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let mut fig = Figure {
        stem: "tf-kd-self".into(),
        title: format!("Tf-KD_self: test accuracy by epoch ({})", t.rows[r].label),
        kind: Kind::Lines,
        x_label: "fraction of the training schedule (epoch / epochs)".into(),
        y_label: "test accuracy (%), mean ± sd over seeds".into(),
        categories: Vec::new(),
        series,
        hlines: Vec::new(),
        log_x: false,
        diagonal: false,
        caption: None,
    };
    // On a fraction of the schedule, so a short profile's curves sit beside the paper's 200 epochs.
    let baseline = run_of(r, "baseline");
    let epochs =
        records.iter().find(|x| baseline.as_deref() == Some(x.config.id.as_str())).map(|x| x.config.train.epochs);
    for p in fig.series.iter_mut().flat_map(|s| &mut s.points) {
        p.0 /= f64::from(epochs.unwrap_or(1).max(1));
    }
    if let Some(paper) = paper_figure(4).filter(|_| t.rows[r].label == "MobileNetV2") {
        let total = f64::from(paper.epochs.unwrap_or(200));
        fig.title = format!("Fig. 4: {} test accuracy by epoch, Tf-KD_self vs normal KD vs baseline", t.rows[r].label);
        for s in &paper.series {
            fig.series.push(Series {
                name: format!("paper: {} (read from its chart)", s.name),
                points: s.x.iter().zip(&s.y).map(|(x, y)| (x / total, *y, 0.0)).collect(),
            });
        }
        fig.caption = Some(format!(
            "{} (the paper's values are approximate, on CIFAR100 over {total} epochs; ours on this profile's data and \
             schedule: compare the shapes, not the levels).",
            paper.caption
        ));
    }
    fig
}

/// De-KD: row `r`'s student taught by each teacher snapshot, against the snapshot's accuracy, one series per
/// teacher architecture; on the CIFAR-100 block, the paper's Fig. 2 beside it (MobileNetV2 taught by ResNet18
/// and ResNeXt29 snapshots, read from its chart).
fn dekd_scatter(
    t: &TableReport,
    records: &[RunRecord],
    r: usize,
    run_of: &dyn Fn(usize, &str) -> Option<String>,
    metric: Metric,
) -> Figure {
    let base_id = run_of(r, "student_baseline").unwrap_or_default();
    let arch = records.iter().find(|x| x.config.id == base_id).map(|x| x.config.model);
    let model = arch.map(|a| a.to_string()).unwrap_or_default();
    let students: Vec<&RunRecord> =
        records.iter().filter(|x| Some(x.config.model) == arch && x.teacher_test_acc.is_some()).collect();
    let teacher_model = |x: &RunRecord| {
        let id = x.config.teacher.clone().unwrap_or_default();
        records.iter().find(|q| q.config.id == id).map_or(id, |q| q.config.model.to_string())
    };
    let mut teachers: Vec<String> = students.iter().map(|x| teacher_model(x)).collect();
    teachers.sort();
    teachers.dedup();
    let mut series: Vec<Series> = teachers
        .iter()
        .map(|teacher| {
            let mut ids: Vec<&str> =
                students.iter().filter(|x| &teacher_model(x) == teacher).map(|x| x.config.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut points: Vec<(f64, f64, f64)> = ids
                .iter()
                .filter_map(|id| {
                    let runs: Vec<&&RunRecord> = students.iter().filter(|x| x.config.id == *id).collect();
                    let tx = Summary::of(
                        &runs.iter().filter_map(|x| x.teacher_test_acc.map(|a| 100.0 * a)).collect::<Vec<_>>(),
                    )?;
                    let sy = Summary::of(&runs.iter().filter_map(|x| metric.of(x)).collect::<Vec<_>>())?;
                    Some((tx.mean, sy.mean, sy.sd))
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series { name: format!("{model} taught by {teacher} snapshots"), points }
        })
        .collect();
    let mut fig = Figure {
        stem: "de-kd".into(),
        title: format!("De-KD: {model} student vs the accuracy of its teacher"),
        kind: Kind::Scatter,
        x_label: "teacher test accuracy (%) — teacher snapshots at several epochs".into(),
        y_label: y_label(metric),
        categories: Vec::new(),
        series: Vec::new(),
        hlines: cell_summary(t, r, "student_baseline")
            .map(|s| (format!("{model} baseline"), s.mean))
            .into_iter()
            .collect(),
        log_x: false,
        diagonal: false,
        caption: None,
    };
    if let Some(paper) = paper_figure(2).filter(|_| t.paper_dataset == "CIFAR-100" && model == "mobilenetv2") {
        fig.title = format!("Fig. 2: De-KD, {model} vs the accuracy of its poorly-trained teacher");
        for s in &paper.series {
            series.push(Series {
                name: format!("paper: {} (read from its chart)", s.name),
                points: s.x.iter().zip(&s.y).map(|(x, y)| (*x, *y, 0.0)).collect(),
            });
        }
        fig.hlines.extend(paper.baseline.map(|b| ("paper: MobileNetV2 baseline".to_string(), b)));
        fig.caption = Some(format!(
            "{} (the paper's points are approximate, on CIFAR100 after 200 epochs; ours on this profile's data and \
             schedule: compare the shapes, not the levels).",
            paper.caption
        ));
    }
    fig.series = series;
    fig
}

/// The virtual teacher's `a` and LSR's ε and spread as the target's runs used them (from their resolved
/// specs, in label order); the official values (a = 0.99, ε = 0.1 spread over the other classes) for what
/// the target has no run of.
#[derive(Debug, Clone, Copy)]
struct SoftSettings {
    a: f64,
    epsilon: f64,
    over_others: bool,
}

impl SoftSettings {
    fn of(records: &[RunRecord]) -> SoftSettings {
        let a = records.iter().find_map(|r| match r.config.method {
            tfkd_spec::Method::TfKdReg { correct_prob, .. } => Some(correct_prob),
            _ => None,
        });
        let lsr = records.iter().find_map(|r| match r.config.method {
            tfkd_spec::Method::Lsr { epsilon, spread } => Some((epsilon, spread == tfkd_spec::Spread::OverOthers)),
            _ => None,
        });
        let (epsilon, over_others) = lsr.unwrap_or((0.1, true));
        SoftSettings { a: a.unwrap_or(0.99), epsilon, over_others }
    }
}

/// KD → LSR as T grows: the trained teacher's soft targets and the virtual teacher's, against LSR's.
fn kd_vs_lsr(tc: &soft::TeacherCurve, set: SoftSettings) -> Figure {
    let k = tc.classes;
    let SoftSettings { a, epsilon, over_others } = set;
    let lsr = soft::lsr_target(epsilon, k, over_others).kl_to_uniform(k);
    let spread = if over_others { "official spread" } else { "paper Eq. 1 spread" };
    Figure {
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
                name: format!("virtual teacher softmax(p^d/T), a = {a}"),
                points: tc
                    .curve
                    .iter()
                    .map(|s| (s.temperature, soft::virtual_teacher(a, s.temperature, k).kl_to_uniform(k), 0.0))
                    .collect(),
            },
        ],
        hlines: vec![
            (format!("LSR target, ε = {epsilon} ({spread})"), lsr),
            (
                "Tf-KD_reg paper Eq. 9: student pulled to softmax(p^d)".into(),
                // Independent of T under Eq. 9 (the student at τ = 1 is pulled to softmax(p^d)).
                soft::reg_effective_target(a, 1.0, k, true).kl_to_uniform(k),
            ),
        ],
        log_x: true,
        diagonal: false,
        caption: None,
    }
}

/// How a method is called in figures.
#[must_use]
pub fn method_label(kind: &str) -> &str {
    match kind {
        "baseline" => "baseline",
        "lsr" => "LSR",
        "kd" => "KD",
        "re-kd" => "Re-KD",
        "de-kd" => "De-KD",
        "tf-kd-self" => "Tf-KD_self",
        "tf-kd-reg" => "Tf-KD_reg",
        other => other,
    }
}

/// The verdicts at a glance: for every claim of every row, our gain with its 95% interval (coloured by
/// verdict) and the paper's gain as a cross, rows grouped as in the paper's table.
fn verdicts(t: &TableReport) -> Option<Figure> {
    let claims: Vec<(String, &crate::table::ClaimReport)> = t
        .rows
        .iter()
        .flat_map(|row| row.claims.iter().map(move |c| (format!("{}: {}", row.label, c.claim), c)))
        .collect();
    let mut fig = verdict_figure(&t.title, &t.target, &t.profile, &claims)?;
    fig.caption = Some(format!(
        "Target {}, profile {}. A claim holds when its interval lies right of 0 (left: contradicted); underpowered: \
         the design could not have detected the paper's effect.",
        t.target, t.profile
    ));
    Some(fig)
}

/// The verdict figure of judged claims (label, claim): each one's A − B with its 95% interval, coloured by
/// verdict, and the paper's effect as a cross where there is one; `None` when no claim was judged. Shared by
/// the paper's tables and users' specs.
pub(crate) fn verdict_figure(
    title: &str,
    target: &str,
    profile: &str,
    claims: &[(String, &crate::table::ClaimReport)],
) -> Option<Figure> {
    let mut fig = Figure::new(
        "verdicts",
        format!("Verdicts per claim: {title}"),
        Kind::Intervals,
        "gain (accuracy points): ours, mean and 95% interval; × the paper's",
        "",
    );
    let mut groups: Vec<Series> = ["holds", "not significant", "underpowered", "contradicted"]
        .iter()
        .map(|k| Series { name: (*k).into(), points: Vec::new() })
        .collect();
    let mut paper = Vec::new();
    for (label, c) in claims {
        let (Some(v), Some(d)) = (c.verdict, c.diff) else { continue };
        let i = fig.categories.len() as f64;
        fig.categories.push(label.clone());
        let half = c.ci95.map_or(0.0, |(_, hi)| hi - d.mean);
        if let Some(g) = groups.iter_mut().find(|g| g.name == v.as_str()) {
            g.points.push((i, d.mean, half));
        }
        if let Some(p) = c.paper_effect {
            paper.push((i, p, 0.0));
        }
    }
    if fig.categories.is_empty() {
        return None;
    }
    fig.series = groups.into_iter().filter(|g| !g.points.is_empty()).collect();
    if !paper.is_empty() {
        fig.series.push(Series { name: crate::figure::PAPER_SERIES.into(), points: paper });
    }
    fig.caption = Some(format!(
        "Target {target}, profile {profile}. A claim holds when its interval of A − B lies right of 0 (left: \
         contradicted); underpowered: the design could not have detected the effect the claim expects."
    ));
    Some(fig)
}

/// Records with calibration at the epoch the metric takes, by (model, method).
fn calibrated(records: &[RunRecord], metric: Metric) -> Vec<(&RunRecord, &tfkd_analysis::calibration::Calibration)> {
    records.iter().filter_map(|r| Some((r, metric.calibration(r)?))).collect()
}

/// Reliability diagram of one model: accuracy against confidence per confidence bin, one line per method,
/// pooled over seeds, for the model with the most methods in the target.
pub(crate) fn reliability(records: &[RunRecord], metric: Metric) -> Option<Figure> {
    let runs = calibrated(records, metric);
    let mut models: Vec<(tfkd_spec::names::Arch, usize)> = Vec::new();
    for (r, _) in &runs {
        let methods: std::collections::BTreeSet<&str> = runs
            .iter()
            .filter(|(x, _)| x.config.model == r.config.model)
            .map(|(x, _)| x.config.method.name())
            .collect();
        if !models.iter().any(|m| m.0 == r.config.model) {
            models.push((r.config.model, methods.len()));
        }
    }
    let (model, _) = models.iter().copied().max_by_key(|m| m.1)?;
    let mut fig = Figure::new(
        "reliability",
        format!("Reliability of {model} by method (test set)"),
        Kind::Lines,
        "confidence (mean top-1 probability in the bin)",
        "accuracy in the bin",
    );
    fig.diagonal = true;
    for method in ["baseline", "lsr", "kd", "re-kd", "de-kd", "tf-kd-self", "tf-kd-reg"] {
        let cals: Vec<_> = runs
            .iter()
            .filter(|(r, _)| r.config.model == model && r.config.method.name() == method)
            .map(|(_, c)| *c)
            .collect();
        if cals.is_empty() {
            continue;
        }
        let bins = cals[0].bins.len();
        let points: Vec<(f64, f64, f64)> = (0..bins)
            .filter_map(|b| {
                let count: u64 = cals.iter().map(|c| c.bins[b].count).sum();
                (count > 0).then(|| {
                    let w = |f: &dyn Fn(&tfkd_analysis::calibration::Bin) -> f64| {
                        cals.iter().map(|c| f(&c.bins[b]) * c.bins[b].count as f64).sum::<f64>() / count as f64
                    };
                    (w(&|x| x.confidence), w(&|x| x.accuracy), 0.0)
                })
            })
            .collect();
        fig.series.push(Series { name: format!("{} ({} runs)", method_label(method), cals.len()), points });
    }
    fig.caption = Some(
        "Below the diagonal: overconfident. Label smoothing is reported to improve calibration (Müller et al., 2019); \
         KD students to inherit their teacher's confidence (Sultan, 2023)."
            .into(),
    );
    Some(fig)
}

/// Confidence against accuracy of every run of the target, by method.
pub(crate) fn confidence(records: &[RunRecord], metric: Metric) -> Option<Figure> {
    let runs = calibrated(records, metric);
    if runs.is_empty() {
        return None;
    }
    let mut fig = Figure::new(
        "confidence",
        "Confidence vs accuracy of every run (test set)".into(),
        Kind::Scatter,
        "mean top-1 confidence (%)",
        &y_label(metric),
    );
    fig.diagonal = false;
    for method in ["baseline", "lsr", "kd", "re-kd", "de-kd", "tf-kd-self", "tf-kd-reg"] {
        let points: Vec<(f64, f64, f64)> = runs
            .iter()
            .filter(|(r, _)| r.config.method.name() == method)
            .filter_map(|(r, c)| Some((100.0 * c.confidence, metric.of(r)?, 0.0)))
            .collect();
        if !points.is_empty() {
            fig.series.push(Series { name: method_label(method).into(), points });
        }
    }
    fig.caption = Some(
        "The paper: KD is a learned LSR. If so, KD and LSR should move confidence the same way; Sultan (2023) finds \
         KD raises it where LSR lowers it."
            .into(),
    );
    Some(fig)
}
