//! How the token of each special role is found in a vocabulary, in order of trust: the one named
//! by HF's `special_tokens_map.json` or `tokenizer_config.json` beside the `tokenizer.json`; for
//! `[CLS]` and `[SEP]`, the one the post-processor frames an input with; else the first of the
//! role's usual spellings that the vocabulary holds.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokenizers::Tokenizer;

/// HF's file naming each role's token, written beside a `tokenizer.json`.
pub const SPECIAL_TOKENS_MAP_FILE: &str = "special_tokens_map.json";
/// HF's tokenizer settings, which name the roles too when no map is written.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// A special role and its usual spellings, BERT's first.
pub(super) struct Role {
    /// The key in `special_tokens_map.json`.
    pub(super) key: &'static str,
    pub(super) spellings: &'static [&'static str],
}

pub(super) const PAD: Role = Role {
    key: "pad_token",
    spellings: &["[PAD]", "<pad>"],
};
pub(super) const UNK: Role = Role {
    key: "unk_token",
    spellings: &["[UNK]", "<unk>"],
};
pub(super) const CLS: Role = Role {
    key: "cls_token",
    spellings: &["[CLS]", "<s>", "<cls>"],
};
pub(super) const SEP: Role = Role {
    key: "sep_token",
    spellings: &["[SEP]", "</s>", "<sep>"],
};
pub(super) const MASK: Role = Role {
    key: "mask_token",
    spellings: &["[MASK]", "<mask>"],
};
pub(super) const BOS: Role = Role {
    key: "bos_token",
    spellings: &["[BOS]"],
};
pub(super) const EOS: Role = Role {
    key: "eos_token",
    spellings: &["[EOS]"],
};

/// Finds the token of each role in one tokenizer.
pub(super) struct RoleFinder<'a> {
    tokenizer: &'a Tokenizer,
    path: &'a Path,
    named: NamedRoles,
    framing: (Option<String>, Option<String>),
}

impl<'a> RoleFinder<'a> {
    /// `json` is the tokenizer's `tokenizer.json`, read from `path`.
    pub(super) fn new(tokenizer: &'a Tokenizer, json: &Value, path: &'a Path) -> Result<Self> {
        Ok(Self {
            tokenizer,
            path,
            named: NamedRoles::beside(path)?,
            framing: json
                .get("post_processor")
                .map(framing_of)
                .unwrap_or((None, None)),
        })
    }

    /// The tokens the post-processor frames a single input with.
    pub(super) fn framing(&self) -> (Option<&String>, Option<&String>) {
        (self.framing.0.as_ref(), self.framing.1.as_ref())
    }

    /// The role's id (`framed`: the post-processor's token for it), `None` if the vocabulary has
    /// none; an error when an HF file names a token the vocabulary does not hold.
    pub(super) fn find(&self, role: &Role, framed: Option<&String>) -> Result<Option<u32>> {
        if let Some((file, name)) = self.named.get(role.key) {
            return match self.tokenizer.token_to_id(name) {
                Some(id) => Ok(Some(id)),
                None => bail!(
                    "{file}: {} '{name}' is not in the vocabulary of {}",
                    role.key,
                    self.path.display()
                ),
            };
        }
        if let Some(id) = framed.and_then(|t| self.tokenizer.token_to_id(t)) {
            return Ok(Some(id));
        }
        Ok(role
            .spellings
            .iter()
            .find_map(|s| self.tokenizer.token_to_id(s)))
    }

    /// As [`Self::find`], refusing a vocabulary without the role.
    pub(super) fn required(&self, role: &Role, framed: Option<&String>) -> Result<u32> {
        let files = &self.named.files;
        self.find(role, framed)?.with_context(|| {
            format!(
                "{}: no {} token (tried {}{}); cloze needs [PAD], [CLS], [SEP] and [MASK]",
                self.path.display(),
                role.key,
                role.spellings.join(", "),
                if files.is_empty() {
                    String::new()
                } else {
                    format!(", and the names in {}", files.join(" and "))
                }
            )
        })
    }
}

/// The roles named in the HF files beside a `tokenizer.json`, and which file named each.
#[derive(Default)]
pub(super) struct NamedRoles {
    files: Vec<String>,
    names: Vec<(&'static str, String, String)>,
}

impl NamedRoles {
    fn beside(tokenizer_path: &Path) -> Result<Self> {
        let mut roles = Self::default();
        let Some(dir) = tokenizer_path.parent() else {
            return Ok(roles);
        };
        // The map first: where both name a role, the map wins, as in transformers.
        for file in [SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE] {
            let path = dir.join(file);
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let json: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not valid JSON", path.display()))?;
            roles.files.push(path.display().to_string());
            for role in [&PAD, &UNK, &CLS, &SEP, &MASK, &BOS, &EOS] {
                if roles.get(role.key).is_some() {
                    continue;
                }
                // A token is written as its text or as an object with its `content`.
                let name = match json.get(role.key) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Object(o)) => {
                        o.get("content").and_then(Value::as_str).map(str::to_owned)
                    }
                    _ => None,
                };
                if let Some(name) = name {
                    roles
                        .names
                        .push((role.key, path.display().to_string(), name));
                }
            }
        }
        Ok(roles)
    }

    fn get(&self, key: &str) -> Option<(&str, &str)> {
        self.names
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, file, name)| (file.as_str(), name.as_str()))
    }
}

/// The tokens the post-processor puts before and after a single input (`[CLS]` and `[SEP]` for
/// BERT, `<s>` and `</s>` for RoBERTa), read from its form in `tokenizer.json`, which is stable
/// across `tokenizers` versions where its Rust fields are not public.
fn framing_of(processor: &Value) -> (Option<String>, Option<String>) {
    let token = |v: &Value| v.get(0).and_then(Value::as_str).map(str::to_owned);
    match processor.get("type").and_then(Value::as_str) {
        Some("BertProcessing" | "RobertaProcessing") => (
            processor.get("cls").and_then(token),
            processor.get("sep").and_then(token),
        ),
        Some("TemplateProcessing") => {
            let Some(single) = processor.get("single").and_then(Value::as_array) else {
                return (None, None);
            };
            let special = |piece: &Value| {
                piece
                    .get("SpecialToken")
                    .and_then(|s| s.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let sequence_at = single.iter().position(|p| p.get("Sequence").is_some());
            let Some(at) = sequence_at else {
                return (None, None);
            };
            (
                single[..at].iter().rev().find_map(special),
                single[at + 1..].iter().find_map(special),
            )
        }
        Some("Sequence") => processor
            .get("processors")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .map(framing_of)
                    .fold((None, None), |(c, s), (c2, s2)| (c.or(c2), s.or(s2)))
            })
            .unwrap_or((None, None)),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_post_processor_names_cls_and_sep() {
        let template = serde_json::json!({
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}}
            ]
        });
        let bert = serde_json::json!({"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]});
        let both =
            serde_json::json!({"type": "Sequence", "processors": [{"type": "ByteLevel"}, bert]});
        let some = |a: &str, b: &str| (Some(a.to_owned()), Some(b.to_owned()));
        assert_eq!(framing_of(&template), some("<s>", "</s>"));
        assert_eq!(framing_of(&both), some("[CLS]", "[SEP]"));
        assert_eq!(
            framing_of(&serde_json::json!({"type": "ByteLevel"})),
            (None, None)
        );
    }
}
