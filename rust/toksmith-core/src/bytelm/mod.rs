//! Exact byte-level probabilities from token-level language models (byte-level BPE tokenizers, and
//! SentencePiece-style BPE with byte fallback).
//!
//! # The distribution computed
//!
//! Let `p(t | T)` be the language model's next-token distribution after the token sequence `T` (after a fixed
//! context such as a BOS token). `encode` is the tokenizer's ordinary encoding of a text (pre-tokenize, then
//! BPE per chunk; added/special token strings inside the text are plain text). A token sequence `T` is a
//! *canonical prefix* if some continuation `s` makes `encode(decode(T) ++ s)` start with `T`.
//!
//! The *canonicalised model* `Q` masks and renormalises every step:
//!
//! ```text
//! Q(t | T)   = p(t | T)   * [T t is a canonical prefix]        / Z(T)
//! Q(EOS | T) = p(EOS | T) * [encode(decode(T)) == T]           / Z(T)
//! ```
//!
//! (`Z(T)` makes the row sum to one; added/special tokens other than EOS get no mass). Sampling tokens from `Q`
//! until EOS and decoding defines a distribution over texts in which each text `y` has exactly one token path,
//! so `P(y) = Q(encode(y) EOS)`. For a byte prefix `x`, [`ByteCover`] computes the next-byte distribution
//! `P(b | x) = P(x b ..) / P(x ..)` over the 256 bytes plus end of text, where
//! `P(x ..) = sum over the cover encodings T of x of Q(T)`: canonical prefixes whose decoding extends `x` and
//! whose last token starts inside `x` (Phan et al. 2024, arXiv 2410.09303, Lemma 1; the states form the
//! "valid covering tree" of Hayase et al. 2025, arXiv 2506.14123). The byte chain telescopes:
//! `sum_i log P(y_i | y_<i) + log P(EOT | y) = log Q(encode(y) EOS)`, exactly, for any text `y`.
//!
//! When the model already puts all its mass on canonical sequences, `Q = p` and this is the exact byte-level
//! marginal of the model. Otherwise `Q` is the model restricted to canonical tokenizations, which differs
//! from the marginal over all tokenizations; [`CoverConfig::canonical`]` = false` approximates that marginal
//! with a beam over all tokenizations (approximate: the beam drops states).
//!
//! # SentencePiece-style BPE with byte fallback
//!
//! (Llama 2 / Mistral / TinyLlama `tokenizer.json`, see [`crate::model::SentencePiece`].) A token's bytes are its
//! piece with `"▁"` read as the space byte and `<0xNN>` the byte `NN`; every text's token sequence spells the
//! dummy-prefix space first ([`ByteCover::stream_prefix`]): callers push it before the text and hide it, so the
//! token path of a text `y` is the encoding of `" " + y` (HF's own `encode(y)` except for the empty text and,
//! under `Metaspace(prepend_scheme="first")`, for texts starting with a space). Byte-fallback tokens never
//! merge, so the encoding is the BPE of each run of vocabulary characters on its own: validity is the pair
//! validity above with *characters* as the initial symbols inside such runs, plus the fallback rule: a run of
//! fallback tokens must spell whole characters that are not tokens (a trailing incomplete one must have such a
//! completion), and with a dummy prefix the first token starts with the space. The end of the last fallback
//! character is a stable point ([`ByteCover::stable_start`], [`ByteCover::reset_tail`]). A literal `"▁"` reads
//! as a space to the tokenizer and is never decoded, so a text holding one has probability 0. The merge lists
//! of SentencePiece conversions name every split of a piece and are not rank-monotone: `validity` then tests
//! the candidate pairs whose spines meet a merge by replaying both tokens' own merge sequences (exact).
//!
//! # Validity, exactly and fast
//!
//! - `validity`: BPE pair validity inside one chunk (spine intervals; ranges of a left-spine forest).
//! - `chunks`: pre-tokenization (stable chunk starts, boundary patterns of `z ++ t ++ probe` per class key).
//! - `cover`: the covering states, their masks and the byte-by-byte update.
//! - `trie`: token strings in lexicographic order; next-byte masses are range sums.

mod chunks;
mod cover;
mod trie;
mod validity;

#[cfg(test)]
mod tests;

pub use chunks::{probe_strings, stable_start, ChunkCtx};
pub use cover::{ByteCover, CoverConfig, CoverStats};
pub use trie::TokenTrie;
pub use validity::{PairValidity, Split};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BytelmError {
    #[error("the model returns {got} log-probabilities per row but the tokenizer has {need} ids")]
    VocabMismatch { got: usize, need: usize },
    #[error("{0}")]
    BadEos(String),
    #[error("unsupported tokenizer: {0}")]
    Unsupported(String),
    #[error(
        "no token sequence produces this text: byte 0x{byte:02x} at offset {pos} has probability 0"
    )]
    Impossible { pos: usize, byte: u8 },
    #[error("some covering states still wait for their next-token distributions")]
    Pending,
    #[error("unknown covering state {0}")]
    UnknownState(u32),
}
