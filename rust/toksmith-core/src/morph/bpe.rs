//! Boundary-respecting BPE (MorphBPE, arXiv 2502.00894, with a soft variant).
//!
//! Each chunk's words are cut by a `Segmenter`; every junction between two adjacent symbols of a chunk is a
//! morph boundary or not. A pair occurrence at a boundary junction counts `penalty` times, others once; the
//! weights are integers (`SCALE` for 1, `round(penalty · SCALE)` at a boundary), so the result does not depend
//! on thread count or summation order. With `penalty = 0` occurrences at a boundary are neither counted nor
//! merged: no token of a training word ever spans a boundary. With `penalty = 1` this is plain BPE (same merges
//! as `bpe::train`). Merges apply at every occurrence with a positive weight, and a merged symbol keeps the
//! boundary flag of its left part's junction. The result is a plain byte-level BPE (ids: specials, 256 bytes,
//! merges), so its tokenizer.json encodes in HF `tokenizers` as in ours; the segmenter shapes training only.

use super::{chunk_boundaries, MorphError, Segmenter};
use crate::bpe::scorer::{Frequency, PairSelector, PairView};
use crate::bpe::{merge_pair_shards, BpeState, PairTables, ProgressFn, TrainError};
use crate::model::{AddedToken, BpeModel, MergeMode};
use crate::pretok::Pretokenizer;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

/// Weight of one occurrence of a pair that crosses no boundary.
pub const SCALE: i64 = 1 << 16;

#[derive(Clone, Debug)]
pub struct MorphBpeConfig {
    pub vocab_size: usize,
    pub min_frequency: u64,
    pub special_tokens: Vec<String>,
    pub max_token_length: Option<usize>,
    /// Multiplier of pair counts across a boundary, in [0, 1]: 0 hard, 1 plain BPE.
    pub penalty: f64,
}

impl Default for MorphBpeConfig {
    fn default() -> Self {
        MorphBpeConfig {
            vocab_size: 32000,
            min_frequency: 2,
            special_tokens: Vec::new(),
            max_token_length: None,
            penalty: 0.0,
        }
    }
}

/// What training saw and did.
#[derive(Clone, Debug, Default)]
pub struct MorphReport {
    pub segmenter: String,
    /// Distinct chunks, and those with at least one boundary.
    pub chunks: usize,
    pub chunks_with_boundaries: usize,
    /// Boundary occurrences in the training text (weighted by chunk counts).
    pub boundaries: u64,
    pub merges: usize,
    /// Merges that joined two symbols across a boundary at least once (0 when `penalty` is 0).
    pub crossing_merges: usize,
}

#[inline(always)]
fn pack(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}
#[inline(always)]
fn unpack(p: u64) -> (u32, u32) {
    ((p >> 32) as u32, p as u32)
}

/// Merge state: words as symbol ids plus, per word, a flag per symbol: is there a boundary before it.
pub struct MorphState {
    pub words: Vec<Vec<u32>>,
    pub bnd: Vec<Vec<bool>>,
    pub counts: Vec<u64>,
    pub tokens: Vec<Vec<u8>>,
    pub token_len: Vec<u32>,
    token_ids: FxHashMap<Vec<u8>, u32>,
    pub merges: Vec<(u32, u32)>,
    pub pair_counts: FxHashMap<u64, i64>,
    pair_words: FxHashMap<u64, Vec<u32>>,
    /// Weight of a boundary occurrence (per unit of count).
    wb: i64,
}

impl MorphState {
    /// `bounds[i]`: byte offsets of the boundaries inside chunk `i`.
    pub fn new(
        chunks: &[(Box<str>, u64)],
        bounds: &[Vec<usize>],
        special_tokens: &[String],
        penalty: f64,
    ) -> Result<Self, TrainError> {
        let base = BpeState::new(&[], special_tokens)?;
        let mut byte_id = [0u32; 256];
        for (i, t) in base.tokens.iter().enumerate().skip(special_tokens.len()) {
            byte_id[t[0] as usize] = i as u32;
        }
        let words: Vec<Vec<u32>> = chunks
            .par_iter()
            .map(|(w, _)| w.bytes().map(|b| byte_id[b as usize]).collect())
            .collect();
        let bnd: Vec<Vec<bool>> = chunks
            .par_iter()
            .zip(bounds.par_iter())
            .map(|((w, _), bs)| {
                let mut f = vec![false; w.len()];
                for &b in bs {
                    if b > 0 && b < f.len() {
                        f[b] = true;
                    }
                }
                f
            })
            .collect();
        let mut st = MorphState {
            words,
            bnd,
            counts: chunks.iter().map(|(_, c)| *c).collect(),
            token_len: base.token_len.clone(),
            tokens: base.tokens,
            token_ids: base.token_ids,
            merges: Vec::new(),
            pair_counts: FxHashMap::default(),
            pair_words: FxHashMap::default(),
            wb: (penalty * SCALE as f64).round() as i64,
        };
        st.count_pairs();
        Ok(st)
    }

    #[inline]
    fn weight(&self, cnt: i64, boundary: bool) -> i64 {
        cnt * if boundary { self.wb } else { SCALE }
    }

    fn count_pairs(&mut self) {
        let n = self.words.len();
        let step = n.div_ceil(rayon::current_num_threads().max(1) * 4).max(1);
        let parts: Vec<PairTables> = (0..n)
            .step_by(step)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|s| {
                let mut pc: FxHashMap<u64, i64> = FxHashMap::default();
                let mut pw: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
                for w in s..(s + step).min(n) {
                    let (syms, fl) = (&self.words[w], &self.bnd[w]);
                    let c = self.counts[w] as i64;
                    for i in 1..syms.len() {
                        let wt = self.weight(c, fl[i]);
                        if wt == 0 {
                            continue;
                        }
                        let p = pack(syms[i - 1], syms[i]);
                        *pc.entry(p).or_insert(0) += wt;
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

    pub fn view(&self) -> PairView<'_> {
        PairView {
            counts: &self.pair_counts,
            token_len: &self.token_len,
        }
    }

    /// Merge `pair` at every occurrence of positive weight; returns (pairs that grew, merged across a boundary).
    pub fn apply_merge(&mut self, pair: u64) -> (Vec<u64>, bool) {
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
        let (wb, mut crossed) = (self.wb, false);
        let weight = |cnt: i64, f: bool| cnt * if f { wb } else { SCALE };
        let mut deltas: FxHashMap<u64, i64> = FxHashMap::default();
        let mut new_pairs: Vec<(u64, u32)> = Vec::new();
        for &w in &widx {
            let cnt = self.counts[w as usize] as i64;
            let syms = &mut self.words[w as usize];
            let fl = &mut self.bnd[w as usize];
            let len = syms.len();
            let (mut r, mut out) = (0usize, 0usize);
            while r < len {
                if r + 1 < len && syms[r] == a && syms[r + 1] == b && weight(cnt, fl[r + 1]) > 0 {
                    crossed |= fl[r + 1];
                    if out > 0 {
                        let (p, wl) = (syms[out - 1], weight(cnt, fl[r]));
                        if wl > 0 {
                            *deltas.entry(pack(p, a)).or_insert(0) -= wl;
                            *deltas.entry(pack(p, c)).or_insert(0) += wl;
                            new_pairs.push((pack(p, c), w));
                        }
                    }
                    *deltas.entry(pair).or_insert(0) -= weight(cnt, fl[r + 1]);
                    if r + 2 < len {
                        let (nx, wr) = (syms[r + 2], weight(cnt, fl[r + 2]));
                        if wr > 0 {
                            *deltas.entry(pack(b, nx)).or_insert(0) -= wr;
                            *deltas.entry(pack(c, nx)).or_insert(0) += wr;
                            new_pairs.push((pack(c, nx), w));
                        }
                    }
                    syms[out] = c;
                    fl[out] = fl[r];
                    r += 2;
                } else {
                    syms[out] = syms[r];
                    fl[out] = fl[r];
                    r += 1;
                }
                out += 1;
            }
            syms.truncate(out);
            fl.truncate(out);
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
        for &(p, w) in &new_pairs {
            let e = self.pair_words.entry(p).or_default();
            if e.last() != Some(&w) {
                e.push(w);
            }
        }
        grew.sort_unstable();
        (grew, crossed)
    }
}

/// Train boundary-respecting BPE on chunk counts, cutting words with `seg`.
pub fn train(
    chunks: &[(Box<str>, u64)],
    pretok: Pretokenizer,
    seg: &dyn Segmenter,
    cfg: &MorphBpeConfig,
    progress: &mut ProgressFn,
) -> Result<(BpeModel, MorphReport), MorphError> {
    let bounds: Vec<Vec<usize>> = chunks
        .par_iter()
        .map(|(c, _)| chunk_boundaries(seg, c))
        .collect();
    train_with_boundaries(chunks, &bounds, pretok, seg.name(), cfg, progress)
}

/// Train with the boundaries of each chunk given (byte offsets inside the chunk).
pub fn train_with_boundaries(
    chunks: &[(Box<str>, u64)],
    bounds: &[Vec<usize>],
    pretok: Pretokenizer,
    seg_name: String,
    cfg: &MorphBpeConfig,
    progress: &mut ProgressFn,
) -> Result<(BpeModel, MorphReport), MorphError> {
    if !(cfg.penalty.is_finite() && (0.0..=1.0).contains(&cfg.penalty)) {
        return Err(MorphError::Config(format!(
            "boundary penalty must be between 0 (merges never cross a boundary) and 1 (plain BPE), not {}",
            cfg.penalty
        )));
    }
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
    let mut rep = MorphReport {
        segmenter: seg_name,
        chunks: chunks.len(),
        ..Default::default()
    };
    for ((_, c), b) in chunks.iter().zip(bounds) {
        if !b.is_empty() {
            rep.chunks_with_boundaries += 1;
            rep.boundaries += c * b.len() as u64;
        }
    }
    let mut st = MorphState::new(chunks, bounds, &cfg.special_tokens, cfg.penalty)?;
    rep.crossing_merges = run(&mut st, cfg, progress)?;
    rep.merges = st.merges.len();
    let added = cfg
        .special_tokens
        .iter()
        .enumerate()
        .map(|(i, s)| AddedToken {
            content: s.clone(),
            id: i as u32,
            special: true,
        })
        .collect();
    let model = BpeModel {
        vocab: st.tokens.into_iter().map(Some).collect(),
        merges: st.merges,
        added,
        pretok,
        mode: MergeMode::Pairs,
        ignore_merges: false,
        sp: None,
    };
    Ok((model, rep))
}

/// The merge loop; returns the number of merges that crossed a boundary.
fn run(
    st: &mut MorphState,
    cfg: &MorphBpeConfig,
    progress: &mut ProgressFn,
) -> Result<usize, MorphError> {
    let planned = cfg.vocab_size.saturating_sub(st.tokens.len());
    let report_every = (planned / 200).max(1);
    let mut sel = Frequency::new(cfg.min_frequency.max(1).saturating_mul(SCALE as u64));
    sel.init(&st.view());
    let mut banned: FxHashSet<u64> = FxHashSet::default();
    let (mut done, mut crossing) = (0usize, 0usize);
    while st.tokens.len() < cfg.vocab_size {
        let Some(pair) = sel.next(&st.view()) else {
            break;
        };
        if let Some(max) = cfg.max_token_length {
            let (a, b) = unpack(pair);
            if (st.token_len[a as usize] + st.token_len[b as usize]) as usize > max {
                banned.insert(pair);
                st.pair_counts.remove(&pair);
                continue;
            }
        }
        let (grew, crossed) = st.apply_merge(pair);
        crossing += usize::from(crossed);
        let grew: Vec<u64> = if banned.is_empty() {
            grew
        } else {
            grew.into_iter()
                .filter(|p| {
                    if banned.contains(p) {
                        st.pair_counts.remove(p);
                        false
                    } else {
                        true
                    }
                })
                .collect()
        };
        sel.grew(&grew, &st.view());
        done += 1;
        if done.is_multiple_of(report_every) && !progress(done, planned) {
            return Err(TrainError::Cancelled.into());
        }
    }
    progress(done, planned);
    Ok(crossing)
}

/// The state after training (each chunk's final training segmentation and boundary flags): for checks.
pub fn train_state(
    chunks: &[(Box<str>, u64)],
    bounds: &[Vec<usize>],
    cfg: &MorphBpeConfig,
) -> Result<MorphState, MorphError> {
    let mut st = MorphState::new(chunks, bounds, &cfg.special_tokens, cfg.penalty)?;
    run(&mut st, cfg, &mut |_, _| true)?;
    Ok(st)
}

#[cfg(test)]
mod tests;
