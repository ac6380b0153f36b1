//! The trained artefact: vocabulary (id → bytes), ranked merges, added/special tokens and the pre-tokenizer.

use crate::pretok::Pretokenizer;
use rustc_hash::FxHashMap;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("merge #{rank} refers to unknown token id {id}")]
    BadMergeId { rank: usize, id: u32 },
    #[error("merge #{rank} produces bytes that are not in the vocabulary")]
    MergeNotInVocab { rank: usize },
    #[error("token id {0} is used twice")]
    DuplicateId(u32),
    #[error(
        "vocabulary has no token for byte 0x{0:02x}; a tiktoken rank file needs all 256 bytes"
    )]
    MissingByte(u8),
}

/// How adjacent parts are allowed to merge while encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeMode {
    /// Hugging Face semantics: only the listed merges `(left id, right id)` apply, lowest rank first.
    Pairs,
    /// tiktoken semantics: two parts merge when their concatenation is a token; its id is the rank.
    Ranks,
}

/// Where SentencePiece-style tokenizers put the dummy-prefix space (`"▁"`, read as the space byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepend {
    /// No dummy prefix.
    Never,
    /// Legacy `normalizer` `Prepend("▁")`: every non-empty text segment (between added tokens) gets one.
    Always,
    /// `Metaspace(prepend_scheme="always")`: every non-empty segment that does not start with a space.
    MetaspaceAlways,
    /// `Metaspace(prepend_scheme="first")`: only the segment at the start of the text, unless it starts
    /// with a space.
    MetaspaceFirst,
}

/// SentencePiece-style BPE with byte fallback (Llama 2, Mistral, TinyLlama `tokenizer.json`). Token bytes are
/// the piece with `"▁"` read as the space byte and `<0xNN>` as the byte `NN`. Encoding: spaces stand for
/// `"▁"` (a literal `"▁"` in the text is read as a space), the dummy prefix is added, and the whole text is
/// one chunk whose initial symbols are *characters*: a character that is a token is one symbol, any other
/// character becomes its UTF-8 bytes as the fallback tokens, which never merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentencePiece {
    pub prepend: Prepend,
    /// The decoder strips one leading space (`Strip(" ", 1, 0)`).
    pub strip_decoded: bool,
    /// Id of `<0xNN>` for each byte.
    pub fallback: [u32; 256],
}

impl SentencePiece {
    pub fn is_fallback(&self, id: u32) -> bool {
        // fallback ids are usually contiguous; a linear check is cheap enough for the rare callers
        self.fallback.contains(&id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedToken {
    pub content: String,
    pub id: u32,
    /// Special (control) tokens are skipped by `decode(skip_special=true)`.
    pub special: bool,
}

#[derive(Clone, Debug)]
pub struct BpeModel {
    /// id → token bytes; `None` for ids that hold no token (gaps in tiktoken files).
    pub vocab: Vec<Option<Vec<u8>>>,
    /// Merges in rank order (empty in `Ranks` mode unless derived).
    pub merges: Vec<(u32, u32)>,
    pub added: Vec<AddedToken>,
    pub pretok: Pretokenizer,
    pub mode: MergeMode,
    /// HF `ignore_merges`: a chunk that is a whole token is emitted as that token without merging.
    pub ignore_merges: bool,
    /// SentencePiece-style BPE with byte fallback (`None`: byte-level BPE).
    pub sp: Option<Box<SentencePiece>>,
}

impl BpeModel {
    /// Number of ids (one past the largest id).
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// Number of ids that hold a token.
    pub fn n_tokens(&self) -> usize {
        self.vocab.iter().filter(|t| t.is_some()).count()
    }

    /// bytes → id for the non-added tokens.
    pub fn token_ids(&self) -> FxHashMap<&[u8], u32> {
        let added: rustc_hash::FxHashSet<u32> = self.added.iter().map(|a| a.id).collect();
        let mut m = FxHashMap::default();
        for (id, t) in self.vocab.iter().enumerate() {
            if let Some(b) = t {
                let fb = self.sp.as_ref().is_some_and(|s| s.is_fallback(id as u32));
                if !added.contains(&(id as u32)) && !fb {
                    m.entry(b.as_slice()).or_insert(id as u32);
                }
            }
        }
        // A byte-fallback token names its byte only when no ordinary token has the same bytes (`<0x61>` is
        // never emitted when `a` is a token).
        if let Some(sp) = &self.sp {
            for (b, &id) in sp.fallback.iter().enumerate() {
                if let Some(Some(t)) = self.vocab.get(id as usize) {
                    debug_assert_eq!(t.as_slice(), [b as u8]);
                    m.entry(t.as_slice()).or_insert(id);
                }
            }
        }
        m
    }

    /// bytes → id for every token, added ones included (a regular token wins over an added one).
    pub fn all_token_ids(&self) -> FxHashMap<&[u8], u32> {
        let mut m = self.token_ids();
        for a in &self.added {
            if let Some(Some(b)) = self.vocab.get(a.id as usize) {
                m.entry(b.as_slice()).or_insert(a.id);
            }
        }
        m
    }

    /// Check internal consistency: every merge refers to known ids and produces a token of the vocabulary;
    /// every byte has a token.
    pub fn validate(&self) -> Result<(), ModelError> {
        let ids = self.all_token_ids();
        if self.mode == MergeMode::Ranks {
            // tiktoken needs every byte; HF merge-list models may lack some (such bytes are dropped, as HF does).
            for b in 0..=255u8 {
                if !ids.contains_key([b].as_slice()) {
                    return Err(ModelError::MissingByte(b));
                }
            }
        }
        for (rank, &(a, b)) in self.merges.iter().enumerate() {
            let get = |id: u32| {
                self.vocab
                    .get(id as usize)
                    .and_then(|t| t.as_ref())
                    .ok_or(ModelError::BadMergeId { rank, id })
            };
            let mut cat = get(a)?.clone();
            cat.extend_from_slice(get(b)?);
            if !ids.contains_key(cat.as_slice()) {
                return Err(ModelError::MergeNotInVocab { rank });
            }
        }
        Ok(())
    }
}
