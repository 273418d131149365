//! The writing system of a vocabulary entry, so that masked-token figures can be broken down by
//! Korean and English: a model can do well on one and poorly on the other.

use serde::Serialize;

use crate::data::tokenizer::{CONTINUATION_PREFIX, ClozeTokenizer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Script {
    /// Hangul syllables and jamo (NFD-normalized vocabularies hold jamo).
    Hangul,
    /// Latin letters, with their accented and extended forms.
    Latin,
    /// Digits, punctuation, other scripts and the special tokens.
    Other,
}

impl Script {
    pub const ALL: [Script; 3] = [Script::Hangul, Script::Latin, Script::Other];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The script of the first letter of `token` (after a `##` continuation prefix); `Other`
    /// when it has no Hangul or Latin letter.
    pub fn of_token(token: &str) -> Self {
        let body = token.strip_prefix(CONTINUATION_PREFIX).unwrap_or(token);
        body.chars()
            .find_map(|c| {
                if is_hangul(c) {
                    Some(Script::Hangul)
                } else if is_latin(c) {
                    Some(Script::Latin)
                } else {
                    None
                }
            })
            .unwrap_or(Script::Other)
    }
}

fn is_hangul(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'     // Hangul Jamo
        | '\u{3130}'..='\u{318F}'   // Hangul Compatibility Jamo
        | '\u{A960}'..='\u{A97F}'   // Hangul Jamo Extended-A
        | '\u{AC00}'..='\u{D7AF}'   // Hangul Syllables
        | '\u{D7B0}'..='\u{D7FF}') // Hangul Jamo Extended-B
}

fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}')
            && c != '\u{00D7}'
            && c != '\u{00F7}')
}

/// The script of every id of the tokenizer's vocabulary; the special tokens are `Other`.
pub fn vocabulary_scripts(tokenizer: &ClozeTokenizer) -> Vec<Script> {
    (0..tokenizer.vocab_size() as u32)
        .map(|id| {
            if tokenizer.special().is_special(id) {
                Script::Other
            } else {
                Script::of_token(&tokenizer.token(id))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_classified_by_their_first_letter() {
        assert_eq!(Script::of_token("카페"), Script::Hangul);
        // NFD jamo, as an `nfd` vocabulary stores them, and a continuation piece.
        assert_eq!(Script::of_token("##\u{1100}\u{1161}"), Script::Hangul);
        assert_eq!(Script::of_token("ㅋ"), Script::Hangul);
        assert_eq!(Script::of_token("cafe"), Script::Latin);
        assert_eq!(Script::of_token("##é"), Script::Latin);
        assert_eq!(Script::of_token("'s"), Script::Latin);
        assert_eq!(Script::of_token("2024"), Script::Other);
        assert_eq!(Script::of_token("."), Script::Other);
        assert_eq!(Script::of_token("##"), Script::Other);
        assert_eq!(Script::of_token("×"), Script::Other);
        assert_eq!(Script::of_token("東京"), Script::Other);
    }
}
