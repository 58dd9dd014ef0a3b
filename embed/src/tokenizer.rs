//! The BERT WordPiece tokenizer of all-MiniLM-L6-v2, read from its `tokenizer.json`.
//!
//! Written to match Hugging Face `tokenizers` (BertNormalizer, BertPreTokenizer, WordPiece,
//! `[CLS] … [SEP]`) token for token: rten-text differs on CJK characters, control characters and
//! words with an unknown piece, which moved some embeddings by a few percent. No padding; inputs
//! are truncated to [`MAX_TOKENS`] like sentence-transformers' `max_seq_length`.

use std::collections::HashMap;

use serde::Deserialize;
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

use crate::EmbedError;

/// The model's `max_seq_length`: longer texts keep their first 254 word pieces.
pub const MAX_TOKENS: usize = 256;

pub struct Tokenizer {
    vocab: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
    prefix: String,
    max_word_chars: usize,
    lowercase: bool,
    strip_accents: bool,
    clean_text: bool,
    chinese_chars: bool,
}

#[derive(Deserialize)]
struct TokenizerJson {
    normalizer: Option<NormalizerJson>,
    pre_tokenizer: Option<TypeOnly>,
    model: ModelJson,
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct NormalizerJson {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    clean_text: bool,
    #[serde(default = "yes")]
    handle_chinese_chars: bool,
    strip_accents: Option<bool>,
    #[serde(default = "yes")]
    lowercase: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct ModelJson {
    #[serde(rename = "type")]
    kind: String,
    vocab: HashMap<String, u32>,
    unk_token: String,
    #[serde(default = "default_prefix")]
    continuing_subword_prefix: String,
    #[serde(default = "default_max_chars")]
    max_input_chars_per_word: usize,
}

fn default_prefix() -> String {
    "##".into()
}

fn default_max_chars() -> usize {
    100
}

impl Tokenizer {
    /// Reads a Hugging Face `tokenizer.json` of the BERT WordPiece kind.
    pub fn from_json(json: &[u8]) -> Result<Self, EmbedError> {
        let bad = |m: String| EmbedError::Tokenizer(m);
        let parsed: TokenizerJson = serde_json::from_slice(json)
            .map_err(|e| bad(format!("tokenizer.json is not a tokenizer: {e}")))?;
        if parsed.model.kind != "WordPiece" {
            return Err(bad(format!(
                "tokenizer model {:?} is not supported (WordPiece only)",
                parsed.model.kind
            )));
        }
        let normalizer = parsed
            .normalizer
            .ok_or_else(|| bad("tokenizer.json has no normalizer".into()))?;
        if normalizer.kind != "BertNormalizer" {
            return Err(bad(format!(
                "normalizer {:?} is not supported (BertNormalizer only)",
                normalizer.kind
            )));
        }
        match parsed.pre_tokenizer {
            Some(p) if p.kind == "BertPreTokenizer" => {}
            _ => return Err(bad("pre-tokenizer must be BertPreTokenizer".into())),
        }
        let vocab = parsed.model.vocab;
        let id = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| bad(format!("vocabulary has no {t}")))
        };
        Ok(Tokenizer {
            unk: id(&parsed.model.unk_token)?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            prefix: parsed.model.continuing_subword_prefix,
            max_word_chars: parsed.model.max_input_chars_per_word,
            lowercase: normalizer.lowercase,
            // As in Hugging Face: unset means "strip when lower-casing".
            strip_accents: normalizer.strip_accents.unwrap_or(normalizer.lowercase),
            clean_text: normalizer.clean_text,
            chinese_chars: normalizer.handle_chinese_chars,
            vocab,
        })
    }

    /// One more than the largest token id.
    pub fn vocabulary_size(&self) -> usize {
        self.vocab.values().max().map_or(0, |&id| id as usize + 1)
    }

    /// `[CLS]`, the word pieces of `text` (at most `MAX_TOKENS - 2`), `[SEP]`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalize(text);
        let mut ids = vec![self.cls];
        'words: for word in pre_tokenize(&normalized) {
            for piece in self.word_pieces(word) {
                if ids.len() == MAX_TOKENS - 1 {
                    break 'words;
                }
                ids.push(piece);
            }
        }
        ids.push(self.sep);
        ids
    }

    fn normalize(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if self.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_control(c) {
                    continue;
                }
                if is_whitespace(c) {
                    out.push(' ');
                    continue;
                }
            }
            if self.chinese_chars && is_chinese_char(c) {
                out.push(' ');
                out.push(c);
                out.push(' ');
            } else {
                out.push(c);
            }
        }
        if self.strip_accents {
            out = out.nfd().filter(|c| !c.is_mark_nonspacing()).collect();
        }
        if self.lowercase {
            out = out.chars().flat_map(char::to_lowercase).collect();
        }
        out
    }

    /// Greedy longest-match-first; a word with any piece outside the vocabulary is one `[UNK]`.
    fn word_pieces(&self, word: &str) -> Vec<u32> {
        if word.chars().count() > self.max_word_chars {
            return vec![self.unk];
        }
        let mut pieces = Vec::new();
        let mut candidate = String::new();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.prefix);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some(id);
                    break;
                }
                end -= word[start..end]
                    .chars()
                    .next_back()
                    .map_or(1, char::len_utf8);
            }
            match found {
                Some(id) => pieces.push(id),
                None => return vec![self.unk],
            }
            start = end;
        }
        pieces
    }
}

/// Splits on white space (dropped) and isolates each punctuation character.
fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).flat_map(|chunk| {
        let mut words = Vec::new();
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if c.is_ascii_punctuation() || c.is_punctuation() {
                if start < i {
                    words.push(&chunk[start..i]);
                }
                words.push(&chunk[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < chunk.len() {
            words.push(&chunk[start..]);
        }
        words
    })
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// The CJK Unified Ideographs blocks, which BERT splits into single characters.
fn is_chinese_char(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Tokenizer {
        let vocab: Vec<&str> = vec![
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "toy", "##s", "story", "cafe", "!", "北", "京",
            "un", "##aff", "##able", "a",
        ];
        let vocab: serde_json::Map<String, serde_json::Value> = vocab
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i.into()))
            .collect();
        let json = serde_json::json!({
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                           "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab}
        });
        Tokenizer::from_json(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn bert_normalization_and_word_pieces() {
        let t = tiny();
        // Lower-casing, accent stripping, punctuation isolated, sub-word pieces.
        assert_eq!(t.encode("Toys STORY! Café"), vec![2, 4, 5, 6, 8, 7, 3]);
        // A word with an unknown piece is a single [UNK], not a partial match.
        assert_eq!(t.encode("toyz unaffable"), vec![2, 1, 11, 12, 13, 3]);
        // CJK characters are words of their own; NUL and controls vanish; tabs split.
        assert_eq!(t.encode("北京\0\u{7}\ttoy"), vec![2, 9, 10, 4, 3]);
        assert_eq!(t.encode(""), vec![2, 3]);
    }

    #[test]
    fn long_inputs_are_truncated_to_the_model_length() {
        let t = tiny();
        let ids = t.encode(&"a ".repeat(1000));
        assert_eq!(ids.len(), MAX_TOKENS);
        assert_eq!((ids[0], ids[MAX_TOKENS - 1]), (2, 3));
        assert_eq!(t.encode(&"a".repeat(101)), vec![2, 1, 3], "over-long word");
    }

    #[test]
    fn unsupported_tokenizers_are_errors() {
        for bad in [
            &b"not json"[..],
            br#"{"model": {"type": "BPE", "vocab": {}, "unk_token": "x"}}"#,
            br#"{"normalizer": {"type": "BertNormalizer"}, "pre_tokenizer": {"type": "BertPreTokenizer"},
                 "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}}"#,
        ] {
            assert!(matches!(
                Tokenizer::from_json(bad),
                Err(EmbedError::Tokenizer(_))
            ));
        }
    }
}
