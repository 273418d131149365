//! Stage configuration files: TOML read with serde, `--set key=value` overrides, and errors that
//! name the file, the line and the key.
//!
//! A pipeline file holds one table per stage (`[tokenizer]`, `[shard]`, `[pretrain]`, ...). A
//! stage command given such a file reads its own table; given a file without it, it reads the
//! whole file, so the resolved `config.toml` a run writes can be passed back as it is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::de::DeserializeOwned;

/// Reads the `section` table of `path` (or the whole file when no section is asked for, or the
/// file has no such table), applies `overrides` (`key=value`, keys relative to the section), and
/// deserializes it.
pub fn load<T: DeserializeOwned>(
    path: &Path,
    section: Option<&str>,
    overrides: &[String],
) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    parse(&text, section, overrides).map_err(|e| anyhow!("{}: {e:#}", path.display()))
}

/// As [`load`], from the text of a file.
pub fn parse<T: DeserializeOwned>(
    text: &str,
    section: Option<&str>,
    overrides: &[String],
) -> Result<T> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
    // Deserialize the file as it is first, so errors in it come with their line.
    match section.and_then(|name| Some((name, table.remove(name)?))) {
        Some((name, toml::Value::Table(inner))) => {
            deserialize_value::<T>(toml::Value::Table(inner.clone())).map_err(|e| {
                let line = locate(text, &e.path);
                anyhow!("{name}.{}{line}: {}", e.path, e.message)
            })?;
            table = inner;
        }
        other => {
            if let Some((name, value)) = other {
                table.insert(name.to_owned(), value);
            }
            let de = toml::Deserializer::parse(text).map_err(|e| anyhow!("{e}"))?;
            serde_path_to_error::deserialize::<_, T>(de)
                .map_err(|e| anyhow!("{}: {}", e.path(), e.inner()))?;
        }
    }
    if overrides.is_empty() {
        return deserialize_value(toml::Value::Table(table))
            .map_err(|e| anyhow!("{}: {}", e.path, e.message));
    }
    for assignment in overrides {
        set(&mut table, assignment)?;
    }
    deserialize_value(toml::Value::Table(table)).map_err(|e| {
        anyhow!(
            "{}: {} (after --set {})",
            e.path,
            e.message,
            overrides.join(" --set ")
        )
    })
}

struct PathError {
    path: String,
    message: String,
}

fn deserialize_value<T: DeserializeOwned>(value: toml::Value) -> Result<T, PathError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| PathError {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// ", line N" for the line where the last component of a dotted key is assigned, when it is
/// found; an unknown key may not be a line of its own.
fn locate(text: &str, path: &str) -> String {
    let key = path.rsplit('.').next().unwrap_or(path);
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| format!(", line {}", i + 1))
        .unwrap_or_default()
}

/// Applies one `key.path=value`; the value is read as TOML (`3`, `1e-3`, `true`, `"x"`, `[1, 2]`)
/// and, if it is not valid TOML, taken as a string.
pub fn set(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let Some((key, raw)) = assignment.split_once('=') else {
        bail!("--set {assignment}: expected key=value, e.g. train.steps=1000");
    };
    let key = key.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set {assignment}: '{key}' is not a valid key");
    }
    let (last, parents) = parts.split_last().expect("split gives at least one part");
    let mut current = table;
    for (i, part) in parents.iter().enumerate() {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => bail!(
                "--set {assignment}: '{}' is a value, not a table",
                parts[..=i].join(".")
            ),
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// Where a training command writes its run: `--run-dir`, else the config's `run_dir`, else
/// [`default_run_dir`].
pub fn run_dir(flag: Option<PathBuf>, configured: Option<PathBuf>, config_file: &Path) -> PathBuf {
    flag.or(configured)
        .unwrap_or_else(|| default_run_dir(config_file))
}

/// `runs/<config file name>`: the run directory of a config that names none.
pub fn default_run_dir(config_file: &Path) -> PathBuf {
    PathBuf::from("runs").join(config_file.file_stem().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Stage {
        train: Train,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Train {
        steps: u64,
        #[serde(default)]
        lr: f64,
        #[serde(default)]
        name: String,
    }

    #[test]
    fn reads_a_section_or_the_whole_file_and_applies_overrides() {
        let nested = "[other]\nx = 1\n[pretrain.train]\nsteps = 5\n";
        let flat = "[train]\nsteps = 5\n";
        for text in [nested, flat] {
            let s: Stage = parse(text, Some("pretrain"), &[]).unwrap();
            assert_eq!(s.train.steps, 5);
            let s: Stage = parse(
                text,
                Some("pretrain"),
                &[
                    "train.steps=7".into(),
                    "train.lr=1e-3".into(),
                    "train.name=a b".into(),
                ],
            )
            .unwrap();
            assert_eq!((s.train.steps, s.train.lr), (7, 1e-3));
            assert_eq!(s.train.name, "a b");
        }
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
        let text = "[train]\n\nsteps = \"many\"\n";
        let err = parse::<Stage>(text, Some("pretrain"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train.steps") && err.contains("line 3"),
            "{err}"
        );

        let text = "[pretrain.train]\nsteps = 1\nstpes = 2\n";
        let err = parse::<Stage>(text, Some("pretrain"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pretrain.train") && err.contains("stpes"),
            "{err}"
        );

        let err = parse::<Stage>(
            "[train]\nsteps = 1\n",
            Some("pretrain"),
            &["train.stepz=3".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("stepz") && err.contains("--set"), "{err}");
        let err = parse::<Stage>(
            "[train]\nsteps = 1\n",
            Some("pretrain"),
            &["train.steps".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("key=value"), "{err}");
        let err = parse::<Stage>(
            "[train]\nsteps = 1\n",
            Some("pretrain"),
            &["train.steps.x=1".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a table"), "{err}");
    }

    #[test]
    fn the_run_directory_is_the_flag_else_the_config_key_else_runs_config_name() {
        let file = Path::new("pipelines/quickstart.toml");
        assert_eq!(default_run_dir(file), Path::new("runs/quickstart"));
        assert_eq!(run_dir(None, None, file), Path::new("runs/quickstart"));
        let configured = Some(PathBuf::from("runs/set"));
        assert_eq!(
            run_dir(None, configured.clone(), file),
            Path::new("runs/set")
        );
        let flag = Some(PathBuf::from("elsewhere"));
        assert_eq!(run_dir(flag, configured, file), Path::new("elsewhere"));
    }
}
