//! `mdl`: minimum description length with an order-0 code.
//!
//! The corpus costs `L = N log2 N - Σ n_i log2 n_i` bits when each token is entropy-coded with its own frequency
//! (`N` tokens in all, `n_i` of token `i`), and each merge costs `2 log2 V` bits to write down (its two parent ids,
//! `V` the vocabulary size after it). Merging a pair seen `f` times turns `f` occurrences of `a` and of `b` into
//! `f` of a new token, so its gain is
//!
//! `G = φ(N) - φ(N-f) + φ(n_a-f) - φ(n_a) + φ(n_b-f) - φ(n_b) + φ(f) - 2 log2 V`,  with `φ(x) = x log2 x`
//!
//! (for a pair of a token with itself, `n_a - 2f` and `f ≤ n_a/2`). The selector merges the pair of largest `G`;
//! with `stop_when_no_gain` it stops when that is ≤ 0: the vocabulary size is then chosen by the data.
//!
//! Exact selection with a lazy max-heap: a stored gain is an upper bound of the current one except for pairs whose
//! count rose (reported by `grew`) or that contain a token whose count fell (the two merged tokens: their pairs are
//! re-scored after each merge through a token → pairs index). `N` only falls and `V` only rises, which only lowers
//! gains; a lower `f` lowers any gain that is not negative (`G` is convex in `f` with `G(0) = -2 log2 V`).

use crate::bpe::scorer::{PairSelector, PairView};
use crate::bpe::unpack;
use std::collections::BinaryHeap;

#[inline]
fn phi(x: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else {
        x * x.log2()
    }
}

/// Gain in bits of merging a pair seen `f` times whose tokens occur `na`, `nb` times (`same`: the pair is a token
/// with itself), with `n` tokens in the corpus and `vocab` tokens in the vocabulary before the merge.
pub fn gain(f: i64, na: i64, nb: i64, same: bool, n: i64, vocab: usize) -> f64 {
    let dict = 2.0 * ((vocab + 1) as f64).log2();
    let (n, na, nb) = (n as f64, na as f64, nb as f64);
    if same {
        let r = (f as f64).min((na / 2.0).floor());
        phi(n) - phi(n - r) + phi(na - 2.0 * r) - phi(na) + phi(r) - dict
    } else {
        let f = f as f64;
        phi(n) - phi(n - f) + phi(na - f) - phi(na) + phi(nb - f) - phi(nb) + phi(f) - dict
    }
}

/// Order-0 code length of a corpus with these token counts, in bits.
pub fn code_length(counts: &[i64]) -> f64 {
    let n: i64 = counts.iter().sum();
    phi(n as f64) - counts.iter().map(|&c| phi(c as f64)).sum::<f64>()
}

#[derive(Clone, Copy, PartialEq)]
struct Cand {
    gain: f64,
    pair: u64,
}
impl Eq for Cand {}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Largest gain first; ties to the smallest (left id, right id).
        self.gain
            .total_cmp(&o.gain)
            .then_with(|| o.pair.cmp(&self.pair))
    }
}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

pub struct Mdl {
    heap: BinaryHeap<Cand>,
    unigram: Vec<i64>,
    total: i64,
    vocab: usize,
    partners: Vec<Vec<u64>>,
    min_count: i64,
    stop: bool,
    /// Gain of the last merge chosen (bits).
    pub last_gain: f64,
}

impl Mdl {
    /// `unigram`: occurrences of each token now (its length is the vocabulary size).
    pub fn new(unigram: Vec<i64>, min_frequency: u64, stop_when_no_gain: bool) -> Self {
        let total = unigram.iter().sum();
        let vocab = unigram.len();
        Mdl {
            heap: BinaryHeap::new(),
            partners: vec![Vec::new(); unigram.len()],
            unigram,
            total,
            vocab,
            min_count: min_frequency.max(1) as i64,
            stop: stop_when_no_gain,
            last_gain: 0.0,
        }
    }

    fn n(&self, t: u32) -> i64 {
        self.unigram.get(t as usize).copied().unwrap_or(0)
    }

    fn gain_of(&self, pair: u64, f: i64) -> f64 {
        let (a, b) = unpack(pair);
        gain(f, self.n(a), self.n(b), a == b, self.total, self.vocab)
    }

    fn index(&mut self, pair: u64) {
        let (a, b) = unpack(pair);
        for t in [a, b] {
            if self.partners.len() <= t as usize {
                self.partners.resize(t as usize + 1, Vec::new());
            }
        }
        self.partners[a as usize].push(pair);
        if a != b {
            self.partners[b as usize].push(pair);
        }
    }

    fn push(&mut self, pair: u64, view: &PairView) {
        let f = view.count(pair);
        if f >= self.min_count {
            let g = self.gain_of(pair, f);
            self.heap.push(Cand { gain: g, pair });
        }
    }

    /// Rebuild the heap from the live pairs when stale entries dominate it.
    fn maybe_rebuild(&mut self, view: &PairView) {
        if self.heap.len() > 4 * view.counts.len() + (1 << 20) {
            let live: Vec<Cand> = view
                .counts
                .iter()
                .filter(|(_, &c)| c >= self.min_count)
                .map(|(&pair, &c)| Cand {
                    gain: self.gain_of(pair, c),
                    pair,
                })
                .collect();
            self.heap = BinaryHeap::from(live);
        }
    }
}

impl PairSelector for Mdl {
    fn name(&self) -> &'static str {
        "mdl"
    }
    fn init(&mut self, view: &PairView) {
        let mut pairs: Vec<u64> = view
            .counts
            .iter()
            .filter(|(_, &c)| c > 0)
            .map(|(&p, _)| p)
            .collect();
        pairs.sort_unstable();
        for &p in &pairs {
            self.index(p);
        }
        let v: Vec<Cand> = pairs
            .iter()
            .filter_map(|&p| {
                let f = view.count(p);
                (f >= self.min_count).then(|| Cand {
                    gain: self.gain_of(p, f),
                    pair: p,
                })
            })
            .collect();
        self.heap = BinaryHeap::from(v);
    }
    fn merged(&mut self, pair: u64, new_id: u32, replaced: i64, view: &PairView) {
        let (a, b) = unpack(pair);
        if self.unigram.len() <= new_id as usize {
            self.unigram.resize(new_id as usize + 1, 0);
        }
        self.unigram[a as usize] -= replaced;
        self.unigram[b as usize] -= replaced;
        self.unigram[new_id as usize] += replaced;
        self.total -= replaced;
        self.vocab += 1;
        // The two tokens lost occurrences: every pair holding them may now gain more.
        let toks: &[u32] = if a == b { &[a] } else { &[a, b] };
        for &t in toks {
            let mut list = std::mem::take(&mut self.partners[t as usize]);
            list.retain(|&p| view.count(p) > 0);
            list.sort_unstable();
            list.dedup();
            for &p in &list {
                self.push(p, view);
            }
            self.partners[t as usize] = list;
        }
        self.maybe_rebuild(view);
    }
    fn grew(&mut self, pairs: &[u64], view: &PairView) {
        for &p in pairs {
            self.index(p);
            self.push(p, view);
        }
    }
    fn next(&mut self, view: &PairView) -> Option<u64> {
        while let Some(top) = self.heap.pop() {
            let f = view.count(top.pair);
            if f < self.min_count {
                continue;
            }
            let g = self.gain_of(top.pair, f);
            if g != top.gain {
                self.heap.push(Cand {
                    gain: g,
                    pair: top.pair,
                });
                continue;
            }
            if self.stop && g <= 0.0 {
                return None;
            }
            self.last_gain = g;
            return Some(top.pair);
        }
        None
    }
}
