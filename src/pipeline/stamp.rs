//! Stage stamps: what a stage's output was made from, kept beside the output as `<out>.stamp`.
//!
//! The data stages (tokenizer, shard, pairs) keep one sha256 of their settings and of their input
//! files' bytes ([`stamp`]). The later stages keep a [`Stamp`]: the sha256 of their settings and
//! one sha256 per named input (a shard manifest, a checkpoint, a file), so that a stage can say
//! which of them changed, and a training stage can tell a changed input (refused) from a setting
//! that `--resume` accepts (a longer run: continued).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The fingerprint of a data stage: its settings and the bytes of its inputs.
pub fn stamp(settings: &impl Serialize, inputs: &[PathBuf]) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(settings)?);
    for input in inputs {
        let bytes = std::fs::read(input)
            .with_context(|| format!("cannot read input {}", input.display()))?;
        hasher.update(input.to_string_lossy().as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Where the stamp of `out` is kept: `<out>.stamp`, beside it.
pub fn stamp_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".stamp");
    out.with_file_name(name)
}

/// Whether `out` exists and was made from exactly this `stamp`.
pub fn up_to_date(out: &Path, stamp: &str) -> bool {
    out.exists() && std::fs::read_to_string(stamp_path(out)).is_ok_and(|s| s.trim() == stamp)
}

/// Records that `out` was made from `stamp`.
pub fn record(out: &Path, stamp: &str) -> Result<()> {
    crate::fsutil::write_atomic(&stamp_path(out), stamp.as_bytes())
}

/// The sha256 of a file's bytes, read in pieces (checkpoints can be large).
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The stamp of a stage after the data stages: its settings and its named inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The sha256 of the stage's settings (its table, resolved, as JSON).
    pub settings: String,
    /// Input name (`"shards manifest"`, `"checkpoint model"`, ...) to the sha256 of its bytes.
    pub inputs: BTreeMap<String, String>,
}

impl Stamp {
    /// The stamp of `settings` and the named files.
    pub fn new(settings: &impl Serialize, inputs: &[(&str, &Path)]) -> Result<Self> {
        let json = serde_json::to_vec(settings).context("cannot serialise the stage's settings")?;
        let mut named = BTreeMap::new();
        for (name, path) in inputs {
            named.insert((*name).to_owned(), file_sha256(path)?);
        }
        Ok(Self {
            settings: hex::encode(Sha256::digest(json)),
            inputs: named,
        })
    }

    /// The stamp recorded beside `out`; `None` when there is none, or it does not read (a stamp
    /// of an older cloze, a damaged file).
    pub fn read(out: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(stamp_path(out)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Records that `out` was made from this stamp.
    pub fn record(&self, out: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        crate::fsutil::write_atomic(&stamp_path(out), json.as_bytes())
    }

    /// Whether `out` exists and was made from exactly this stamp.
    pub fn up_to_date(&self, out: &Path) -> bool {
        out.exists() && Self::read(out).as_ref() == Some(self)
    }

    /// The inputs whose bytes differ from those of `old` (or that only one of them has).
    pub fn changed_inputs(&self, old: &Stamp) -> Vec<String> {
        let mut names: Vec<String> = self
            .inputs
            .iter()
            .filter(|(name, sha)| old.inputs.get(*name) != Some(sha))
            .map(|(name, _)| name.clone())
            .collect();
        names.extend(
            old.inputs
                .keys()
                .filter(|name| !self.inputs.contains_key(*name))
                .cloned(),
        );
        names
    }

    /// What differs from `old`, for a message: the changed inputs, then "settings".
    pub fn changes(&self, old: &Stamp) -> Vec<String> {
        let mut changes = self.changed_inputs(old);
        if self.settings != old.settings {
            changes.push("settings".to_owned());
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_changes_with_the_settings_and_the_input_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.txt");
        std::fs::write(&input, "one\n").unwrap();
        let inputs = vec![input.clone()];
        let a = stamp(&("x", 1), &inputs).unwrap();
        assert_eq!(a, stamp(&("x", 1), &inputs).unwrap());
        assert_ne!(a, stamp(&("x", 2), &inputs).unwrap());
        std::fs::write(&input, "two\n").unwrap();
        assert_ne!(a, stamp(&("x", 1), &inputs).unwrap());

        let out = dir.path().join("out");
        assert!(!up_to_date(&out, &a));
        std::fs::create_dir(&out).unwrap();
        record(&out, &a).unwrap();
        assert!(up_to_date(&out, &a));
        assert!(!up_to_date(&out, "other"));
        assert!(dir.path().join("out.stamp").exists());
    }

    #[test]
    fn a_named_stamp_says_which_input_or_setting_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let old = Stamp::new(&1, &[("first", &a), ("second", &b)]).unwrap();
        assert!(old.changes(&old).is_empty());
        std::fs::write(&b, "b2").unwrap();
        let new = Stamp::new(&2, &[("first", &a), ("second", &b)]).unwrap();
        assert_eq!(new.changed_inputs(&old), ["second"]);
        assert_eq!(new.changes(&old), ["second", "settings"]);
        let fewer = Stamp::new(&1, &[("first", &a)]).unwrap();
        assert_eq!(fewer.changes(&old), ["second"]);

        let out = dir.path().join("out.json");
        assert!(!new.up_to_date(&out));
        std::fs::write(&out, "{}").unwrap();
        assert!(!new.up_to_date(&out), "no stamp yet");
        new.record(&out).unwrap();
        assert!(new.up_to_date(&out));
        assert!(!old.up_to_date(&out));
        assert_eq!(Stamp::read(&out), Some(new));
        // A data stage's plain stamp does not read as a named one.
        record(&out, "abc").unwrap();
        assert_eq!(Stamp::read(&out), None);
    }

    #[test]
    fn file_sha256_is_the_sha256_of_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(
            file_sha256(&path).unwrap(),
            hex::encode(Sha256::digest(b"hello"))
        );
        assert!(file_sha256(&dir.path().join("missing")).is_err());
    }
}
