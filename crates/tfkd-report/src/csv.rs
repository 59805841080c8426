//! CSV as the reports write it, byte for byte what polars' CSV writer wrote for them (tfkd builds polars without
//! its I/O crate): a header line, `,` between fields, `\n` after every line, nulls as nothing, text quoted only
//! where needed.

use std::{borrow::Cow, fmt::Write as _};

use polars::prelude::{AnyValue, DataFrame};

use crate::ReportError;

/// A text field: as it is, or quoted (`"…"`, inner quotes doubled) when it holds a comma, a quote or a line break;
/// the empty text as `""`, which tells it from a null.
#[must_use]
pub fn field(s: &str) -> Cow<'_, str> {
    if s.is_empty() {
        Cow::Borrowed("\"\"")
    } else if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// Digits after the point of every float in a report's CSV.
const DECIMALS: usize = 4;

/// A data frame as CSV, floats with [`DECIMALS`] digits after the point (`format!("{:.4}")`: `NaN`, `inf` as
/// Rust writes them), integers and booleans as written, text by [`field`]. Columns of other types (lists,
/// dates, …), which no report has, are refused rather than written some other way.
pub fn frame(df: &DataFrame) -> Result<String, ReportError> {
    let columns = df.columns();
    let names: Vec<Cow<'_, str>> = columns.iter().map(|c| field(c.name().as_str())).collect();
    let mut out = names.join(",");
    out.push('\n');
    for row in 0..df.height() {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let cell = column.get(row)?;
            let _ = match cell {
                AnyValue::Null => Ok(()),
                AnyValue::String(s) => write!(out, "{}", field(s)),
                AnyValue::StringOwned(ref s) => write!(out, "{}", field(s.as_str())),
                AnyValue::Boolean(b) => write!(out, "{b}"),
                AnyValue::Float64(v) => write!(out, "{v:.DECIMALS$}"),
                AnyValue::Float32(v) => write!(out, "{v:.DECIMALS$}"),
                AnyValue::Int8(_)
                | AnyValue::Int16(_)
                | AnyValue::Int32(_)
                | AnyValue::Int64(_)
                | AnyValue::UInt8(_)
                | AnyValue::UInt16(_)
                | AnyValue::UInt32(_)
                | AnyValue::UInt64(_) => write!(out, "{cell}"),
                other => {
                    let (column, dtype) = (column.name().to_string(), other.dtype().to_string());
                    return Err(ReportError::CsvColumn { column, dtype });
                }
            };
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::frame;

    /// What polars' writer (QuoteStyle::Necessary, float precision 4) wrote for the same frame.
    #[test]
    fn quotes_only_where_needed_and_tells_empty_from_null() {
        let df = df!(
            "name" => [Some("plain"), Some("a,b"), Some("say \"hi\""), Some("two\nlines"), Some(""), None],
            "x" => [Some(1.0f64), Some(-0.123_456), None, Some(f64::NAN), Some(2.5), Some(1e6)],
            "n" => [1u32, 2, 3, 4, 5, 6],
            "ok" => [true, false, true, false, true, false]
        )
        .unwrap();
        let want = "name,x,n,ok\nplain,1.0000,1,true\n\"a,b\",-0.1235,2,false\n\"say \"\"hi\"\"\",,3,true\n\
                    \"two\nlines\",NaN,4,false\n\"\",2.5000,5,true\n,1000000.0000,6,false\n";
        assert_eq!(frame(&df).unwrap(), want);
    }
}
