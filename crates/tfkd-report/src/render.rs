//! The table as Markdown (README-ready), CSV (polars) and LaTeX.

use polars::prelude::*;

use crate::{
    aggregate::Aggregate,
    record::Metric,
    table::{header, CellReport, TableReport},
    ReportError,
};

/// The verdict rule, stated in every report.
pub const VERDICT_RULE: &str = "Verdicts pair runs by seed and take the 95% Student-t interval of the mean difference: \
a claim A > B *holds* when the interval lies above 0, is *contradicted* when it lies below 0, and is *not significant* \
otherwise or with fewer than 2 seeds; |A − B| ≤ m holds when the interval lies inside [−m, m] and is contradicted when it lies outside. \
MDE is the minimum detectable effect: the true difference a two-sided paired t-test (α 0.05) would detect with 80% power, \
given the seeds and the observed spread; a not-significant claim whose MDE exceeds the paper's effect is *underpowered*: \
the design could not have seen the paper's effect, so it says nothing about the claim.";

fn signed(x: f64) -> String {
    format!("{}{x:.2}", if x >= 0.0 { "+" } else { "" })
}

/// A soft-target weight with three significant digits (17.1, 3.80, 0.100, 0.0475).
#[must_use]
pub fn weight(w: f64) -> String {
    let digits = if w == 0.0 { 0 } else { (2 - w.abs().log10().floor() as i32).max(0) as usize };
    format!("{w:.digits$}")
}

/// The definition of w, stated under every table that prints it.
pub const WEIGHT_RULE: &str = "w: the per-example weight the loss puts on its soft target, as the loss applies it — \
α·T²·multiplier/K′ for KD, Re-KD, De-KD and Tf-KD_self (multiplier 1 except for Tf-KD_self), α·multiplier/K′ for \
Tf-KD_reg (no T²: its temperature softens only the virtual teacher), where K′ is the class count the official \
elementwise-mean KL divides by (the paper's classes under a substitution); ε for LSR. The hard label keeps 1 − α \
(1 − ε for LSR). w is the soft term's weight, not its pull: at temperature T the KL's gradient on the logits is \
1/T of its weight times the gap between the softened distributions, so a w above 1 does not by itself let the soft \
target outweigh the label.";

fn ours(c: &CellReport) -> String {
    match c.ours {
        None => "not run".into(),
        Some(s) => {
            let sd = if s.n > 1 { format!(" ± {:.2}", s.sd) } else { String::new() };
            let gain = c.gain.map_or(String::new(), |g| format!(" ({})", signed(g.mean)));
            let w = c.soft_weight.map_or(String::new(), |w| format!(", w={}", weight(w)));
            format!("**{:.2}{sd}**{gain} n={}{w}", s.mean, s.n)
        }
    }
}

fn paper(c: &CellReport, retrieved: bool) -> String {
    let notes: Vec<&str> = c.paper.iter().filter_map(|p| p.note.as_deref()).chain(c.note.as_deref()).collect();
    let note = if notes.is_empty() { String::new() } else { format!(" [{}]", notes.join("; ")) };
    match &c.paper {
        Some(p) => {
            // A printed gain is shown as printed; where the paper's own arithmetic differs, both.
            let extra = match (p.gain, c.paper_gain_arithmetic) {
                (Some(g), Some(a)) if (g - a).abs() > 0.005 => format!(" (printed; arithmetic {})", signed(a)),
                (None, Some(a)) => format!(" ({})", signed(a)),
                _ => String::new(),
            };
            format!("{}{extra}{note}", p.value_text())
        }
        None if retrieved => format!("—{note}"),
        None => "not retrieved".into(),
    }
}

/// How many runs stand behind the paper's cells, in words.
#[must_use]
pub fn paper_runs(runs: Option<u32>, basis: Option<&str>) -> String {
    let basis = basis.filter(|b| *b != "stated").map_or(String::new(), |b| format!(" ({b})"));
    match runs {
        Some(1) => format!("a single run per cell{basis}"),
        Some(n) => format!("mean ± sd over {n} runs{basis}"),
        None => "runs per cell not stated (no ± printed)".into(),
    }
}

/// Markdown: a header that says what was run and how to read it, then the table, then claims.
#[must_use]
pub fn markdown(t: &TableReport, metric: Metric) -> String {
    let mut out = format!("# {}\n\n", t.title);
    out += &format!("Target `{}`, profile `{}`: {}\n\n", t.target, t.profile, t.profile_description);
    if let Some(sub) = &t.substitution {
        out += &format!("**Dataset substituted: {sub}.** The paper's table is on {}; these runs are not, so compare gains and verdicts, not absolute accuracies.\n\n", t.paper_dataset);
    }
    out += &format!(
        "Ours: {}, mean ± sample sd over n seeds; in parentheses the gain over the reference column, paired by seed; w: \
         the per-example soft-target weight (below). Paper: the paper's numbers as printed ({}; {}); in parentheses \
         its gain as printed, and where its own arithmetic gives another, both.\n\n",
        metric.describe(),
        t.paper_source,
        paper_runs(t.paper_runs, t.paper_runs_basis.as_deref())
    );
    let dropped: Vec<&str> =
        t.rows.iter().filter(|r| r.claims.iter().all(|c| c.verdict.is_none())).map(|r| r.label.as_str()).collect();
    if !dropped.is_empty() {
        out += &format!(
            "This profile runs {} of the table's {} rows; not run here: {}.\n\n",
            t.rows.len() - dropped.len(),
            t.rows.len(),
            dropped.join("; ")
        );
    }
    // A verdict against a single-run paper cell says so.
    let single = if t.paper_runs == Some(1) { ", paper: 1 run" } else { "" };
    let columns: Vec<String> =
        t.rows.first().map(|r| r.cells.iter().map(|c| c.column.clone()).collect()).unwrap_or_default();
    let claim_names: Vec<String> =
        t.rows.iter().flat_map(|r| r.claims.iter().map(|c| c.claim.clone())).fold(Vec::new(), |mut v, c| {
            if !v.contains(&c) {
                v.push(c);
            }
            v
        });
    out += "| Row |";
    for c in &columns {
        out += &format!(" {} (ours) | {} (paper) |", header(c), header(c));
    }
    for c in &claim_names {
        out += &format!(" {c} |");
    }
    out += "\n|---|";
    out += &"---|".repeat(columns.len() * 2 + claim_names.len());
    out += "\n";
    for row in &t.rows {
        out += &format!("| {} |", row.label);
        for col in &columns {
            match row.cells.iter().find(|c| &c.column == col) {
                Some(c) => out += &format!(" {} | {} |", ours(c), paper(c, t.paper_numbers)),
                None => out += " | |",
            }
        }
        for name in &claim_names {
            match row.claims.iter().find(|c| &c.claim == name) {
                Some(c) => match (c.verdict, c.diff, c.ci95) {
                    (Some(v), Some(d), Some((lo, hi))) => {
                        let mde = c.mde.map_or(String::new(), |m| format!(", MDE {m:.2}"));
                        let d = signed(d.mean);
                        out += &format!(" **{}** (Δ {d}, CI [{lo:.2}, {hi:.2}]{mde}{single}) |", v.describe());
                    }
                    (Some(v), Some(d), None) => {
                        out += &format!(" **{}** (Δ {}, n={}{single}) |", v.describe(), signed(d.mean), d.n)
                    }
                    _ => out += " not run |",
                },
                None => out += " |",
            }
        }
        out += "\n";
    }
    out += &format!("\n{VERDICT_RULE}\n\n{WEIGHT_RULE}\n");
    out += &calibration_markdown(t);
    for n in &t.notes {
        out += &format!("\n- {n}");
    }
    if !t.notes.is_empty() {
        out += "\n";
    }
    out
}

/// The calibration table: what each entry's models believe, at the epoch its accuracy is taken from.
fn calibration_markdown(t: &TableReport) -> String {
    if t.calibration.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Calibration and confidence\n\nTest set, at the epoch each accuracy above is taken from; mean ± sample sd over \
         seeds. ECE: expected calibration error over 15 equal-width confidence bins; confidence: mean top-1 probability; \
         entropy of the predictive distribution in nats; agreement and KL(teacher ‖ student) with the run's teacher at \
         temperature 1. Label smoothing is reported to lower confidence and improve calibration (Müller et al., 2019); KD \
         students to inherit their teacher's confidence (Sultan, 2023).\n\n\
         | Entry | Model | Method | Soft weight w | Accuracy (%) | NLL | ECE (%) | Confidence (%) | Entropy | Agreement (%) | KL to teacher |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in &t.calibration {
        out += &format!(
            "| {} | {} | {} | {} |",
            row.id,
            row.model,
            row.method,
            row.soft_weight.map_or_else(|| "—".to_string(), weight)
        );
        for (i, m) in row.measures.iter().enumerate() {
            let digits = if matches!(i, 1 | 4 | 6) { 3 } else { 2 };
            out += &match m {
                Some(m) if m.n > 1 => format!(" {:.digits$} ± {:.digits$} |", m.mean, m.sd),
                Some(m) => format!(" {:.digits$} |", m.mean),
                None if i >= 5 && !matches!(row.method.as_str(), "kd" | "re-kd" | "de-kd" | "tf-kd-self") => {
                    " — |".into()
                }
                None => " not recorded |".into(),
            };
        }
        out += "\n";
    }
    out
}

/// CSV in long form: one line per cell with ours, the paper's value and gains, joined (polars) with the
/// calibration means of the cell's entry.
pub fn csv(t: &TableReport, agg: &Aggregate) -> Result<String, ReportError> {
    let mut row_l = Vec::new();
    let mut col = Vec::new();
    let mut ids: Vec<Option<String>> = Vec::new();
    let (mut mean, mut sd, mut n, mut gain) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut paper_text, mut paper_mean, mut paper_gain) = (Vec::new(), Vec::new(), Vec::new());
    let mut soft_weight = Vec::new();
    for r in &t.rows {
        for c in &r.cells {
            row_l.push(r.label.clone());
            col.push(c.column.clone());
            ids.push(c.run.clone());
            mean.push(c.ours.map(|s| s.mean));
            sd.push(c.ours.filter(|s| s.n > 1).map(|s| s.sd));
            n.push(c.ours.map_or(0, |s| s.n as u32));
            gain.push(c.gain.map(|g| g.mean));
            paper_text.push(c.paper.as_ref().map(|p| p.text.clone()));
            paper_mean.push(c.paper.as_ref().and_then(|p| p.mean));
            paper_gain.push(c.paper_gain);
            soft_weight.push(c.soft_weight);
        }
    }
    let order: Vec<u32> = (0..row_l.len() as u32).collect();
    let cells = df!(
        "cell" => order, "row" => row_l, "column" => col, "id" => ids, "ours_mean" => mean, "ours_sd" => sd, "seeds" => n,
        "ours_gain" => gain, "soft_weight" => soft_weight, "paper" => paper_text, "paper_mean" => paper_mean,
        "paper_gain" => paper_gain
    )?;
    let calibration =
        agg.entries.select(["id", "ece_mean", "confidence_mean", "entropy_mean", "teacher_agreement_mean"])?;
    let df = cells
        .join(&calibration, ["id"], ["id"], JoinArgs::new(JoinType::Left), None)?
        .sort(["cell"], SortMultipleOptions::default())?
        .drop("cell")?;
    crate::csv::frame(&df)
}

fn tex_escape(s: &str) -> String {
    s.replace('\\', "\\textbackslash{}")
        .replace('_', "\\_")
        .replace('%', "\\%")
        .replace('&', "\\&")
        .replace('#', "\\#")
        .replace('→', "$\\to$")
        .replace('↔', "$\\leftrightarrow$")
        .replace('±', "$\\pm$")
}

/// LaTeX tabular (booktabs): ours over the paper's value in each cell.
#[must_use]
pub fn tex(t: &TableReport) -> String {
    let columns: Vec<String> =
        t.rows.first().map(|r| r.cells.iter().map(|c| c.column.clone()).collect()).unwrap_or_default();
    let mut out = format!(
        "% {} — target {}, profile {}{}\n",
        t.title,
        t.target,
        t.profile,
        t.substitution.as_ref().map_or(String::new(), |s| format!(", dataset substituted: {s}"))
    );
    out += &format!("\\begin{{tabular}}{{l{}}}\n\\toprule\n", "c".repeat(columns.len()));
    out += "Row";
    for c in &columns {
        out += &format!(" & {}", tex_escape(header(c)));
    }
    out += " \\\\\n\\midrule\n";
    for r in &t.rows {
        let cell = |c: &CellReport| {
            let o = c.ours.map_or("--".to_string(), |s| {
                if s.n > 1 {
                    format!("{:.2}$\\pm${:.2}", s.mean, s.sd)
                } else {
                    format!("{:.2}", s.mean)
                }
            });
            let p = c
                .paper
                .as_ref()
                .map_or(if t.paper_numbers { "--".into() } else { "n/r".into() }, |p| tex_escape(&p.text));
            format!("\\shortstack{{{o}\\\\ \\footnotesize paper {p}}}")
        };
        out += &tex_escape(&r.label);
        for col in &columns {
            out += &format!(" & {}", r.cells.iter().find(|c| &c.column == col).map_or(String::new(), cell));
        }
        out += " \\\\\n";
    }
    out += "\\bottomrule\n\\end{tabular}\n";
    out
}
