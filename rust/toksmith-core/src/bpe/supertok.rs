//! Supertoken training (SuperBPE, Liu et al. 2025): two stages of BPE.
//!
//! * Stage 1: plain BPE with the normal pre-tokenizer (cl100k by default) up to the transition vocabulary size `t`.
//! * Stage 2: BPE goes on from those merges with a coarser pre-tokenizer (`superword` by default) whose chunks can
//!   hold several words, so merges can join words (`" of the"`), up to `vocab_size`; a token may span at most
//!   `max_words` words.
//!
//! The input is one set of chunk counts, made with the stage-2 pre-tokenizer (the corpus is read once). Stage 1
//! counts the stage-1 split of each stage-2 chunk; with cl100k and superword that is exactly the cl100k count of the
//! text, as superword chunks are unions of whole cl100k chunks.
//!
//! Memory stays bounded by the distinct chunks, each held once with its count (about 0.8 M per 32 MB of English
//! prose; 1.8 GB peak for 256 MB at 64k), and stage 2 starts from each chunk already cut into stage-1 tokens rather
//! than bytes: the inherited merges are not replayed byte by byte. Each chunk is split once into stage-1 pieces,
//! numbered by a 64-bit SipHash of the piece (two different pieces with the same hash are detected when they come
//! from different parallel ranges, and the numbering is then redone with the strings; within one range they would
//! be taken for one piece, at odds of about 10^-8 for a million distinct pieces). The stage-1 tokens of a chunk are
//! the tokens of its pieces
//! joined, which is what applying the inherited merges to the chunk's bytes gives unless a merge could span two
//! pieces; a chunk where a byte pair across a piece boundary occurs inside some stage-1 token is re-encoded from its
//! bytes instead. Then every chunk is cut where its pair is rarer than a bar no merge goes below (see `fragments`:
//! exact), identical short pieces are added together, and stage 2 runs on those pieces. The saved model uses the
//! stage-2 pre-tokenizer and all merges, so encoding reproduces the training segmentation (tested), and the merges
//! equal those of plain BPE on the stage-2 chunks started from the stage-1 merges (tested).
//!
//! Automatic transition: stage 1 runs to the full vocabulary, recording the count `f1(k)` of each merge (the tokens
//! it saves), and the pairs of whole stage-1 tokens across word boundaries in stage-2 chunks are counted (`h(j)`,
//! sorted: roughly what the stage-2 merges would save). The transition maximises
//! `Σ_{k<m} f1(k) + Σ_{j<M-m} h(j)` over the number `m` of stage-1 merges (`M` merges in all): stage-1 merges stop
//! paying where they save fewer tokens than the supermerges they displace.

use super::driver::{self, ExtError, Limits, Progress, RunLog};
use super::objectives::{self, ObjectiveConfig};
use super::scorer::{Frequency, PairSelector};
use super::{pack, BpeState, ProgressFn, TrainError};
use crate::encode::Encoder;
use crate::model::{AddedToken, BpeModel, MergeMode};
use crate::pretok::Pretokenizer;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::time::Instant;

/// Where stage 1 stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Vocabulary size (specials and bytes included) at the end of stage 1.
    Fixed(usize),
    /// Chosen from the data (see the module doc).
    Auto,
}

#[derive(Clone, Debug)]
pub struct SuperConfig {
    pub vocab_size: usize,
    pub transition: Transition,
    /// Most words per token (`None`: no bound).
    pub max_words: Option<usize>,
    pub min_frequency: u64,
    pub special_tokens: Vec<String>,
    pub max_token_length: Option<usize>,
    /// Stage-2 merge objective (`None`: frequency). Stage 1 is always plain BPE.
    pub objective: Option<ObjectiveConfig>,
    /// Stage 2 first cuts chunks at pairs seen fewer than (count of the pair ranked as many as the merges to
    /// make) / this many times (frequency objective only; 0: cut only below `min_frequency`). Any value gives the
    /// same merges: when the bar turns out too high, stage 2 is redone with a lower one. Default 2.
    pub prune_divisor: u64,
}

impl Default for SuperConfig {
    fn default() -> Self {
        SuperConfig {
            vocab_size: 32000,
            transition: Transition::Auto,
            max_words: Some(4),
            min_frequency: 2,
            special_tokens: Vec::new(),
            max_token_length: None,
            objective: None,
            prune_divisor: THETA_DIVISOR,
        }
    }
}

/// What training did.
#[derive(Clone, Debug, Default)]
pub struct SuperReport {
    /// Vocabulary size at the end of stage 1.
    pub transition: usize,
    pub auto: bool,
    pub stage1_merges: usize,
    pub stage2_merges: usize,
    /// Distinct chunks of each stage.
    pub stage1_chunks: usize,
    pub stage2_chunks: usize,
    /// Stage-2 chunks of two or more stage-1 tokens (the only ones stage 2 can merge in).
    pub stage2_words: usize,
    /// Stage-2 chunks re-encoded from bytes because a stage-1 merge might span two pieces.
    pub reencoded: usize,
    /// Stage-2 pairs refused because the token would span more than `max_words` words (or be too long).
    pub refused: usize,
    /// Auto: predicted saving (tokens) at a few transitions, for inspection.
    pub auto_curve: Vec<(usize, f64)>,
    pub seconds_stage1: f64,
    pub seconds_encode: f64,
    pub seconds_stage2: f64,
    /// Distinct stage-2 pieces trained on (chunks cut at pairs too rare to merge, then added together).
    pub stage2_fragments: usize,
    /// The count below which stage-2 pairs were cut, and how often stage 2 was redone with a lower one.
    pub theta: u64,
    pub stage2_redone: usize,
    pub stage1_log: RunLog,
    pub stage2_log: RunLog,
}

/// Phase timings on stderr when `TOKSMITH_PROFILE` is set.
fn prof(what: &str, t: Instant) {
    if std::env::var_os("TOKSMITH_PROFILE").is_some() {
        // CPU seconds of the process so far (utime + stime from /proc, in clock ticks of 1/100 s).
        let cpu = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let f: Vec<&str> = s.rsplit(')').next()?.split_whitespace().collect();
                Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
            })
            .unwrap_or(0.0);
        eprintln!(
            "supertok: {what} {:.3}s (cpu {cpu:.1}s)",
            t.elapsed().as_secs_f64()
        );
    }
}

/// `n` items cut into about `parts` contiguous ranges.
fn ranges(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let step = n.div_ceil(parts.max(1)).max(1);
    (0..n)
        .step_by(step)
        .map(|s| (s, (s + step).min(n)))
        .collect()
}

fn parts() -> usize {
    rayon::current_num_threads().max(1) * 4
}

/// Add maps together (the largest absorbs the others).
fn add_maps<K: std::hash::Hash + Eq>(maps: Vec<FxHashMap<K, u64>>) -> FxHashMap<K, u64> {
    let mut maps = maps;
    maps.sort_by_key(|m| std::cmp::Reverse(m.len()));
    let mut it = maps.into_iter();
    let mut acc = it.next().unwrap_or_default();
    for m in it {
        for (k, v) in m {
            *acc.entry(k).or_insert(0) += v;
        }
    }
    acc
}

/// The stage-1 pieces of the stage-2 chunks: each distinct piece once, with its count (the stage-1 counts), and
/// every chunk as a sequence of piece ids (so later passes need not split or hash strings again).
struct Pieces<'c> {
    strs: Vec<&'c str>,
    counts: Vec<u64>,
    /// Piece ids of all chunks, in chunk order; chunk `i` ends at `ends[i]`.
    seq: Vec<u32>,
    ends: Vec<usize>,
}

impl Pieces<'_> {
    fn chunk(&self, i: usize) -> &[u32] {
        let s = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.seq[s..self.ends[i]]
    }
}

/// A 64-bit SipHash of a piece (a key that is cheaper to look up than the string itself).
fn piece_hash(p: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(p.as_bytes());
    h.finish()
}

/// Split every chunk with the stage-1 pre-tokenizer and number the pieces. Pieces are keyed by `key`; with a
/// hashed key, two different pieces with the same hash are detected and `None` is returned.
fn intern_with<'c, K, F>(
    chunks: &'c [(Box<str>, u64)],
    pretok1: &Pretokenizer,
    key: F,
    hashed: bool,
) -> Option<Pieces<'c>>
where
    K: std::hash::Hash + Eq + Copy + Send,
    F: Fn(&'c str) -> K + Sync,
{
    struct Local<'c, K> {
        ids: FxHashMap<K, u32>,
        strs: Vec<&'c str>,
        counts: Vec<u64>,
        seq: Vec<u32>,
        ends: Vec<usize>,
    }
    let locals: Vec<Local<K>> = ranges(chunks.len(), parts())
        .into_par_iter()
        .map(|(s, e)| {
            let mut l = Local {
                ids: FxHashMap::default(),
                strs: Vec::new(),
                counts: Vec::new(),
                seq: Vec::new(),
                ends: Vec::with_capacity(e - s),
            };
            for (c, n) in &chunks[s..e] {
                pretok1.split(c, |p| {
                    let next = l.strs.len() as u32;
                    let id = *l.ids.entry(key(p)).or_insert(next);
                    if id == next {
                        l.strs.push(p);
                        l.counts.push(0);
                    }
                    l.counts[id as usize] += n;
                    l.seq.push(id);
                });
                l.ends.push(l.seq.len());
            }
            l
        })
        .collect();
    let mut global: FxHashMap<K, u32> = FxHashMap::default();
    let mut out = Pieces {
        strs: Vec::new(),
        counts: Vec::new(),
        seq: Vec::with_capacity(locals.iter().map(|l| l.seq.len()).sum()),
        ends: Vec::with_capacity(chunks.len()),
    };
    for l in locals {
        let mut remap = vec![0u32; l.strs.len()];
        for (k, &lid) in &l.ids {
            let next = out.strs.len() as u32;
            let gid = *global.entry(*k).or_insert(next);
            if gid == next {
                out.strs.push(l.strs[lid as usize]);
                out.counts.push(0);
            } else if hashed && out.strs[gid as usize] != l.strs[lid as usize] {
                return None;
            }
            out.counts[gid as usize] += l.counts[lid as usize];
            remap[lid as usize] = gid;
        }
        let off = out.seq.len();
        out.seq.extend(l.seq.iter().map(|&x| remap[x as usize]));
        out.ends.extend(l.ends.iter().map(|e| e + off));
    }
    Some(out)
}

fn intern<'c>(chunks: &'c [(Box<str>, u64)], pretok1: &Pretokenizer) -> Pieces<'c> {
    intern_with(chunks, pretok1, piece_hash, true)
        .or_else(|| intern_with(chunks, pretok1, |p: &'c str| p, false))
        .expect("exact keys never collide")
}

/// Byte pairs that occur inside some token (as a 65536-bit set).
struct Bigrams(Vec<u64>);
impl Bigrams {
    fn of(tokens: &[Vec<u8>]) -> Self {
        let mut s = vec![0u64; 1024];
        for t in tokens {
            for w in t.windows(2) {
                let k = (w[0] as usize) << 8 | w[1] as usize;
                s[k >> 6] |= 1 << (k & 63);
            }
        }
        Bigrams(s)
    }
    #[inline]
    fn has(&self, a: u8, b: u8) -> bool {
        let k = (a as usize) << 8 | b as usize;
        self.0[k >> 6] & (1 << (k & 63)) != 0
    }
}

/// The model after the first `m` merges of `st` (the tokens those merges made, and no more).
fn truncated(st: &BpeState, m: usize, n_special: usize) -> (Vec<Vec<u8>>, Vec<(u32, u32)>) {
    let base = n_special + 256;
    let mut ntok = base;
    for &(a, b) in &st.merges[..m] {
        let mut cat = st.tokens[a as usize].clone();
        cat.extend_from_slice(&st.tokens[b as usize]);
        if st.token_ids[&cat] as usize == ntok {
            ntok += 1;
        }
    }
    (st.tokens[..ntok].to_vec(), st.merges[..m].to_vec())
}

fn encoder(tokens: &[Vec<u8>], merges: &[(u32, u32)], specials: &[String]) -> Encoder {
    let model = BpeModel {
        vocab: tokens.iter().cloned().map(Some).collect(),
        merges: merges.to_vec(),
        added: specials
            .iter()
            .enumerate()
            .map(|(i, s)| AddedToken {
                content: s.clone(),
                id: i as u32,
                special: true,
            })
            .collect(),
        pretok: Pretokenizer::preset(crate::pretok::Preset::None),
        mode: MergeMode::Pairs,
        ignore_merges: false,
        sp: None,
    };
    Encoder::new(model).expect("a consistent stage-1 model")
}

/// Stage-2 chunks as stage-1 token ids, in one flat arena (chunks of fewer than two tokens are left out).
#[derive(Default)]
struct Arena {
    toks: Vec<u32>,
    /// End of each word in `toks`.
    ends: Vec<usize>,
    counts: Vec<u64>,
    reencoded: usize,
}

impl Arena {
    fn word(&self, i: usize) -> &[u32] {
        let s = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.toks[s..self.ends[i]]
    }
    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Encode the stage-2 chunks with the stage-1 tokens: each chunk's stage-1 pieces' tokens joined, unless a byte
/// pair across a piece boundary occurs inside a stage-1 token; then the chunk's bytes are merged from scratch.
fn encode_chunks(
    chunks: &[(Box<str>, u64)],
    pieces: &Pieces,
    piece_tokens: &[Vec<u32>],
    enc: &Encoder,
    bigrams: &Bigrams,
) -> Arena {
    let first: Vec<u8> = pieces.strs.iter().map(|p| p.as_bytes()[0]).collect();
    let last: Vec<u8> = pieces
        .strs
        .iter()
        .map(|p| *p.as_bytes().last().expect("pieces are not empty"))
        .collect();
    let arenas: Vec<Arena> = ranges(chunks.len(), parts())
        .into_par_iter()
        .map(|(s, e)| {
            let mut a = Arena::default();
            let mut w: Vec<u32> = Vec::new();
            for (i, (text, count)) in chunks.iter().enumerate().take(e).skip(s) {
                let ids = pieces.chunk(i);
                if ids.len() == 1 && piece_tokens[ids[0] as usize].len() < 2 {
                    continue;
                }
                w.clear();
                let exact = ids
                    .windows(2)
                    .all(|p| !bigrams.has(last[p[0] as usize], first[p[1] as usize]));
                if exact {
                    for &p in ids {
                        w.extend_from_slice(&piece_tokens[p as usize]);
                    }
                } else {
                    enc.bpe(text.as_bytes(), &mut w);
                    a.reencoded += 1;
                }
                if w.len() >= 2 {
                    a.toks.extend_from_slice(&w);
                    a.ends.push(a.toks.len());
                    a.counts.push(*count);
                }
            }
            a
        })
        .collect();
    let mut out = Arena {
        toks: Vec::with_capacity(arenas.iter().map(|a| a.toks.len()).sum()),
        ..Default::default()
    };
    for a in arenas {
        let off = out.toks.len();
        out.toks.extend_from_slice(&a.toks);
        out.ends.extend(a.ends.iter().map(|e| e + off));
        out.counts.extend_from_slice(&a.counts);
        out.reencoded += a.reencoded;
    }
    out
}

/// Pair counts of the arena, in shards by hash (one shard per task, so no map is ever merged).
struct PairTable {
    shards: Vec<FxHashMap<u64, u64>>,
    bits: u32,
}

impl PairTable {
    #[inline]
    fn shard(bits: u32, p: u64) -> usize {
        if bits == 0 {
            0
        } else {
            (p.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
        }
    }
    fn count(a: &Arena) -> Self {
        let bits = (rayon::current_num_threads().max(1) * 2)
            .next_power_of_two()
            .trailing_zeros();
        let shards = (0..1usize << bits)
            .into_par_iter()
            .map(|sh| {
                let mut m: FxHashMap<u64, u64> = FxHashMap::default();
                for i in 0..a.len() {
                    let c = a.counts[i];
                    for w in a.word(i).windows(2) {
                        let p = pack(w[0], w[1]);
                        if Self::shard(bits, p) == sh {
                            *m.entry(p).or_insert(0) += c;
                        }
                    }
                }
                m
            })
            .collect();
        PairTable { shards, bits }
    }
    /// The `k`-th largest count (1-based; 0 if there are fewer pairs).
    fn kth_largest(&self, k: usize) -> u64 {
        let mut v: Vec<u64> = self
            .shards
            .iter()
            .flat_map(|m| m.values().copied())
            .collect();
        if k == 0 || k > v.len() {
            return 0;
        }
        let (_, x, _) = v.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
        *x
    }
}

/// Cut every word where its pair occurs fewer than `theta` times in all, and add identical pieces together
/// (pieces of one token are left out).
///
/// Exact as long as every merge made has a count of at least `theta`: a pair across a cut is rarer than that and
/// stays so (any pair later made across the cut occurs only where the cut pair did), so no merge could span it.
fn fragments(a: &Arena, table: &PairTable, theta: u64) -> (Vec<Vec<u32>>, Vec<u64>) {
    // A pair is at most as frequent as its rarer token: tokens rarer than `theta` cut without a table lookup.
    let mut unigram = vec![0u64; a.toks.iter().copied().max().map_or(0, |m| m as usize + 1)];
    for i in 0..a.len() {
        for &t in a.word(i) {
            unigram[t as usize] += a.counts[i];
        }
    }
    // Short pieces recur and are added together (keyed without allocating); long ones are nearly all distinct and
    // are kept as they come (a repeat is harmless: its pairs are simply counted from two words).
    // The pairs at or above the bar, sharded as the table: far fewer than all pairs, so looking them up stays in
    // cache (a pair is cut exactly when it is not here).
    let keep: Vec<rustc_hash::FxHashSet<u64>> = table
        .shards
        .par_iter()
        .map(|m| {
            m.iter()
                .filter(|(_, &v)| v >= theta)
                .map(|(&k, _)| k)
                .collect()
        })
        .collect();
    let frequent = |p: u64| keep[PairTable::shard(table.bits, p)].contains(&p);
    const SHORT: usize = 4;
    type Short = [u32; SHORT];
    type Part = (FxHashMap<Short, u64>, Vec<Vec<u32>>, Vec<u64>);
    let parts_out: Vec<Part> = ranges(a.len(), parts())
        .into_par_iter()
        .map(|(s, e)| {
            let mut short: FxHashMap<Short, u64> = FxHashMap::default();
            let mut long: Vec<Vec<u32>> = Vec::new();
            let mut long_counts: Vec<u64> = Vec::new();
            for i in s..e {
                let w = a.word(i);
                let c = a.counts[i];
                let mut start = 0;
                for k in 1..=w.len() {
                    let cut = k == w.len() || {
                        let (x, y) = (w[k - 1], w[k]);
                        unigram[x as usize] < theta
                            || unigram[y as usize] < theta
                            || !frequent(pack(x, y))
                    };
                    if cut {
                        let f = &w[start..k];
                        if f.len() >= 2 && f.len() <= SHORT {
                            let mut key = [u32::MAX; SHORT];
                            key[..f.len()].copy_from_slice(f);
                            *short.entry(key).or_insert(0) += c;
                        } else if f.len() > SHORT {
                            long.push(f.to_vec());
                            long_counts.push(c);
                        }
                        start = k;
                    }
                }
            }
            (short, long, long_counts)
        })
        .collect();
    let mut shorts = Vec::with_capacity(parts_out.len());
    let mut words = Vec::new();
    let mut counts = Vec::new();
    for (sh, l, lc) in parts_out {
        shorts.push(sh);
        words.extend(l);
        counts.extend(lc);
    }
    for (k, v) in add_maps(shorts) {
        words.push(k.iter().copied().take_while(|&t| t != u32::MAX).collect());
        counts.push(v);
    }
    (words, counts)
}

/// Counts of pairs of whole stage-1 tokens across piece (word) boundaries, largest first.
fn cross_pair_counts(
    chunks: &[(Box<str>, u64)],
    pieces: &Pieces,
    piece_tokens: &[Vec<u32>],
) -> Vec<u64> {
    let maps: Vec<FxHashMap<u64, u64>> = ranges(chunks.len(), parts())
        .into_par_iter()
        .map(|(s, e)| {
            let mut m: FxHashMap<u64, u64> = FxHashMap::default();
            for (i, (_, n)) in chunks.iter().enumerate().take(e).skip(s) {
                for p in pieces.chunk(i).windows(2) {
                    let l = piece_tokens[p[0] as usize].last();
                    let r = piece_tokens[p[1] as usize].first();
                    if let (Some(&l), Some(&r)) = (l, r) {
                        *m.entry(pack(l, r)).or_insert(0) += n;
                    }
                }
            }
            m
        })
        .collect();
    let mut v: Vec<u64> = add_maps(maps).into_values().collect();
    v.par_sort_unstable_by(|a, b| b.cmp(a));
    v
}

/// Pick the number of stage-1 merges `m` in `0..total` maximising `Σ_{k<m} f1[k] + Σ_{j<total-m} h[j]`.
pub fn choose_transition(f1: &[i64], h: &[u64], total: usize) -> (usize, Vec<(usize, f64)>) {
    let mut p1 = vec![0f64; total + 1];
    for m in 1..=total {
        p1[m] = p1[m - 1] + f1.get(m - 1).copied().unwrap_or(0).max(0) as f64;
    }
    let mut p2 = vec![0f64; total + 1];
    for j in 1..=total {
        p2[j] = p2[j - 1] + h.get(j - 1).copied().unwrap_or(0) as f64;
    }
    let mut best = (f64::MIN, 0usize);
    for m in 0..total {
        let s = p1[m] + p2[total - m];
        if s >= best.0 {
            best = (s, m);
        }
    }
    let curve = (1..=10)
        .map(|i| {
            let m = (total * i / 10).min(total - 1);
            (m, p1[m] + p2[total - m])
        })
        .collect();
    (best.1, curve)
}

/// Train a supertoken model from stage-2 chunk counts (consumed, to free their memory early).
pub fn train(
    chunks: Vec<(Box<str>, u64)>,
    pretok1: &Pretokenizer,
    pretok2: Pretokenizer,
    cfg: &SuperConfig,
    progress: &mut ProgressFn,
) -> Result<(BpeModel, SuperReport), ExtError> {
    let n_special = cfg.special_tokens.len();
    let base = 256 + n_special;
    if cfg.vocab_size < base + 1 {
        return Err(ExtError::Config(format!(
            "vocab_size {} is too small for supertokens: it must be above 256 bytes + {} special tokens",
            cfg.vocab_size, n_special
        )));
    }
    if let Transition::Fixed(t) = cfg.transition {
        if t >= cfg.vocab_size {
            return Err(ExtError::Config(format!(
                "transition {t} must be smaller than vocab_size {}",
                cfg.vocab_size
            )));
        }
        if t < base {
            return Err(ExtError::Config(format!(
                "transition {t} is too small: it must be at least 256 bytes + {n_special} special tokens = {base}"
            )));
        }
    }
    if cfg.max_words == Some(0) {
        return Err(ExtError::Config("max_words must be at least 1".into()));
    }
    if let Some(o) = &cfg.objective {
        objectives::check_name(&o.name)?;
    }
    if chunks.is_empty() {
        return Err(TrainError::EmptyCorpus.into());
    }
    let mut rep = SuperReport {
        stage2_chunks: chunks.len(),
        auto: cfg.transition == Transition::Auto,
        ..Default::default()
    };
    let total_merges = cfg.vocab_size - base;

    // Stage 1.
    let t0 = Instant::now();
    let pieces = intern(&chunks, pretok1);
    let chunks1: Vec<(Box<str>, u64)> = pieces
        .strs
        .iter()
        .zip(&pieces.counts)
        .map(|(k, &v)| (Box::from(*k), v))
        .collect();
    rep.stage1_chunks = chunks1.len();
    prof("stage-1 counts", t0);
    let mut st1 = BpeState::new(&chunks1, &cfg.special_tokens)?;
    let stage1_target = match cfg.transition {
        Transition::Fixed(t) => t,
        Transition::Auto => cfg.vocab_size,
    };
    let planned = match cfg.transition {
        Transition::Fixed(_) => total_merges,
        Transition::Auto => 2 * total_merges,
    };
    let mut sel1 = Frequency::new(cfg.min_frequency);
    let log1 = driver::run(
        &mut st1,
        &mut sel1,
        &Limits {
            vocab_size: stage1_target,
            max_token_length: cfg.max_token_length,
            max_words: None,
        },
        &mut Progress {
            f: progress,
            offset: 0,
            total: planned,
        },
    )?;
    rep.seconds_stage1 = t0.elapsed().as_secs_f64();

    // Transition.
    let t1 = Instant::now();
    let m1 = match cfg.transition {
        Transition::Fixed(_) => st1.merges.len(),
        Transition::Auto => {
            let h = cross_pair_counts(&chunks, &pieces, &st1.words);
            let (m, curve) = choose_transition(&log1.counts, &h, total_merges);
            rep.auto_curve = curve.into_iter().map(|(m, s)| (base + m, s)).collect();
            m.min(st1.merges.len())
        }
    };
    prof("transition", t1);
    let (tokens, merges) = truncated(&st1, m1, n_special);
    rep.transition = tokens.len();
    rep.stage1_merges = m1;
    let enc = encoder(&tokens, &merges, &cfg.special_tokens);
    let piece_tokens: Vec<Vec<u32>> = if m1 == st1.merges.len() {
        std::mem::take(&mut st1.words)
    } else {
        chunks1
            .par_iter()
            .map(|(p, _)| {
                let mut out = Vec::new();
                enc.bpe(p.as_bytes(), &mut out);
                out
            })
            .collect()
    };
    rep.stage1_log = log1;
    drop(st1);
    prof("piece tokens", t1);
    let bigrams = Bigrams::of(&tokens[n_special..]);
    let arena = encode_chunks(&chunks, &pieces, &piece_tokens, &enc, &bigrams);
    prof("stage-2 words", t1);
    rep.reencoded = arena.reencoded;
    rep.stage2_words = arena.len();
    drop(piece_tokens);
    drop(pieces);
    drop(chunks1);
    drop(chunks);
    let table = PairTable::count(&arena);
    prof("stage-2 pair counts", t1);
    rep.seconds_encode = t1.elapsed().as_secs_f64();

    // Stage 2, on the chunks cut at pairs too rare to be merged (see `fragments`). With the frequency objective the
    // bar is set from the data (a fraction of the count of the pair ranked as many as the merges to make); if
    // training runs out of pairs above it before the vocabulary is full, the bar is lowered and stage 2 redone.
    let t2 = Instant::now();
    let stage2_merges = cfg.vocab_size.saturating_sub(tokens.len());
    let floor = cfg.min_frequency.max(1);
    let divisor = cfg.prune_divisor;
    let mut theta = match cfg.objective {
        None if divisor > 0 => floor.max(table.kth_largest(stage2_merges) / divisor),
        _ => floor,
    };
    let offset = match cfg.transition {
        Transition::Fixed(_) => m1,
        Transition::Auto => total_merges,
    };
    loop {
        let t3 = Instant::now();
        let (words, counts) = fragments(&arena, &table, theta);
        prof("stage-2 fragments", t3);
        rep.stage2_fragments = words.len();
        let mut st2 =
            BpeState::from_tokens(tokens.clone(), merges.clone(), words, counts, n_special);
        prof(
            &format!(
                "stage-2 state (bar {theta}, {} fragments)",
                rep.stage2_fragments
            ),
            t3,
        );
        let mut sel2: Box<dyn PairSelector> = match &cfg.objective {
            None => Box::new(Frequency::new(theta)),
            Some(o) => {
                let mut o = o.clone();
                o.min_frequency = cfg.min_frequency;
                o.final_vocab_size = cfg.vocab_size;
                objectives::build(&o, &st2, &pretok2)?
            }
        };
        let log2 = driver::run(
            &mut st2,
            sel2.as_mut(),
            &Limits {
                vocab_size: cfg.vocab_size,
                max_token_length: cfg.max_token_length,
                max_words: cfg.max_words,
            },
            &mut Progress {
                f: progress,
                offset,
                total: offset + (total_merges - m1),
            },
        )?;
        prof("stage-2 merges", t3);
        if st2.tokens.len() < cfg.vocab_size && theta > floor {
            theta = floor.max(theta / divisor.max(2));
            rep.stage2_redone += 1;
            continue;
        }
        rep.theta = theta;
        rep.stage2_merges = log2.counts.len();
        rep.refused = log2.refused;
        rep.stage2_log = log2;
        rep.seconds_stage2 = t2.elapsed().as_secs_f64();
        return Ok((st2.into_model(&cfg.special_tokens, pretok2), rep));
    }
}

/// Stage 2 starts with pairs seen at least (count of the pair ranked as many as the merges to make) / this.
const THETA_DIVISOR: u64 = 2;

#[cfg(test)]
mod tests;
