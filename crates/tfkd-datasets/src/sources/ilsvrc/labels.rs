//! The label files of Kaggle's ImageNet download: `LOC_val_solution.csv` (the validation labels) and
//! `LOC_synset_mapping.txt` (what each wnid is).

use std::{collections::BTreeMap, path::Path};

use crate::error::{io, DataError, Result};

/// The header line of Kaggle's `LOC_val_solution.csv`.
const SOLUTION_HEADER: &str = "ImageId,PredictionString";

/// The lines of a text file with the byte offset each starts at (a UTF-8 BOM and `\r` endings are accepted).
fn lines(text: &str) -> impl Iterator<Item = (usize, u64, &str)> {
    let mut offset = 0u64;
    text.split_inclusive('\n').enumerate().map(move |(n, raw)| {
        let at = offset;
        offset += raw.len() as u64;
        (n + 1, at, raw.trim_start_matches('\u{feff}').trim_end_matches(['\n', '\r']))
    })
}

/// Reads `LOC_val_solution.csv`: the header `ImageId,PredictionString`, then one line per validation image,
/// `ILSVRC2012_val_00000001,n01751748 13 22 487 340 …` — the image's file stem, then boxes as
/// `wnid x0 y0 x1 y1` repeated, all of the image's one class. Returns stem → wnid (the first token).
pub(super) fn read_solution(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let corrupt = |offset: u64, detail: String| DataError::Corrupt {
        path: path.to_path_buf(),
        what: "LOC_val_solution.csv (Kaggle's ImageNet validation labels)",
        offset,
        detail,
    };
    let mut out = BTreeMap::new();
    for (n, at, line) in lines(&text) {
        if n == 1 {
            if line.trim() != SOLUTION_HEADER {
                return Err(corrupt(at, format!("the first line is {line:?}, not the header {SOLUTION_HEADER:?}")));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let Some((id, prediction)) = line.split_once(',') else {
            return Err(corrupt(at, format!("line {n} has no comma: {line:?}")));
        };
        let id = id.trim();
        let Some(wnid) = prediction.split_whitespace().next().filter(|_| !id.is_empty()) else {
            return Err(corrupt(at, format!("line {n} lacks an image id or a wnid: {line:?}")));
        };
        if let Some(other) = out.insert(id.to_string(), wnid.to_string()) {
            return Err(corrupt(at, format!("line {n} lists {id} again (first as {other}, now as {wnid})")));
        }
    }
    if out.is_empty() {
        return Err(corrupt(0, "it lists no images".into()));
    }
    Ok(out)
}

/// Reads `LOC_synset_mapping.txt`: lines `n01440764 tench, Tinca tinca` (wnid, space, description).
/// Returns wnid → description.
pub(super) fn read_mapping(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut out = BTreeMap::new();
    for (n, at, line) in lines(&text) {
        if line.trim().is_empty() {
            continue;
        }
        let (wnid, description) = line.split_once(' ').unwrap_or((line, ""));
        if wnid.is_empty() || wnid.contains(char::is_whitespace) || out.contains_key(wnid) {
            return Err(DataError::Corrupt {
                path: path.to_path_buf(),
                what: "LOC_synset_mapping.txt",
                offset: at,
                detail: format!("line {n} is not `<wnid> <description>` with a wnid not seen before: {line:?}"),
            });
        }
        out.insert(wnid.to_string(), description.trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn solution_takes_the_first_token_and_rejects_bad_lines() {
        let (_d, p) = file(
            "\u{feff}ImageId,PredictionString\r\nILSVRC2012_val_00000002,n02 1 2 3 4 n02 5 6 7 8 \r\n\nX,n01 0 0 1 1\n",
        );
        let m = read_solution(&p).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m["ILSVRC2012_val_00000002"].as_str(), m["X"].as_str()), ("n02", "n01"));
        let (_d, p) = file("ImageId,PredictionString\nA,n01 1 2 3 4\nB\n");
        let e = read_solution(&p).unwrap_err().to_string();
        assert!(e.contains("at byte offset 39") && e.contains("line 3 has no comma"), "{e}");
        let (_d, p) = file("ImageId,PredictionString\nA,n01\nA,n02\n");
        assert!(read_solution(&p).unwrap_err().to_string().contains("lists A again (first as n01, now as n02)"));
        let (_d, p) = file("id,label\nA,n01\n");
        assert!(read_solution(&p).unwrap_err().to_string().contains("not the header"));
        let (_d, p) = file("ImageId,PredictionString\nA,\n");
        assert!(read_solution(&p).unwrap_err().to_string().contains("lacks an image id or a wnid"));
    }

    #[test]
    fn mapping_reads_descriptions() {
        let (_d, p) = file("n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n");
        let m = read_mapping(&p).unwrap();
        assert_eq!(m["n01443537"], "goldfish, Carassius auratus");
        let (_d, p) = file("n01 a\nn01 b\n");
        assert!(read_mapping(&p).unwrap_err().to_string().contains("line 2"));
    }
}
