//! The table as Markdown (README-ready), CSV (polars) and LaTeX.

use polars::prelude::*;

use crate::{
    record::Metric,
    table::{header, CellReport, TableReport},
    ReportError,
};

/// The verdict rule, stated in every report.
pub const VERDICT_RULE: &str = "Verdicts pair runs by seed and take the 95% Student-t interval of the mean difference: \
a claim A > B *holds* when the interval lies above 0, is *contradicted* when it lies below 0, and is *not significant* \
otherwise or with fewer than 2 seeds; |A − B| ≤ m holds when the interval lies inside [−m, m] and is contradicted when it lies outside.";

fn signed(x: f64) -> String {
    format!("{}{x:.2}", if x >= 0.0 { "+" } else { "" })
}

fn ours(c: &CellReport) -> String {
    match c.ours {
        None => "not run".into(),
        Some(s) => {
            let sd = if s.n > 1 { format!(" ± {:.2}", s.sd) } else { String::new() };
            let gain = c.gain.map_or(String::new(), |g| format!(" ({})", signed(g.mean)));
            format!("**{:.2}{sd}**{gain} n={}", s.mean, s.n)
        }
    }
}

fn paper(c: &CellReport, retrieved: bool) -> String {
    let note = c.note.as_ref().map_or(String::new(), |n| format!(" [{n}]"));
    match &c.paper {
        Some(p) => format!("{}{}{note}", p.text, c.paper_gain.map_or(String::new(), |g| format!(" ({})", signed(g)))),
        None if retrieved => format!("—{note}"),
        None => "not retrieved".into(),
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
        "Ours: {}, mean ± sample sd over n seeds; in parentheses the gain over the reference column, paired by seed. \
         Paper: the paper's numbers as printed ({}); in parentheses the gain computed from them.\n\n",
        metric.describe(),
        t.paper_source
    );
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
                        out += &format!(" **{}** (Δ {}, CI [{lo:.2}, {hi:.2}]) |", v.as_str(), signed(d.mean))
                    }
                    (Some(v), Some(d), None) => {
                        out += &format!(" **{}** (Δ {}, n={}) |", v.as_str(), signed(d.mean), d.n)
                    }
                    _ => out += " not run |",
                },
                None => out += " |",
            }
        }
        out += "\n";
    }
    out += &format!("\n{VERDICT_RULE}\n");
    for n in &t.notes {
        out += &format!("\n- {n}");
    }
    if !t.notes.is_empty() {
        out += "\n";
    }
    out
}

/// CSV in long form: one line per cell, with ours, the paper's value, gains and the row's verdicts.
pub fn csv(t: &TableReport) -> Result<String, ReportError> {
    let mut row_l = Vec::new();
    let mut col = Vec::new();
    let (mut mean, mut sd, mut n, mut gain) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut paper_text, mut paper_mean, mut paper_gain) = (Vec::new(), Vec::new(), Vec::new());
    for r in &t.rows {
        for c in &r.cells {
            row_l.push(r.label.clone());
            col.push(c.column.clone());
            mean.push(c.ours.map(|s| s.mean));
            sd.push(c.ours.filter(|s| s.n > 1).map(|s| s.sd));
            n.push(c.ours.map_or(0, |s| s.n as u32));
            gain.push(c.gain.map(|g| g.mean));
            paper_text.push(c.paper.as_ref().map(|p| p.text.clone()));
            paper_mean.push(c.paper.as_ref().map(|p| p.mean));
            paper_gain.push(c.paper_gain);
        }
    }
    let mut df = df!(
        "row" => row_l, "column" => col, "ours_mean" => mean, "ours_sd" => sd, "seeds" => n, "ours_gain" => gain,
        "paper" => paper_text, "paper_mean" => paper_mean, "paper_gain" => paper_gain
    )?;
    let mut buf = Vec::new();
    CsvWriter::new(&mut buf).include_header(true).with_float_precision(Some(4)).finish(&mut df)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
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
