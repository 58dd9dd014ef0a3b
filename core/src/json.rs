//! How the binary formats read and write item metadata, which they store as JSON text.
//!
//! Native code uses serde_json ([`SerdeJson`], what `from_bytes` / `to_bytes` use). The npm
//! package passes the JS engine's own `JSON` instead (`*_with` methods), so serde_json's parser and
//! writer are not compiled into its .wasm: they were an eighth of it gzipped.

use serde_json::Value;

/// Parses and writes metadata JSON for the binary formats.
pub trait JsonCodec {
    /// The value of one metadata blob; `Err` carries the parser's message.
    fn parse(&self, text: &[u8]) -> std::result::Result<Value, String>;
    /// JSON text that [`JsonCodec::parse`] reads back to an equal value.
    fn write(&self, value: &Value) -> String;
}

/// serde_json: the codec of `from_bytes` and `to_bytes`.
pub struct SerdeJson;

impl JsonCodec for SerdeJson {
    fn parse(&self, text: &[u8]) -> std::result::Result<Value, String> {
        serde_json::from_slice(text).map_err(|e| e.to_string())
    }

    fn write(&self, value: &Value) -> String {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::{CandidateSet, Encoding};
    use serde_json::json;
    use std::cell::Cell;

    /// serde_json, counting its calls, and refusing any text with "refuse" in it.
    #[derive(Default)]
    struct Counting {
        parsed: Cell<usize>,
        written: Cell<usize>,
    }

    impl JsonCodec for Counting {
        fn parse(&self, text: &[u8]) -> std::result::Result<Value, String> {
            self.parsed.set(self.parsed.get() + 1);
            if text.windows(6).any(|w| w == b"refuse") {
                return Err("refused by the test codec".into());
            }
            SerdeJson.parse(text)
        }

        fn write(&self, value: &Value) -> String {
            self.written.set(self.written.get() + 1);
            SerdeJson.write(value)
        }
    }

    #[test]
    fn formats_use_the_codec_they_are_given() {
        let mut set = CandidateSet::new(2, Encoding::F32).unwrap();
        set.push("a", &[1.0, 0.0], Some(json!({"title": "A"})))
            .unwrap();
        set.push("b", &[0.0, 1.0], None).unwrap();
        set.push("c", &[1.0, 1.0], Some(json!({"title": "refuse"})))
            .unwrap();
        let codec = Counting::default();
        let bytes = set.to_bytes_with(&codec);
        assert_eq!(
            codec.written.get(),
            2,
            "items without metadata write nothing"
        );
        assert_eq!(bytes, set.to_bytes(), "same text as serde_json");
        let err = CandidateSet::from_bytes_with(&bytes, &codec).unwrap_err();
        assert!(
            err.to_string().contains("refused by the test codec"),
            "{err}"
        );
        assert_eq!(codec.parsed.get(), 2);
        assert_eq!(CandidateSet::from_bytes(&bytes).unwrap().len(), 3);
    }
}
