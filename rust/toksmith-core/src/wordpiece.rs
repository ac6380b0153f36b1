//! WordPiece (BERT) encoding for counting and analysis: the `BertNormalizer` + `BertPreTokenizer` + `WordPiece`
//! pipeline of Hugging Face `tokenizer.json` files, written to give the same ids as Hugging Face `tokenizers`
//! (the same Unicode tables: `unicode_categories`, `unicode-normalization-alignments`, and `char::to_lowercase`).
//! Added (special) tokens written in the text are not matched here; callers route such texts elsewhere.

use crate::formats::FormatError;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::Value;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

/// The cache of word → ids is cleared when it holds this many words.
const CACHE_CAP: usize = 1 << 18;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BertNormalizer {
    pub clean_text: bool,
    pub handle_chinese_chars: bool,
    pub strip_accents: bool,
    pub lowercase: bool,
}

#[derive(Clone, Debug)]
pub struct WordPiece {
    vocab: FxHashMap<String, u32>,
    unk_id: u32,
    prefix: String,
    max_chars: usize,
    normalizer: Option<BertNormalizer>,
    /// Contents of the added tokens (not matched while encoding).
    pub added: Vec<String>,
    vocab_size: usize,
}

fn is_whitespace(c: char) -> bool {
    c == '\t' || c == '\n' || c == '\r' || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    if c == '\t' || c == '\n' || c == '\r' {
        false
    } else {
        c.is_other()
    }
}

fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

fn is_bert_punc(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

fn unsupported(msg: impl Into<String>) -> FormatError {
    FormatError::Unsupported(msg.into())
}

fn get_bool(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// Per-thread memo of raw piece → ids.
#[derive(Default)]
pub struct WordCache {
    map: FxHashMap<String, (u32, u32)>,
    store: Vec<u32>,
}

impl WordPiece {
    /// Parse a `tokenizer.json` whose model is WordPiece with an optional `BertNormalizer` and a
    /// `BertPreTokenizer`; anything else is `Unsupported`.
    pub fn from_json(data: &[u8], path: &str) -> Result<Self, FormatError> {
        let v: Value = serde_json::from_slice(data).map_err(|source| FormatError::Json {
            path: path.into(),
            source,
        })?;
        let model = v
            .get("model")
            .ok_or_else(|| FormatError::Invalid(format!("{path}: no \"model\" section")))?;
        if model.get("type").and_then(Value::as_str) != Some("WordPiece") {
            return Err(unsupported("not a WordPiece model"));
        }
        let normalizer = match v.get("normalizer") {
            None | Some(Value::Null) => None,
            Some(n) if n.get("type").and_then(Value::as_str) == Some("BertNormalizer") => {
                let lowercase = get_bool(n, "lowercase", true);
                Some(BertNormalizer {
                    clean_text: get_bool(n, "clean_text", true),
                    handle_chinese_chars: get_bool(n, "handle_chinese_chars", true),
                    strip_accents: n
                        .get("strip_accents")
                        .and_then(Value::as_bool)
                        .unwrap_or(lowercase),
                    lowercase,
                })
            }
            Some(_) => return Err(unsupported("a normalizer other than BertNormalizer")),
        };
        match v.pointer("/pre_tokenizer/type").and_then(Value::as_str) {
            Some("BertPreTokenizer") => {}
            _ => return Err(unsupported("a pre-tokenizer other than BertPreTokenizer")),
        }
        let vocab_v = model
            .get("vocab")
            .and_then(Value::as_object)
            .ok_or_else(|| FormatError::Invalid(format!("{path}: model.vocab is not an object")))?;
        let mut vocab = FxHashMap::default();
        for (s, id) in vocab_v {
            let id = id.as_u64().ok_or_else(|| {
                FormatError::Invalid(format!("{path}: vocab id of {s:?} is not an integer"))
            })? as u32;
            vocab.insert(s.clone(), id);
        }
        let unk = model
            .get("unk_token")
            .and_then(Value::as_str)
            .unwrap_or("[UNK]");
        let unk_id = *vocab.get(unk).ok_or_else(|| {
            unsupported(format!("unknown token {unk:?} is not in the vocabulary"))
        })?;
        let prefix = model
            .get("continuing_subword_prefix")
            .and_then(Value::as_str)
            .unwrap_or("##")
            .to_string();
        let max_chars = model
            .get("max_input_chars_per_word")
            .and_then(Value::as_u64)
            .unwrap_or(100) as usize;
        let mut added = Vec::new();
        let mut n_extra = 0usize;
        if let Some(list) = v.get("added_tokens").and_then(Value::as_array) {
            for a in list {
                if let Some(c) = a.get("content").and_then(Value::as_str) {
                    added.push(c.to_string());
                    if !vocab.contains_key(c) {
                        n_extra += 1;
                    }
                }
            }
        }
        let vocab_size = vocab.len() + n_extra;
        Ok(WordPiece {
            vocab,
            unk_id,
            prefix,
            max_chars,
            normalizer,
            added,
            vocab_size,
        })
    }

    /// Number of tokens, added tokens included (Hugging Face's `get_vocab_size(with_added_tokens=True)`).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The normalized text (`BertNormalizer`), or the text itself.
    pub fn normalize(&self, text: &str) -> String {
        let Some(n) = self.normalizer else {
            return text.to_string();
        };
        let mut s = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            let c = if n.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_control(c) {
                    continue;
                }
                if is_whitespace(c) {
                    ' '
                } else {
                    c
                }
            } else {
                c
            };
            if n.handle_chinese_chars && is_chinese_char(c) {
                s.push(' ');
                s.push(c);
                s.push(' ');
            } else {
                s.push(c);
            }
        }
        if n.strip_accents && !s.is_ascii() {
            s = s
                .nfd()
                .map(|(c, _)| c)
                .filter(|c| !c.is_mark_nonspacing())
                .collect();
        }
        if n.lowercase {
            if s.is_ascii() {
                s.make_ascii_lowercase();
            } else {
                s = s.chars().flat_map(char::to_lowercase).collect();
            }
        }
        s
    }

    /// Greedy longest-match-first WordPiece of one word, appended to `out`.
    fn word_ids(&self, w: &str, out: &mut Vec<u32>) {
        if w.chars().count() > self.max_chars {
            out.push(self.unk_id);
            return;
        }
        let mark = out.len();
        let mut start = 0;
        let mut buf = String::new();
        while start < w.len() {
            let mut end = w.len();
            let mut found = None;
            while start < end {
                let sub = &w[start..end];
                let hit = if start > 0 {
                    buf.clear();
                    buf.push_str(&self.prefix);
                    buf.push_str(sub);
                    self.vocab.get(buf.as_str())
                } else {
                    self.vocab.get(sub)
                };
                if let Some(&id) = hit {
                    found = Some(id);
                    break;
                }
                end -= sub.chars().next_back().map_or(1, char::len_utf8);
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(mark);
                    out.push(self.unk_id);
                    return;
                }
            }
        }
    }

    /// Ids of one normalized-then-pre-tokenized piece (`BertPreTokenizer`: split on whitespace, isolate
    /// punctuation), appended to `out`.
    fn piece_ids(&self, piece: &str, out: &mut Vec<u32>) {
        let norm = self.normalize(piece);
        let mut start: Option<usize> = None;
        for (i, c) in norm.char_indices() {
            if c.is_whitespace() {
                if let Some(s) = start.take() {
                    self.word_ids(&norm[s..i], out);
                }
            } else if is_bert_punc(c) {
                if let Some(s) = start.take() {
                    self.word_ids(&norm[s..i], out);
                }
                self.word_ids(&norm[i..i + c.len_utf8()], out);
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            self.word_ids(&norm[s..], out);
        }
    }

    fn piece_cached(&self, piece: &str, cache: &mut WordCache, out: &mut Vec<u32>) {
        if let Some(&(s, l)) = cache.map.get(piece) {
            out.extend_from_slice(&cache.store[s as usize..(s + l) as usize]);
            return;
        }
        let mark = out.len();
        self.piece_ids(piece, out);
        if cache.map.len() >= CACHE_CAP {
            cache.map.clear();
            cache.store.clear();
        }
        let s = cache.store.len() as u32;
        cache.store.extend_from_slice(&out[mark..]);
        cache
            .map
            .insert(piece.to_string(), (s, (out.len() - mark) as u32));
    }

    /// Whether `c` in the raw text ends up as a word boundary (a space after `BertNormalizer`'s cleaning, or
    /// whitespace for the pre-tokenizer). Every step of the normalizer is local to a character, except the
    /// canonical reordering of NFD, which never crosses a character of combining class 0 such as these; so the
    /// raw text can be cut here first and each piece normalized on its own (and cached) with the same result.
    #[inline]
    fn is_cut(&self, c: char) -> bool {
        let clean = self.normalizer.map(|n| n.clean_text).unwrap_or(false);
        if c.is_ascii() {
            return match c {
                ' ' | '\t' | '\n' | '\r' => true,
                '\x0b' | '\x0c' => !clean,
                _ => false,
            };
        }
        if clean {
            c.is_whitespace() && !c.is_other()
        } else {
            c.is_whitespace()
        }
    }

    /// Ids of `text` (no special tokens added), appended to `out`.
    pub fn encode_into(&self, text: &str, cache: &mut WordCache, out: &mut Vec<u32>) {
        let mut start: Option<usize> = None;
        for (i, c) in text.char_indices() {
            if self.is_cut(c) {
                if let Some(s) = start.take() {
                    self.piece_cached(&text[s..i], cache, out);
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            self.piece_cached(&text[s..], cache, out);
        }
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut WordCache::default(), &mut out);
        out
    }

    pub fn encode_batch(&self, texts: &[&str]) -> Vec<Vec<u32>> {
        texts
            .par_iter()
            .with_min_len(8)
            .map_init(WordCache::default, |cache, t| {
                let mut out = Vec::new();
                self.encode_into(t, cache, &mut out);
                out
            })
            .collect()
    }

    pub fn count_batch(&self, texts: &[&str]) -> Vec<usize> {
        texts
            .par_iter()
            .with_min_len(8)
            .map_init(
                || (WordCache::default(), Vec::new()),
                |(cache, buf), t| {
                    buf.clear();
                    self.encode_into(t, cache, buf);
                    buf.len()
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(vocab: &[&str], normalizer: &str) -> WordPiece {
        let v: serde_json::Map<String, Value> = vocab
            .iter()
            .enumerate()
            .map(|(i, s)| (s.to_string(), Value::from(i)))
            .collect();
        let j = format!(
            r###"{{"normalizer": {normalizer}, "pre_tokenizer": {{"type": "BertPreTokenizer"}},
                "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 9, "vocab": {}}}}}"###,
            Value::Object(v)
        );
        WordPiece::from_json(j.as_bytes(), "test").unwrap()
    }

    #[test]
    fn greedy_longest_match() {
        let m = model(
            &["[UNK]", "ba", "##na", "un", "##aff", "##able", "!"],
            "null",
        );
        assert_eq!(m.encode("banana"), vec![1, 2, 2]);
        assert_eq!(m.encode("unaffable!"), vec![3, 4, 5, 6]);
        // a word that cannot be covered is one [UNK]; so is a word longer than max_input_chars_per_word
        assert_eq!(m.encode("nanana ba"), vec![0, 1]);
        assert_eq!(m.encode("bananana"), vec![1, 2, 2, 2]);
        assert_eq!(m.encode("banananana"), vec![0]);
    }

    #[test]
    fn bert_normalizer() {
        let n = r#"{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                    "strip_accents": null, "lowercase": true}"#;
        let m = model(&["[UNK]", "cafe", "野", "口", ",", "a"], n);
        assert_eq!(m.normalize("Café\u{0}\tA"), "cafe a");
        assert_eq!(m.encode("CAFÉ,野口 a"), vec![1, 4, 2, 3, 5]);
    }

    #[test]
    fn rejects_other_models() {
        let j = br#"{"model": {"type": "BPE", "vocab": {}, "merges": []}}"#;
        assert!(WordPiece::from_json(j, "x").is_err());
    }
}
