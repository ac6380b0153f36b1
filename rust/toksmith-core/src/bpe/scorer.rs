//! Merge selection: which pair to merge next. Plain BPE takes the most frequent pair; other objectives
//! (compression-aware, MDL) plug in by implementing `PairSelector`.

use std::collections::BinaryHeap;

/// What a selector may look at: current pair counts and token byte lengths.
pub struct PairView<'a> {
    pub counts: &'a rustc_hash::FxHashMap<u64, i64>,
    pub token_len: &'a [u32],
}

impl PairView<'_> {
    #[inline]
    pub fn count(&self, pair: u64) -> i64 {
        self.counts.get(&pair).copied().unwrap_or(0)
    }
}

pub trait PairSelector: Send {
    fn name(&self) -> &'static str;
    /// Called once with every pair and its count before the first merge.
    fn init(&mut self, view: &PairView);
    /// Called after each merge with the pairs whose count rose (new pairs); counts of other pairs only fall.
    fn grew(&mut self, pairs: &[u64], view: &PairView);
    /// The next pair to merge, or `None` to stop. It must have a positive count.
    fn next(&mut self, view: &PairView) -> Option<u64>;
    /// Called (before `grew`) when the pair returned by `next` was merged into token `new_id`, replacing
    /// `replaced` occurrences (weighted by word counts). Selectors that keep their own statistics update them here.
    fn merged(&mut self, _pair: u64, _new_id: u32, _replaced: i64, _view: &PairView) {}
}

#[derive(PartialEq, Eq)]
struct Entry {
    count: i64,
    pair: u64,
}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Highest count first; on ties the smallest (left id, right id): deterministic, as HF tokenizers.
        self.count
            .cmp(&o.count)
            .then_with(|| o.pair.cmp(&self.pair))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Plain BPE: most frequent pair, ties to the smallest ids. A lazy max-heap: counts only fall for existing
/// pairs, so a popped entry whose count is stale is pushed back with the current count.
#[derive(Default)]
pub struct Frequency {
    heap: BinaryHeap<Entry>,
    min_count: i64,
}

impl Frequency {
    pub fn new(min_frequency: u64) -> Self {
        Frequency {
            heap: BinaryHeap::new(),
            min_count: min_frequency.max(1) as i64,
        }
    }
}

impl PairSelector for Frequency {
    fn name(&self) -> &'static str {
        "frequency"
    }
    fn init(&mut self, view: &PairView) {
        let v: Vec<Entry> = view
            .counts
            .iter()
            .filter(|(_, &c)| c > 0)
            .map(|(&pair, &count)| Entry { count, pair })
            .collect();
        self.heap = BinaryHeap::from(v);
    }
    fn grew(&mut self, pairs: &[u64], view: &PairView) {
        for &p in pairs {
            let c = view.count(p);
            if c > 0 {
                self.heap.push(Entry { count: c, pair: p });
            }
        }
    }
    fn next(&mut self, view: &PairView) -> Option<u64> {
        while let Some(top) = self.heap.pop() {
            let cur = view.count(top.pair);
            if cur != top.count {
                if cur > 0 {
                    self.heap.push(Entry {
                        count: cur,
                        pair: top.pair,
                    });
                }
                continue;
            }
            if cur < self.min_count {
                return None;
            }
            return Some(top.pair);
        }
        None
    }
}
