//! Which runs a selection keeps: the named runs and, transitively, the teachers they need.

/// The ids in `only` plus, transitively, their teachers; `teacher_of(id)` is `None` for an unknown id.
///
/// Errors with the first unknown id. Used by profiles' `only` and by `tfkd run --only`.
pub fn with_teachers<'a>(
    only: &[String],
    teacher_of: impl Fn(&str) -> Option<Option<&'a str>>,
) -> Result<Vec<String>, String> {
    let mut keep: Vec<String> = Vec::new();
    let mut todo: Vec<String> = only.to_vec();
    while let Some(id) = todo.pop() {
        let teacher = teacher_of(&id).ok_or_else(|| id.clone())?;
        todo.extend(teacher.map(str::to_string));
        keep.push(id);
    }
    Ok(keep)
}
