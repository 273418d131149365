//! Files of one segment per line (translations, references), read strictly: segment i of a
//! hypothesis file is scored against line i of the reference file, so no line may be dropped.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::eval::bleu::{BleuScore, ChrfScore, corpus_bleu, corpus_chrf};

/// The lines of `path` (split as `str::lines` does), failing on invalid UTF-8 with the line.
pub fn read_segments(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..valid]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            bail!(
                "{}:{line}: invalid UTF-8; every line is a segment, so none can be skipped",
                path.display()
            );
        }
    };
    Ok(text.lines().map(str::to_owned).collect())
}

/// `cloze eval bleu`: corpus BLEU and chrF of a file of translations against a file of
/// references, line by line.
pub fn score_files(hypotheses: &Path, references: &Path) -> Result<(BleuScore, ChrfScore)> {
    let hyps = read_segments(hypotheses)?;
    let refs = read_segments(references)?;
    let context = || format!("{} against {}", hypotheses.display(), references.display());
    let bleu = corpus_bleu(&hyps, &refs).with_context(context)?;
    let chrf = corpus_chrf(&hyps, &refs).with_context(context)?;
    Ok((bleu, chrf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_and_invalid_utf8_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.txt");
        std::fs::write(&good, "one\n\nthree\r\n").unwrap();
        assert_eq!(read_segments(&good).unwrap(), ["one", "", "three"]);
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, b"one\ntwo\nth\xffree\n").unwrap();
        let err = read_segments(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.txt:3: invalid UTF-8"), "{err}");
    }
}
