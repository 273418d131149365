//! The figures of the JSON files a run directory may hold (`valid.json`, and the `eval.json` or
//! `translate.json` of a pipeline's evaluation stages), read generically: any JSON object becomes
//! rows of (key, value), nested objects with dotted keys (`by_kind.mask.accuracy`).

use std::path::Path;

use serde_json::Value;

/// How deep nested objects are flattened; deeper ones are shown as JSON text.
const MAX_DEPTH: usize = 4;

/// Strings and JSON text longer than this are cut, with an ellipsis.
const MAX_TEXT: usize = 200;

/// The figures of one JSON file.
#[derive(Clone, Debug, PartialEq)]
pub struct FigureTable {
    /// The file's name in the run directory.
    pub name: String,
    /// The rows, or why the file could not be read.
    pub rows: Result<Vec<(String, String)>, String>,
}

/// Reads `dir/name`; `None` if there is no such file. A file that is not a JSON object is
/// reported in `rows`, not as an error: it should not stop the rest of the report.
pub fn read(dir: &Path, name: &str) -> Option<FigureTable> {
    let path = dir.join(name);
    if !path.exists() {
        return None;
    }
    let rows = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|text| {
            serde_json::from_str::<Value>(&text)
                .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
        })
        .and_then(|value| match value {
            Value::Object(_) => Ok(flatten(&value)),
            _ => Err(format!("{} is not a JSON object", path.display())),
        });
    if let Err(e) = &rows {
        tracing::warn!("{e}");
    }
    Some(FigureTable {
        name: name.to_owned(),
        rows,
    })
}

/// The (key, value) rows of a JSON object, in the key order of `serde_json`'s maps.
pub fn flatten(value: &Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    flatten_into(value, "", 0, &mut rows);
    rows
}

fn flatten_into(value: &Value, key: &str, depth: usize, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if depth < MAX_DEPTH => {
            for (name, inner) in map {
                let key = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                flatten_into(inner, &key, depth + 1, rows);
            }
        }
        Value::Number(n) => rows.push((
            key.to_owned(),
            match n.as_f64() {
                Some(f) if !(n.is_i64() || n.is_u64()) => number(f),
                _ => n.to_string(),
            },
        )),
        Value::String(s) => rows.push((key.to_owned(), cut(s))),
        other => rows.push((key.to_owned(), cut(&other.to_string()))),
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_TEXT).collect();
    cut.push('…');
    cut
}

/// A figure as the report shows it: whole numbers whole, others to 4 decimals (or 4 significant
/// digits in scientific notation when tiny).
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    if value.abs() >= 1e-3 {
        format!("{value:.4}")
    } else {
        format!("{value:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_become_dotted_keys() {
        let value = serde_json::json!({
            "predictions": 6676,
            "accuracy": 0.13466147,
            "split": "valid",
            "by_kind": {"mask": {"accuracy": 0.05, "top5": null}},
            "precisions": [1.5, 2.0],
            "lr": 1.7e-8,
        });
        let mut rows = flatten(&value);
        rows.sort();
        let mut expected = [
            ("predictions", "6676"),
            ("accuracy", "0.1347"),
            ("split", "valid"),
            ("by_kind.mask.accuracy", "0.0500"),
            ("by_kind.mask.top5", "null"),
            ("precisions", "[1.5,2.0]"),
            ("lr", "1.700e-8"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        expected.sort();
        assert_eq!(rows, expected);
    }

    #[test]
    fn a_missing_file_is_none_and_a_bad_one_says_why() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path(), "eval.json").is_none());
        std::fs::write(dir.path().join("eval.json"), "[1, 2]").unwrap();
        let table = read(dir.path(), "eval.json").unwrap();
        assert!(table.rows.unwrap_err().contains("not a JSON object"));
        std::fs::write(
            dir.path().join("eval.json"),
            "{\"bleu\": {\"score\": 12.25}}",
        )
        .unwrap();
        let table = read(dir.path(), "eval.json").unwrap();
        assert_eq!(
            table.rows.unwrap(),
            [("bleu.score".to_owned(), "12.2500".to_owned())]
        );
    }
}
