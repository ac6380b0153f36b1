//! Merge objectives, one file each, registered by name (`NAMES`, `build`):
//! * `frequency` — plain BPE: the most frequent pair;
//! * `mdl` — the pair whose merge most reduces the order-0 entropy-coded size of the corpus plus the cost of
//!   writing the merge down; optionally stops when no merge pays for itself;
//! * `lz` — among the most frequent pairs, the one whose merge makes a sample of text, tokenized and written as a
//!   token-id stream, compress smallest with a fast LZ compressor (zstd or deflate).
//!
//! `train` runs byte-level BPE with any of them (the `compress` algorithm).

pub mod frequency;
pub mod lz;
pub mod mdl;

use super::driver::{self, ExtError, Limits, Progress, RunLog};
use super::scorer::PairSelector;
use super::{BpeState, ProgressFn, TrainError};
use crate::encode::Encoder;
use crate::model::{BpeModel, MergeMode};
use crate::pretok::Pretokenizer;

/// The registered objectives.
pub const NAMES: [&str; 3] = ["frequency", "mdl", "lz"];

/// Options of the objectives (each uses its own).
#[derive(Clone, Debug)]
pub struct ObjectiveConfig {
    pub name: String,
    /// Never merge a pair rarer than this.
    pub min_frequency: u64,
    /// `mdl`: stop when the best merge no longer shortens corpus + dictionary.
    pub stop_when_no_gain: bool,
    /// `lz`: how many of the most frequent pairs are re-scored per merge.
    pub lz_candidates: usize,
    /// `lz`: the compressor used as proxy: `zstd` or `deflate`.
    pub lz_codec: lz::Codec,
    /// `lz`: the sample (text) whose compressed token stream is minimised.
    pub lz_sample: Option<String>,
    /// Width of the token-id stream written for `lz` (2 bytes per id up to 65536 ids, else 4).
    pub final_vocab_size: usize,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        ObjectiveConfig {
            name: "frequency".into(),
            min_frequency: 2,
            stop_when_no_gain: false,
            lz_candidates: 8,
            lz_codec: lz::Codec::Zstd(3),
            lz_sample: None,
            final_vocab_size: 32000,
        }
    }
}

/// Check an objective name (for early, one-line errors).
pub fn check_name(name: &str) -> Result<(), ExtError> {
    if NAMES.contains(&name) {
        Ok(())
    } else {
        Err(ExtError::Config(format!(
            "unknown objective '{name}' (known: {})",
            NAMES.join(", ")
        )))
    }
}

/// Occurrences of each token in the state's words, weighted by word counts.
pub fn unigram_counts(st: &BpeState) -> Vec<i64> {
    let mut n = vec![0i64; st.tokens.len()];
    for (w, &c) in st.words.iter().zip(&st.word_counts) {
        for &t in w {
            n[t as usize] += c as i64;
        }
    }
    n
}

/// The state's tokenization of `text` (split by `pretok`): one id list per chunk.
pub fn tokenize_with_state(st: &BpeState, pretok: &Pretokenizer, text: &str) -> Vec<Vec<u32>> {
    let chunks = pretok.split_to_vec(text);
    let byte_id = |b: u8| st.token_ids[[b].as_slice()];
    if st.merges.is_empty() {
        return chunks
            .iter()
            .map(|c| c.bytes().map(byte_id).collect())
            .collect();
    }
    let model = BpeModel {
        vocab: st.tokens.iter().cloned().map(Some).collect(),
        merges: st.merges.clone(),
        added: Vec::new(),
        pretok: pretok.clone(),
        mode: MergeMode::Pairs,
        ignore_merges: false,
        sp: None,
    };
    let enc = Encoder::new(model).expect("a consistent state");
    chunks
        .iter()
        .map(|c| {
            let mut out = Vec::new();
            enc.bpe(c.as_bytes(), &mut out);
            out
        })
        .collect()
}

/// Build the named selector for `st` (its words and tokens as they are now).
pub fn build(
    cfg: &ObjectiveConfig,
    st: &BpeState,
    pretok: &Pretokenizer,
) -> Result<Box<dyn PairSelector>, ExtError> {
    check_name(&cfg.name)?;
    Ok(match cfg.name.as_str() {
        "frequency" => Box::new(frequency::new(cfg.min_frequency)),
        "mdl" => Box::new(mdl::Mdl::new(
            unigram_counts(st),
            cfg.min_frequency,
            cfg.stop_when_no_gain,
        )),
        "lz" => {
            let text = cfg.lz_sample.as_deref().unwrap_or("");
            if text.is_empty() {
                return Err(ExtError::Config(
                    "the lz objective needs a sample of text".into(),
                ));
            }
            let chunks = tokenize_with_state(st, pretok, text);
            Box::new(lz::Lz::new(
                &chunks,
                cfg.lz_candidates,
                cfg.lz_codec,
                cfg.final_vocab_size > 65536,
                cfg.min_frequency,
            ))
        }
        _ => unreachable!("checked above"),
    })
}

/// What `train` did besides the model.
#[derive(Clone, Debug, Default)]
pub struct ObjectiveReport {
    pub log: RunLog,
    /// True when the objective stopped before the vocabulary was full.
    pub stopped_early: bool,
}

/// Byte-level BPE with the objective `obj` picking each merge (the `compress` algorithm).
pub fn train(
    chunks: &[(Box<str>, u64)],
    pretok: Pretokenizer,
    cfg: &super::TrainConfig,
    obj: &ObjectiveConfig,
    progress: &mut ProgressFn,
) -> Result<(BpeModel, ObjectiveReport), ExtError> {
    check_name(&obj.name)?;
    let min = 256 + cfg.special_tokens.len();
    if cfg.vocab_size < min {
        return Err(TrainError::VocabTooSmall {
            vocab_size: cfg.vocab_size,
            specials: cfg.special_tokens.len(),
            min,
        }
        .into());
    }
    if chunks.is_empty() {
        return Err(TrainError::EmptyCorpus.into());
    }
    let mut st = BpeState::new(chunks, &cfg.special_tokens)?;
    let mut obj = obj.clone();
    obj.final_vocab_size = cfg.vocab_size;
    let mut sel = build(&obj, &st, &pretok)?;
    let lim = Limits {
        vocab_size: cfg.vocab_size,
        max_token_length: cfg.max_token_length,
        max_words: None,
    };
    let total = cfg.vocab_size - st.tokens.len();
    let log = driver::run(
        &mut st,
        sel.as_mut(),
        &lim,
        &mut Progress {
            f: progress,
            offset: 0,
            total,
        },
    )?;
    let stopped_early = st.tokens.len() < cfg.vocab_size;
    Ok((
        st.into_model(&cfg.special_tokens, pretok),
        ObjectiveReport { log, stopped_early },
    ))
}

#[cfg(test)]
mod tests;
