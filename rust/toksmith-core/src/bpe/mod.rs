//! Byte-level BPE trainer with incremental pair counts.
//!
//! Input: chunk counts (from `count`). Each distinct chunk is a word of symbol ids; pair counts are kept in a
//! map and, per pair, the list of words where it occurs, so a merge only touches the words that contain the
//! pair (no full recount). The next merge is chosen by a `PairSelector` (plain frequency by default).
//! Inherited merges (`TrainConfig::initial_merges`) are applied first through the same update path, so a
//! second stage can start from the first stage's merges with chunks from a different pre-tokenizer.
//!
//! Ids: special tokens first, then the 256 bytes in GPT-2's alphabet order, then merges in order (the layout
//! HF tokenizers' trainer produces). The result does not depend on thread count or hash order.

pub mod driver;
pub mod objectives;
pub mod scorer;
pub mod supertok;

use crate::bytelevel;
use crate::model::{AddedToken, BpeModel, MergeMode};
use crate::pretok::Pretokenizer;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use scorer::{Frequency, PairSelector, PairView};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error("vocab_size {vocab_size} is too small: it must be at least 256 bytes + {specials} special tokens = {min}")]
    VocabTooSmall {
        vocab_size: usize,
        specials: usize,
        min: usize,
    },
    #[error("the corpus is empty: no text to learn from")]
    EmptyCorpus,
    #[error("duplicate special token {0:?}")]
    DuplicateSpecial(String),
    #[error("{0}")]
    BadSpecial(String),
    #[error("inherited merge #{0} refers to a token that earlier merges do not make")]
    BadInheritedMerge(usize),
    #[error("training was cancelled")]
    Cancelled,
}

#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Final vocabulary size, special tokens and the 256 bytes included.
    pub vocab_size: usize,
    /// Stop when the best pair occurs fewer times than this.
    pub min_frequency: u64,
    pub special_tokens: Vec<String>,
    /// Longest token allowed, in bytes.
    pub max_token_length: Option<usize>,
    /// Merges to apply first, as (left bytes, right bytes), in order.
    pub initial_merges: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            vocab_size: 32000,
            min_frequency: 2,
            special_tokens: Vec::new(),
            max_token_length: None,
            initial_merges: Vec::new(),
        }
    }
}

/// Progress reports: (merges done, merges planned). Return `false` to cancel.
pub type ProgressFn<'a> = dyn FnMut(usize, usize) -> bool + 'a;

/// Pair counts and per-pair word lists of consecutive word ranges (one shard per range, in range order),
/// added together. Merging in that fixed order keeps every pair's word list in word order.
pub(crate) fn merge_pair_shards(parts: Vec<PairTables>) -> PairTables {
    let mut pc: FxHashMap<u64, i64> = FxHashMap::default();
    let mut pw: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
    for (a, b) in parts {
        for (k, v) in a {
            *pc.entry(k).or_insert(0) += v;
        }
        for (k, mut v) in b {
            pw.entry(k).or_default().append(&mut v);
        }
    }
    (pc, pw)
}

#[inline(always)]
fn pack(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}
#[inline(always)]
fn unpack(p: u64) -> (u32, u32) {
    ((p >> 32) as u32, p as u32)
}

/// Merges with at least this many words to touch are spread over threads.
const PAR_MIN_WORDS: usize = 4096;
/// Words per parallel task.
const PAR_GRAIN: usize = 2048;

/// One merge: `pair` = (`a`, `b`) becomes `c`.
#[derive(Clone, Copy)]
struct Merge {
    a: u32,
    b: u32,
    c: u32,
    pair: u64,
}

/// The words that gained each new pair in one merge: (pair, words in ascending order).
type NewPairs = Vec<(u64, Vec<u32>)>;

/// Apply a merge to the words `idx` (sorted, distinct, global ids; `words` starts at id `base`), adding pair
/// count changes to `deltas` and, per new pair, the words that gained it to `new_pairs`.
///
/// Every changed pair has `a`, `b` or `c` on one side, so the changes are gathered per neighbour token (left of
/// a merged occurrence: `(p, a)` falls and `(p, c)` rises by the same count; right: `(b, n)` and `(c, n)`) in two
/// small maps and turned into pair deltas once per merge: two small-map updates per occurrence instead of five
/// updates of the big delta map. Sums are order-free, so the result is the same. The same maps collect each
/// neighbour's words, so the big per-pair word lists are looked up once per new pair, not once per occurrence
/// (their order does not matter: a merge sorts and dedups its list).
fn merge_words(
    words: &mut [Vec<u32>],
    base: u32,
    idx: &[u32],
    counts: &[u64],
    m: Merge,
    deltas: &mut FxHashMap<u64, i64>,
    new_pairs: &mut NewPairs,
) {
    let Merge { a, b, c, pair } = m;
    let mut left: FxHashMap<u32, (i64, Vec<u32>)> = FxHashMap::default();
    let mut right: FxHashMap<u32, (i64, Vec<u32>)> = FxHashMap::default();
    let mut merged: i64 = 0;
    for &w in idx {
        let cnt = counts[w as usize] as i64;
        let syms = &mut words[(w - base) as usize];
        // Compact in place: `out` trails `r`; the symbol before a match is read from the merged output and
        // the one after it from the input, exactly as merging left to right in place would see them.
        let len = syms.len();
        let (mut r, mut out) = (0usize, 0usize);
        while r < len {
            if r + 1 < len && syms[r] == a && syms[r + 1] == b {
                if out > 0 {
                    let e = left.entry(syms[out - 1]).or_default();
                    e.0 += cnt;
                    if e.1.last() != Some(&w) {
                        e.1.push(w);
                    }
                }
                merged += cnt;
                if r + 2 < len {
                    let e = right.entry(syms[r + 2]).or_default();
                    e.0 += cnt;
                    if e.1.last() != Some(&w) {
                        e.1.push(w);
                    }
                }
                syms[out] = c;
                r += 2;
            } else {
                syms[out] = syms[r];
                r += 1;
            }
            out += 1;
        }
        syms.truncate(out);
    }
    if merged != 0 {
        *deltas.entry(pair).or_insert(0) -= merged;
    }
    for (p, (v, ws)) in left {
        *deltas.entry(pack(p, a)).or_insert(0) -= v;
        *deltas.entry(pack(p, c)).or_insert(0) += v;
        new_pairs.push((pack(p, c), ws));
    }
    for (nx, (v, ws)) in right {
        *deltas.entry(pack(b, nx)).or_insert(0) -= v;
        *deltas.entry(pack(c, nx)).or_insert(0) += v;
        new_pairs.push((pack(c, nx), ws));
    }
}

/// `merge_words` over halves of `idx` in parallel (split at a word id, so each half owns its words).
fn merge_words_par(
    words: &mut [Vec<u32>],
    base: u32,
    idx: &[u32],
    counts: &[u64],
    m: Merge,
) -> (FxHashMap<u64, i64>, NewPairs) {
    if idx.len() <= PAR_GRAIN {
        let mut d = FxHashMap::default();
        let mut n = Vec::new();
        merge_words(words, base, idx, counts, m, &mut d, &mut n);
        return (d, n);
    }
    let mid = idx.len() / 2;
    let split = idx[mid] - base;
    let (lw, rw) = words.split_at_mut(split as usize);
    let (li, ri) = idx.split_at(mid);
    let ((mut d1, mut n1), (mut d2, n2)) = rayon::join(
        || merge_words_par(lw, base, li, counts, m),
        || merge_words_par(rw, base + split, ri, counts, m),
    );
    if d2.len() > d1.len() {
        std::mem::swap(&mut d1, &mut d2);
    }
    for (k, v) in d2 {
        *d1.entry(k).or_insert(0) += v;
    }
    n1.extend(n2);
    (d1, n1)
}

/// Pair counts and, per pair, the words holding it.
pub(crate) type PairTables = (FxHashMap<u64, i64>, FxHashMap<u64, Vec<u32>>);

/// State of the merge loop; public so other trainers (supertokens, morphology) can drive it.
pub struct BpeState {
    pub words: Vec<Vec<u32>>,
    pub word_counts: Vec<u64>,
    pub tokens: Vec<Vec<u8>>,
    pub token_len: Vec<u32>,
    pub token_ids: FxHashMap<Vec<u8>, u32>,
    pub merges: Vec<(u32, u32)>,
    pub pair_counts: FxHashMap<u64, i64>,
    pair_words: FxHashMap<u64, Vec<u32>>,
    n_special: usize,
    scratch_deltas: FxHashMap<u64, i64>,
    scratch_new: NewPairs,
}

impl BpeState {
    /// Build the state from chunk counts (any order): specials, 256 byte tokens, words as byte-token ids.
    pub fn new(chunks: &[(Box<str>, u64)], special_tokens: &[String]) -> Result<Self, TrainError> {
        let mut tokens: Vec<Vec<u8>> = Vec::new();
        let mut token_ids = FxHashMap::default();
        for s in special_tokens {
            if s.is_empty() {
                return Err(TrainError::BadSpecial(
                    "a special token cannot be empty".into(),
                ));
            }
            // tokenizer.json spells a byte token by its byte-level char: a special token with the same spelling
            // would be a second vocabulary entry under the same key.
            if s.chars().count() == 1 && bytelevel::decode(s).is_some() {
                return Err(TrainError::BadSpecial(format!(
                    "special token {s:?} is spelled like a byte token in tokenizer.json; choose another"
                )));
            }
            if token_ids
                .insert(s.as_bytes().to_vec(), tokens.len() as u32)
                .is_some()
            {
                return Err(TrainError::DuplicateSpecial(s.clone()));
            }
            tokens.push(s.as_bytes().to_vec());
        }
        // Special tokens are matched before pre-tokenization and never merged; their byte strings may equal a
        // byte token's only in pathological cases, which the map below resolves in favour of the byte.
        let mut byte_id = [0u32; 256];
        for &b in bytelevel::byte_order() {
            byte_id[b as usize] = tokens.len() as u32;
            token_ids.insert(vec![b], tokens.len() as u32);
            tokens.push(vec![b]);
        }
        let words: Vec<Vec<u32>> = chunks
            .par_iter()
            .map(|(w, _)| w.bytes().map(|b| byte_id[b as usize]).collect())
            .collect();
        let word_counts: Vec<u64> = chunks.iter().map(|(_, c)| *c).collect();
        let token_len = tokens.iter().map(|t| t.len() as u32).collect();
        let mut st = BpeState {
            words,
            word_counts,
            tokens,
            token_len,
            token_ids,
            merges: Vec::new(),
            pair_counts: FxHashMap::default(),
            pair_words: FxHashMap::default(),
            n_special: special_tokens.len(),
            scratch_deltas: FxHashMap::default(),
            scratch_new: Vec::new(),
        };
        st.count_pairs();
        Ok(st)
    }

    /// Full pair count (done once; later updates are incremental).
    fn count_pairs(&mut self) {
        let words = &self.words;
        let counts = &self.word_counts;
        let n = words.len();
        let nthreads = rayon::current_num_threads().max(1);
        let step = n.div_ceil(nthreads * 4).max(1);
        let parts: Vec<PairTables> = (0..n)
            .step_by(step)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|s| {
                let mut pc: FxHashMap<u64, i64> = FxHashMap::default();
                let mut pw: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
                for w in s..(s + step).min(n) {
                    let syms = &words[w];
                    let c = counts[w] as i64;
                    for win in syms.windows(2) {
                        let p = pack(win[0], win[1]);
                        *pc.entry(p).or_insert(0) += c;
                        let e = pw.entry(p).or_default();
                        if e.last() != Some(&(w as u32)) {
                            e.push(w as u32);
                        }
                    }
                }
                (pc, pw)
            })
            .collect();
        (self.pair_counts, self.pair_words) = merge_pair_shards(parts);
    }

    /// Words (indices into `words`) that may hold `pair`: a superset, possibly with repeats.
    pub fn words_with(&self, pair: u64) -> &[u32] {
        self.pair_words.get(&pair).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A state whose words are already token ids (e.g. stage-2 chunks encoded with stage-1 merges): `tokens`
    /// (specials first, then bytes, then merge results) and the `merges` that made them.
    pub fn from_tokens(
        tokens: Vec<Vec<u8>>,
        merges: Vec<(u32, u32)>,
        words: Vec<Vec<u32>>,
        word_counts: Vec<u64>,
        n_special: usize,
    ) -> Self {
        let mut st = BpeState::new(&[], &[]).expect("an empty state");
        st.token_len = tokens.iter().map(|t| t.len() as u32).collect();
        st.token_ids = FxHashMap::default();
        for (i, t) in tokens.iter().enumerate().skip(n_special) {
            st.token_ids.entry(t.clone()).or_insert(i as u32);
        }
        st.tokens = tokens;
        st.merges = merges;
        st.words = words;
        st.word_counts = word_counts;
        st.n_special = n_special;
        st.count_pairs();
        st
    }

    pub fn view(&self) -> PairView<'_> {
        PairView {
            counts: &self.pair_counts,
            token_len: &self.token_len,
        }
    }

    /// Merge `pair` everywhere; returns the pairs that appeared or grew.
    pub fn apply_merge(&mut self, pair: u64) -> Vec<u64> {
        let (a, b) = unpack(pair);
        let mut cat = self.tokens[a as usize].clone();
        cat.extend_from_slice(&self.tokens[b as usize]);
        let c = match self.token_ids.get(&cat) {
            Some(&id) => id,
            None => {
                let id = self.tokens.len() as u32;
                self.token_len.push(cat.len() as u32);
                self.token_ids.insert(cat.clone(), id);
                self.tokens.push(cat);
                id
            }
        };
        self.merges.push((a, b));
        let mut widx = self.pair_words.remove(&pair).unwrap_or_default();
        widx.sort_unstable();
        widx.dedup();

        let mut deltas = std::mem::take(&mut self.scratch_deltas);
        let mut new_pairs = std::mem::take(&mut self.scratch_new);
        deltas.clear();
        new_pairs.clear();
        let m = Merge { a, b, c, pair };
        if widx.len() >= PAR_MIN_WORDS && rayon::current_num_threads() > 1 {
            // Large merges: word ranges in parallel. Deltas are sums (order-free) and the new (pair, word)
            // entries are joined left range first, so the state is the same as merging serially.
            let (d, n) = merge_words_par(&mut self.words, 0, &widx, &self.word_counts, m);
            deltas = d;
            new_pairs = n;
        } else {
            merge_words(
                &mut self.words,
                0,
                &widx,
                &self.word_counts,
                m,
                &mut deltas,
                &mut new_pairs,
            );
        }
        let mut grew = Vec::new();
        for (&p, &d) in deltas.iter() {
            if d == 0 {
                continue;
            }
            let e = self.pair_counts.entry(p).or_insert(0);
            *e += d;
            if *e <= 0 {
                self.pair_counts.remove(&p);
            } else if d > 0 {
                grew.push(p);
            }
        }
        for (p, ws) in new_pairs.drain(..) {
            let e = self.pair_words.entry(p).or_default();
            if e.is_empty() {
                *e = ws;
            } else {
                e.extend(ws);
            }
        }
        self.scratch_deltas = deltas;
        self.scratch_new = new_pairs;
        grew.sort_unstable();
        grew
    }

    /// Turn the state into a model.
    pub fn into_model(self, special_tokens: &[String], pretok: Pretokenizer) -> BpeModel {
        let added = special_tokens
            .iter()
            .enumerate()
            .map(|(i, s)| AddedToken {
                content: s.clone(),
                id: i as u32,
                special: true,
            })
            .collect();
        let _ = self.n_special;
        BpeModel {
            vocab: self.tokens.into_iter().map(Some).collect(),
            merges: self.merges,
            added,
            pretok,
            mode: MergeMode::Pairs,
            ignore_merges: false,
            sp: None,
        }
    }
}

/// Train a byte-level BPE model from chunk counts (in any order: the result does not depend on it).
pub fn train(
    chunks: &[(Box<str>, u64)],
    pretok: Pretokenizer,
    cfg: &TrainConfig,
    selector: Option<Box<dyn PairSelector>>,
    progress: &mut ProgressFn,
) -> Result<BpeModel, TrainError> {
    let min = 256 + cfg.special_tokens.len();
    if cfg.vocab_size < min {
        return Err(TrainError::VocabTooSmall {
            vocab_size: cfg.vocab_size,
            specials: cfg.special_tokens.len(),
            min,
        });
    }
    if chunks.is_empty() {
        return Err(TrainError::EmptyCorpus);
    }
    let mut st = BpeState::new(chunks, &cfg.special_tokens)?;
    let planned = cfg.vocab_size - st.tokens.len();
    let report_every = (planned / 200).max(1);

    for (k, (l, r)) in cfg.initial_merges.iter().enumerate() {
        let (Some(&a), Some(&b)) = (st.token_ids.get(l), st.token_ids.get(r)) else {
            return Err(TrainError::BadInheritedMerge(k));
        };
        st.apply_merge(pack(a, b));
    }

    let mut sel: Box<dyn PairSelector> =
        selector.unwrap_or_else(|| Box::new(Frequency::new(cfg.min_frequency)));
    sel.init(&st.view());
    let mut banned: rustc_hash::FxHashSet<u64> = Default::default();
    let mut done = 0usize;
    while st.tokens.len() < cfg.vocab_size {
        let Some(pair) = sel.next(&st.view()) else {
            break;
        };
        if let Some(max) = cfg.max_token_length {
            let (a, b) = unpack(pair);
            if (st.token_len[a as usize] + st.token_len[b as usize]) as usize > max {
                // Never merge this pair: hide it from the selector for good.
                banned.insert(pair);
                st.pair_counts.remove(&pair);
                continue;
            }
        }
        let grew = st.apply_merge(pair);
        let grew: Vec<u64> = grew.into_iter().filter(|p| !banned.contains(p)).collect();
        sel.grew(&grew, &st.view());
        done += 1;
        if done.is_multiple_of(report_every) && !progress(done, planned) {
            return Err(TrainError::Cancelled);
        }
    }
    progress(done, planned);
    Ok(st.into_model(&cfg.special_tokens, pretok))
}

#[cfg(test)]
mod tests;
