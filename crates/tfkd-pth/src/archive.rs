//! The zip format (torch >= 1.6): `<prefix>/data.pkl`, `<prefix>/data/<key>` storages, `<prefix>/byteorder`,
//! `<prefix>/version`, under one top folder whose name varies (`archive`, or the saved file's stem).

use std::{
    collections::HashMap,
    io::{Cursor, Read},
    path::Path,
};

use zip::ZipArchive;

use crate::{
    pickle::{value::Value, vm},
    source::Source,
    FormatProblem, PthError,
};

/// What a zip-format file holds: its object, its storages, and whether they are big-endian.
pub(crate) struct Opened<'a> {
    /// The unpickled `data.pkl`.
    pub object: Value,
    /// The storages.
    pub source: Source<'a>,
    /// `byteorder` says `big`.
    pub big_endian: bool,
}

/// Opens the zip-format file whose bytes are `file`.
pub(crate) fn open<'a>(path: &Path, file: &'a [u8]) -> Result<Opened<'a>, PthError> {
    let zip_err = |source| PthError::Zip { path: path.to_path_buf(), source };
    let format = |source| PthError::Format { path: path.to_path_buf(), source };
    let mut archive = ZipArchive::new(Cursor::new(file)).map_err(zip_err)?;
    let prefix = prefix(&mut archive).map_err(|e| match e {
        Ok(problem) => format(problem),
        Err(z) => zip_err(z),
    })?;
    let big_endian = match read_small(&mut archive, &format!("{prefix}/byteorder")).map_err(zip_err)? {
        None => false,
        Some(b) if b == b"little" => false,
        Some(b) if b == b"big" => true,
        Some(b) => return Err(format(FormatProblem::ByteOrder(String::from_utf8_lossy(&b).into_owned()))),
    };
    let part = format!("{prefix}/data.pkl");
    let pkl = read_small(&mut archive, &part)
        .map_err(zip_err)?
        .ok_or_else(|| format(FormatProblem::NoDataPkl { entries: first_names(&mut archive) }))?;
    let object = vm::load(&pkl, 0).map_err(|source| PthError::Pickle { path: path.to_path_buf(), part, source })?.value;
    let source = Source::Zip { file, archive, prefix, cache: HashMap::new(), inflated: HashMap::new() };
    Ok(Opened { object, source, big_endian })
}

/// The single top folder every entry lives under.
fn prefix(archive: &mut ZipArchive<Cursor<&[u8]>>) -> Result<String, Result<FormatProblem, zip::result::ZipError>> {
    let mut first: Option<String> = None;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(Err)?;
        let name = entry.name();
        let top = match name.split_once('/') {
            Some((top, rest)) if !rest.is_empty() => top,
            Some((top, _)) if entry.is_dir() => top, // `archive/`, as some zip tools add
            _ => return Err(Ok(FormatProblem::NoDataPkl { entries: name.to_string() })),
        };
        match &first {
            None => first = Some(top.to_string()),
            Some(f) if f == top => {}
            Some(f) => return Err(Ok(FormatProblem::MixedPrefixes { first: f.clone(), other: name.to_string() })),
        }
    }
    first.ok_or(Ok(FormatProblem::NoDataPkl { entries: "none".into() }))
}

/// A record's whole content, or `None` if the archive has no such record.
fn read_small(archive: &mut ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Option<Vec<u8>>, zip::result::ZipError> {
    let mut entry = match archive.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut data = Vec::new();
    entry.read_to_end(&mut data)?;
    Ok(Some(data))
}

fn first_names(archive: &mut ZipArchive<Cursor<&[u8]>>) -> String {
    let names: Vec<String> =
        (0..archive.len().min(5)).filter_map(|i| archive.by_index_raw(i).ok().map(|e| e.name().to_string())).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
