//! Morphology-aware tokenization: segmenters (word → morph boundaries) and boundary-respecting BPE.
//!
//! A `Segmenter` maps a lower-cased word (a maximal run of letters and marks) to its internal morph boundaries,
//! as char offsets. Three are built in, chosen by a spec string (`from_spec`):
//! * `gold:FILE[,unseen=LAM[,known=lexicon]]` — segmentations read from a SIGMORPHON 2022 file (`gold.rs`); only
//!   entries whose morphs join back to the word give (surface) boundaries; other words get none, or with `unseen`
//!   a Viterbi segmentation under the file's morphs + the corpus's words (with `known=lexicon`, every word).
//! * `mdl` — Morfessor-Baseline-style MDL segmentation learned from word counts (`mdl.rs`).
//! * `lexicon:FILE[,compound=N]` — roots + affixes, longest root then an affix chain (`lexicon.rs`); FILE is our
//!   JSON or TSV, or a folder holding `turkish-tokenizer`'s `kokler.json` and `ekler.json`.
//!
//! `bpe.rs` trains byte-level BPE whose pair counts across a boundary are multiplied by a penalty (0: merges
//! never cross a boundary in the training words).

pub mod bpe;
pub mod encode;
pub mod gold;
pub mod lexicon;
pub mod mdl;

use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MorphError {
    #[error("unknown segmenter '{0}' (known: gold:FILE, mdl, lexicon:FILE)")]
    UnknownSegmenter(String),
    #[error("{path}:{line}: {msg}")]
    Malformed {
        path: String,
        line: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    BadFile { path: String, msg: String },
    #[error("cannot read {path}: {msg}")]
    Io { path: String, msg: String },
    #[error("the word list is empty: nothing to learn a segmentation from")]
    EmptyWordList,
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Train(#[from] crate::bpe::TrainError),
}

/// Splits words into morphs.
pub trait Segmenter: Send + Sync {
    /// A short description (`gold:eng.word.dev.tsv`, `mdl`, ...).
    fn name(&self) -> String;
    /// Internal boundaries of `word` (lower case, letters and marks), as increasing char offsets in `1..len`.
    fn boundaries(&self, word: &str) -> Vec<usize>;
    /// `word` cut at its boundaries.
    fn segment(&self, word: &str) -> Vec<String> {
        split_at_chars(word, &self.boundaries(word))
    }
}

/// Cut `word` at char offsets.
pub fn split_at_chars(word: &str, bounds: &[usize]) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut last = 0;
    for &b in bounds.iter().chain(std::iter::once(&chars.len())) {
        if b > last && b <= chars.len() {
            out.push(chars[last..b].iter().collect());
            last = b;
        }
    }
    out
}

/// Char offsets of the boundaries between consecutive morphs.
pub fn boundaries_of(morphs: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    for m in &morphs[..morphs.len().saturating_sub(1)] {
        at += m.chars().count();
        out.push(at);
    }
    out
}

/// Chars that make up words: letters and combining marks.
#[inline]
pub fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || unicode_categories::UnicodeCategories::is_mark(c)
}

/// Lower case, one char for one char (so char offsets carry over): the first char of the full mapping.
#[inline]
pub fn lower_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    c.to_lowercase().next().unwrap_or(c)
}

pub fn lower_word(w: &str) -> String {
    w.chars().map(lower_char).collect()
}

/// Byte ranges of the words (maximal runs of `is_word_char`) in `text`.
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if is_word_char(c) {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            out.push((s, i));
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// Byte offsets (inside `chunk`) of the morph boundaries of the words in `chunk`.
pub fn chunk_boundaries(seg: &dyn Segmenter, chunk: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (s, e) in word_spans(chunk) {
        let w = &chunk[s..e];
        let offs: Vec<usize> = w.char_indices().map(|(i, _)| i).collect();
        if offs.len() < 2 {
            continue;
        }
        for b in seg.boundaries(&lower_word(w)) {
            if b > 0 && b < offs.len() {
                out.push(s + offs[b]);
            }
        }
    }
    out
}

/// Word counts of chunk counts: lower-cased words, counts added up, sorted by word.
pub fn word_counts(chunks: &[(Box<str>, u64)]) -> Vec<(String, u64)> {
    let mut m: rustc_hash::FxHashMap<String, u64> = Default::default();
    for (c, n) in chunks {
        for (s, e) in word_spans(c) {
            *m.entry(lower_word(&c[s..e])).or_insert(0) += n;
        }
    }
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_unstable();
    v
}

/// A segmenter from its spec: `gold:FILE`, `mdl[:KEY=VALUE,...]`, `lexicon:FILE`. `mdl` learns from `words`
/// (word counts, e.g. from `word_counts`).
pub fn from_spec(spec: &str, words: &[(String, u64)]) -> Result<Box<dyn Segmenter>, MorphError> {
    let (kind, arg) = match spec.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (spec, None),
    };
    match (kind, arg) {
        ("gold", Some(p)) if !p.is_empty() => {
            Ok(Box::new(gold::GoldSegmenter::from_spec(p, words)?))
        }
        ("lexicon", Some(p)) if !p.is_empty() => {
            Ok(Box::new(lexicon::LexiconSegmenter::load_spec(p)?))
        }
        ("mdl", a) => {
            let cfg = mdl::MdlConfig::parse(a.unwrap_or(""))?;
            Ok(Box::new(mdl::MdlSegmenter::train(words, &cfg)?))
        }
        ("gold" | "lexicon", _) => Err(MorphError::Config(format!(
            "segmenter '{kind}' needs a file: {kind}:FILE"
        ))),
        _ => Err(MorphError::UnknownSegmenter(spec.to_string())),
    }
}

/// `FILE,KEY=VALUE` → (FILE, Some(VALUE)); a spec argument that names an existing file as a whole (commas and all),
/// or has no `,KEY=`, → (it, None).
pub(crate) fn split_option<'a>(arg: &'a str, key: &str) -> (&'a str, Option<&'a str>) {
    if Path::new(arg).exists() {
        return (arg, None);
    }
    match arg.rsplit_once(&format!(",{key}=")) {
        Some((p, v)) => (p, Some(v)),
        None => (arg, None),
    }
}

pub(crate) fn read_text(path: &Path) -> Result<String, MorphError> {
    std::fs::read_to_string(path).map_err(|e| MorphError::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Segmenter for Fixed {
        fn name(&self) -> String {
            "fixed".into()
        }
        fn boundaries(&self, w: &str) -> Vec<usize> {
            if w == "walked" {
                vec![4]
            } else {
                vec![]
            }
        }
    }

    #[test]
    fn spans_and_chunk_boundaries() {
        assert_eq!(word_spans(" Walked, ok"), vec![(1, 7), (9, 11)]);
        // " Walked" → boundary after "walk": byte 5 of the chunk.
        assert_eq!(chunk_boundaries(&Fixed, " Walked"), vec![5]);
        assert_eq!(chunk_boundaries(&Fixed, "walked!walked"), vec![4, 11]);
        assert_eq!(split_at_chars("evler", &[2]), vec!["ev", "ler"]);
        assert_eq!(boundaries_of(&["ev", "ler", "de"]), vec![2, 5]);
        assert_eq!(lower_char('İ'), 'i');
        assert_eq!(lower_word("ÇAY"), "çay");
    }

    #[test]
    fn word_counts_add_up() {
        let chunks: Vec<(Box<str>, u64)> =
            vec![(" The".into(), 2), ("the".into(), 3), (" cat.".into(), 1)];
        assert_eq!(
            word_counts(&chunks),
            vec![("cat".to_string(), 1), ("the".to_string(), 5)]
        );
    }

    #[test]
    fn bad_specs() {
        assert!(matches!(
            from_spec("wordpiece", &[]),
            Err(MorphError::UnknownSegmenter(_))
        ));
        assert!(matches!(from_spec("gold", &[]), Err(MorphError::Config(_))));
        assert!(matches!(
            from_spec("mdl", &[]),
            Err(MorphError::EmptyWordList)
        ));
        assert!(matches!(
            from_spec("gold:/nonexistent/x.tsv", &[]),
            Err(MorphError::Io { .. })
        ));
    }
}
