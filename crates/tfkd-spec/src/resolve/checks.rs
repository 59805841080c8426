//! The rules that span fields of a resolved spec, each reported with its path: data and training settings,
//! methods and teachers (named runs, snapshots, external weights), teacher cycles, and a spec's paper table
//! against its runs.

use tfkd_names::{Arch, SourceName};

use crate::{
    config::{DataConfig, TrainConfig},
    error::{SpecError, SpecErrors},
    schema::{DataPatch, ExternalTeacher, Method, Snapshot, TeacherRef, TrainPatch},
};

use super::{Checker, Resolved, Sweep, MAX_BATCH, MAX_LR, MAX_TEMPERATURE, MAX_THREADS, REQUIRED};

/// A snapshot must exist in the teacher's run: its epoch cannot exceed the teacher's epochs under this profile.
pub(super) fn check_snapshots(c: &mut Checker<'_>, resolved: &[Resolved<'_>], profile: &str) {
    for (entry, _, _, _, snapshot) in resolved {
        let Some(Snapshot::Epoch(e)) = snapshot else { continue };
        let teacher = resolved.iter().find(|r| Some(r.0.id.as_str()) == entry.teacher.as_ref().and_then(|t| t.run()));
        if let Some((t, t_train, ..)) = teacher {
            if *e > t_train.epochs {
                c.fail(
                    format!("runs[{}].teacher_snapshot.epoch", entry.id),
                    format!(
                        "{e} is beyond the {} epochs its teacher {} trains for in profile {profile}",
                        t_train.epochs, t.id
                    ),
                );
            }
        }
    }
}

/// The paper table's layout is given and its cells name columns of it and runs of the spec.
pub(super) fn check_paper(
    c: &mut Checker<'_>,
    table: &crate::PaperTable,
    sweeps: &[Sweep],
    all_ids: &[String],
) -> Result<(), SpecErrors> {
    let Some(layout) = table.layout else {
        return Err(SpecError::Invalid {
            file: c.file.into(),
            path: "paper.layout".into(),
            message: "is required: re-kd, de-kd, tf-self, tf-reg or tf-imagenet".into(),
        }
        .into());
    };
    for (i, row) in table.rows.iter().enumerate() {
        for (col, cell) in &row.cells {
            let at = format!("paper.rows[{i}].cells.{col}");
            if !layout.columns().contains(&col.as_str()) {
                c.fail(&at, format!("not a column of this layout; columns are {:?}", layout.columns()));
            }
            for id in cell.run.iter().chain(&cell.teacher_of) {
                if sweeps.iter().any(|s| &s.base == id) {
                    c.fail(&at, format!("'{id}' is swept into many runs; a cell names one of them"));
                } else if !all_ids.contains(id) {
                    c.fail(&at, format!("no run '{id}' in this spec"));
                }
            }
            if cell.run.is_some() && cell.teacher_of.is_some() {
                c.fail(&at, "give `run` or `teacher_of`, not both");
            }
        }
    }
    Ok(())
}

/// The class count whose N·K divides the official elementwise-mean KL when a profile substitutes a dataset
/// with another number of classes (`Some(K′)`, the paper's), so the per-example KD weight α·T²/K′ stays the
/// paper's; `None` without a substitution, when it is switched off (`dataset.keep_paper_kl_weight: false`) or
/// when a class count is not known in advance (ImageFolder).
pub(super) fn kl_classes(paper: Option<SourceName>, used: SourceName, keep: bool) -> Option<usize> {
    let (k_paper, k_used) = (paper?.classes()?, used.classes()?);
    (keep && k_paper != k_used).then_some(k_paper)
}

pub(super) fn resolve_data(c: &mut Checker<'_>, d: DataPatch) -> Option<DataConfig> {
    let missing = |c: &mut Checker<'_>, key: &str| c.fail(format!("dataset.{key}"), REQUIRED);
    let (Some(source), Some(augment), Some(normalize)) = (d.source, d.augment, d.normalize) else {
        for (key, absent) in
            [("source", d.source.is_none()), ("augment", d.augment.is_none()), ("normalize", d.normalize.is_none())]
        {
            if absent {
                missing(c, key);
            }
        }
        return None;
    };
    // Streamed (any-size) images take only the any-size transforms, and those need streamed images.
    if source.descriptor().streamed() != (augment == tfkd_names::AugmentPreset::Imagenet) {
        c.fail(
            "dataset.augment",
            format!(
                "source {source} with augment {augment}: ImageNet takes augment imagenet (RandomResizedCrop), \
                 and augment imagenet takes only source imagenet"
            ),
        );
    }
    if d.train_subset == Some(0) || d.test_subset == Some(0) {
        let key = if d.train_subset == Some(0) { "train_subset" } else { "test_subset" };
        c.fail(format!("dataset.{key}"), "must be >= 1 image (leave it out for the whole split)");
    }
    Some(DataConfig {
        source,
        path: d.path,
        val_size: d.val_size.unwrap_or(0),
        train_subset: d.train_subset,
        test_subset: d.test_subset,
        augment,
        augment_off: d.augment_off.unwrap_or_default(),
        interpolation: d.interpolation.unwrap_or_default(),
        normalize,
        image_size: d.image_size,
        prefetch: d.prefetch.unwrap_or(2),
    })
}

pub(super) fn resolve_train(c: &mut Checker<'_>, t: TrainPatch, at: &str) -> TrainConfig {
    let p = |k: &str| format!("{at}.train.{k}");
    let train = TrainConfig {
        epochs: c.require(t.epochs, &p("epochs")),
        batch_size: c.require(t.batch_size, &p("batch_size")),
        lr: c.require(t.lr, &p("lr")),
        lr_batch_scaling: c.require(t.lr_batch_scaling, &p("lr_batch_scaling")),
        momentum: c.require(t.momentum, &p("momentum")),
        weight_decay: c.require(t.weight_decay, &p("weight_decay")),
        nesterov: t.nesterov.unwrap_or(false),
        warmup_epochs: t.warmup_epochs.unwrap_or(0),
        milestones: t.milestones.unwrap_or_default(),
        gamma: t.gamma.unwrap_or(1.0),
        threads: t.threads.unwrap_or(0),
        precision: t.precision.unwrap_or_default(),
        array: t.array.unwrap_or_default(),
        numerics: t.numerics.unwrap_or_default(),
    };
    if train.epochs == 0 {
        c.fail(p("epochs"), "must be >= 1");
    }
    if train.batch_size == 0 {
        c.fail(p("batch_size"), "must be >= 1");
    }
    c.range(train.lr > 0.0 && train.lr.is_finite(), &p("lr"), train.lr, "must be > 0");
    c.range(
        train.lr <= MAX_LR,
        &p("lr"),
        train.lr,
        &format!("is too large: at most {MAX_LR} (the official recipe uses 0.1; such a rate turns the loss into NaN at once)"),
    );
    if train.lr <= MAX_LR && train.base_lr() > MAX_LR {
        c.fail(
            p("lr"),
            format!(
                "{} becomes {} at batch {} (lr_batch_scaling: lr × batch/128), above the largest usable {MAX_LR}",
                train.lr,
                train.base_lr(),
                train.batch_size
            ),
        );
    }
    if train.threads > MAX_THREADS {
        c.fail(
            p("threads"),
            format!("{} libtorch threads is more than {MAX_THREADS} (0 takes the machine's cores)", train.threads),
        );
    }
    if train.batch_size > MAX_BATCH {
        c.fail(p("batch_size"), format!("{} is more than {MAX_BATCH} images in one step", train.batch_size));
    }
    c.range((0.0..1.0).contains(&train.momentum), &p("momentum"), train.momentum, "must lie in [0, 1)");
    c.range(train.weight_decay >= 0.0, &p("weight_decay"), train.weight_decay, "must be >= 0");
    c.range(train.gamma > 0.0 && train.gamma <= 1.0, &p("gamma"), train.gamma, "must lie in (0, 1]");
    if train.warmup_epochs >= train.epochs && train.epochs > 0 && train.warmup_epochs > 0 {
        c.fail(
            p("warmup_epochs"),
            format!("{} warm-up epochs leave no training in {} epochs", train.warmup_epochs, train.epochs),
        );
    }
    if train.milestones.iter().any(|m| !(*m > 0.0 && *m <= 1.0)) || train.milestones.windows(2).any(|w| w[0] >= w[1]) {
        c.fail(p("milestones"), format!("{:?} must be increasing fractions in (0, 1]", train.milestones));
    }
    train
}

pub(super) fn check_method(c: &mut Checker<'_>, m: &Method, at: &str) {
    let p = |k: &str| format!("{at}.method.{k}");
    let (alpha, temperature) = match *m {
        Method::Baseline {} => (None, None),
        Method::Kd { alpha, temperature, .. }
        | Method::ReKd { alpha, temperature, .. }
        | Method::DeKd { alpha, temperature, .. } => (Some(alpha), Some(temperature)),
        Method::Lsr { epsilon, .. } => {
            c.range((0.0..=1.0).contains(&epsilon), &p("epsilon"), epsilon, "must lie in [0, 1]");
            (None, None)
        }
        Method::TfKdSelf { alpha, temperature, multiplier, .. } => {
            c.range(multiplier >= 0.0 && multiplier.is_finite(), &p("multiplier"), multiplier, "must be >= 0");
            (Some(alpha), Some(temperature))
        }
        Method::TfKdReg { alpha, temperature, correct_prob, multiplier, .. } => {
            c.range(multiplier >= 0.0 && multiplier.is_finite(), &p("multiplier"), multiplier, "must be >= 0");
            c.range((0.0..=1.0).contains(&correct_prob), &p("correct_prob"), correct_prob, "must lie in [0, 1]");
            (Some(alpha), Some(temperature))
        }
    };
    if let Some(a) = alpha {
        c.range((0.0..=1.0).contains(&a), &p("alpha"), a, "must lie in [0, 1]");
    }
    if let Some(t) = temperature {
        c.range(t > 0.0 && t.is_finite(), &p("temperature"), t, "must be > 0");
        c.range(
            t <= MAX_TEMPERATURE,
            &p("temperature"),
            t,
            "is too large: above 1000 softmax(z/T) is uniform in float precision",
        );
    }
}

pub(super) fn check_teacher(
    c: &mut Checker<'_>,
    entry: &crate::schema::RunEntry,
    entries: &[crate::schema::RunEntry],
    method: &Method,
    snapshot: Option<Snapshot>,
    at: &str,
) {
    let self_needs_same = |c: &mut Checker<'_>, teacher: Arch| {
        if matches!(method, Method::TfKdSelf { .. }) && teacher != entry.model {
            c.fail(
                format!("{at}.teacher"),
                format!("Tf-KD_self needs a teacher of the same model ({}), got {teacher}", entry.model),
            );
        }
    };
    match (&entry.teacher, method.needs_teacher()) {
        (None, true) => c.fail(format!("{at}.teacher"), format!("method {} needs a teacher run", method.name())),
        (Some(_), false) => c.fail(format!("{at}.teacher"), format!("method {} takes no teacher", method.name())),
        (Some(TeacherRef::Weights(w)), true) => {
            self_needs_same(c, w.model);
            check_external(c, w, snapshot, at);
        }
        (Some(TeacherRef::Run(t)), true) => match entries.iter().find(|e| &e.id == t) {
            None => c.fail(format!("{at}.teacher"), format!("no run '{t}' in this spec")),
            Some(teacher) => self_needs_same(c, teacher.model),
        },
        (None, false) => {}
    }
    match snapshot {
        Some(_) if entry.teacher.is_none() => {
            c.fail(format!("{at}.teacher_snapshot"), "only runs with a teacher can choose its snapshot")
        }
        Some(Snapshot::Epoch(0)) => c.fail(format!("{at}.teacher_snapshot.epoch"), "epochs count from 1"),
        Some(Snapshot::Accuracy(a)) if !(0.0..=1.0).contains(&a) => {
            c.fail(format!("{at}.teacher_snapshot.accuracy"), format!("{a} must lie in [0, 1]"))
        }
        _ => {}
    }
}

/// External teacher weights: a file name (or path) and, when given, a sha256 of 64 hex digits; no snapshot
/// (the file is the one checkpoint there is).
pub(super) fn check_external(c: &mut Checker<'_>, w: &ExternalTeacher, snapshot: Option<Snapshot>, at: &str) {
    if w.weights.trim().is_empty() || w.file_name().is_empty() {
        c.fail(format!("{at}.teacher.weights"), "must name a weights file");
    }
    match &w.sha256 {
        Some(sha) if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            c.fail(format!("{at}.teacher.sha256"), format!("'{sha}' is not a sha256 (64 lowercase hex digits)"));
        }
        // The run id must pin the file's content: by the spec's digest or by torchvision's digits in the name.
        None if w.name_digits().is_none() => c.fail(
            format!("{at}.teacher.sha256"),
            format!(
                "{} has no torchvision-style digits (`<name>-<8 hex digits of its sha256>.pth`): give its sha256",
                w.file_name()
            ),
        ),
        _ => {}
    }
    if !w.model.is_imagenet() {
        c.fail(
            format!("{at}.teacher.model"),
            format!("{} is not a torchvision model; teachers from a weights file are torchvision.*", w.model),
        );
    }
    if snapshot.is_some() {
        c.fail(format!("{at}.teacher_snapshot"), "a teacher given by its weights file has no snapshots to choose");
    }
}

pub(super) fn check_cycles(c: &mut Checker<'_>, entries: &[crate::schema::RunEntry]) {
    for e in entries {
        let mut cur = e;
        let mut steps = 0;
        while let Some(t) = cur.teacher.as_ref().and_then(|t| t.run()) {
            let Some(next) = entries.iter().find(|x| x.id == t) else { break };
            steps += 1;
            if next.id == e.id || steps > entries.len() {
                c.fail(
                    format!("runs[{}].teacher", e.id),
                    "teacher chain runs into a cycle: no run can (indirectly) teach itself",
                );
                break;
            }
            cur = next;
        }
    }
}

/// Fills the paper numbers of a table that names one (`paper.table`, [`crate::paper::fill`]) and settles its
/// claims: the layout's where the spec declares none ([`crate::layout::Layout::claims`]), each checked against
/// the layout's columns ([`crate::claims::settle`]).
pub(super) fn fill_paper(c: &mut Checker<'_>, table: &mut crate::PaperTable) {
    let numbers = match crate::paper::data() {
        Ok(data) => crate::paper::fill(table, data),
        Err(e) if table.table.is_some() => vec![("paper.table".into(), e.to_string())],
        Err(_) => Vec::new(),
    };
    let claims = match table.layout {
        Some(layout) => {
            if table.claims.is_empty() {
                table.claims = layout.claims();
            }
            crate::claims::settle("paper.claims", layout.columns(), &mut table.claims)
        }
        None => Vec::new(),
    };
    for (path, message) in numbers.into_iter().chain(claims) {
        c.fail(path, message);
    }
}
