//! The merge loop shared by the trainers beyond plain BPE (supertokens, compression-aware objectives): a
//! `BpeState`, a `PairSelector`, and per-merge limits (vocabulary size, token length in bytes, words per token).
//!
//! Pairs that break a limit are hidden from the selector for good (removed from the pair counts, now and whenever
//! a later merge makes them again), exactly as `bpe::train` does for `max_token_length`.

use super::scorer::PairSelector;
use super::{unpack, BpeState, ProgressFn, TrainError};
use crate::pretok::superword::{is_word_gap, word_count};
use rustc_hash::FxHashSet;
use thiserror::Error;

/// Errors of the extended trainers: bad options, or what plain training reports.
#[derive(Debug, Error)]
pub enum ExtError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("{0}")]
    Config(String),
}

/// Limits on the merge loop.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Stop when the vocabulary (specials and bytes included) has this many tokens.
    pub vocab_size: usize,
    /// Longest token allowed, in bytes.
    pub max_token_length: Option<usize>,
    /// Most words a token may span (maximal runs of bytes other than space, tab, newline, carriage return).
    pub max_words: Option<usize>,
}

/// Progress over several loops: reports `(offset + done, total)`.
pub struct Progress<'p, 'a> {
    pub f: &'p mut ProgressFn<'a>,
    pub offset: usize,
    pub total: usize,
}

/// Replacements a merge of `pair` makes: its count, except for a token paired with itself, where runs such as
/// `a a a` hold two overlapping pairs but take one merge.
pub fn replacements(st: &BpeState, pair: u64) -> i64 {
    let (a, b) = unpack(pair);
    if a != b {
        return st.pair_counts.get(&pair).copied().unwrap_or(0);
    }
    let mut ws = st.words_with(pair).to_vec();
    ws.sort_unstable();
    ws.dedup();
    let mut r = 0i64;
    for w in ws {
        let syms = &st.words[w as usize];
        let c = st.word_counts[w as usize] as i64;
        let mut i = 0;
        while i + 1 < syms.len() {
            if syms[i] == a && syms[i + 1] == a {
                r += c;
                i += 2;
            } else {
                i += 1;
            }
        }
    }
    r
}

/// Word counts of tokens, kept in step with the state's token list.
struct Words {
    n: Vec<u32>,
}

impl Words {
    fn sync(&mut self, st: &BpeState) {
        while self.n.len() < st.tokens.len() {
            let t = &st.tokens[self.n.len()];
            self.n.push(word_count(t) as u32);
        }
    }
    fn joined(&self, st: &BpeState, a: u32, b: u32) -> usize {
        let (ta, tb) = (&st.tokens[a as usize], &st.tokens[b as usize]);
        let (wa, wb) = (self.n[a as usize], self.n[b as usize]);
        let glued = matches!((ta.last(), tb.first()), (Some(&x), Some(&y)) if !is_word_gap(x) && !is_word_gap(y));
        (wa + wb - u32::from(glued && wa > 0 && wb > 0)) as usize
    }
}

/// What a run of the loop did.
#[derive(Clone, Debug, Default)]
pub struct RunLog {
    /// Count of each merged pair, in merge order.
    pub counts: Vec<i64>,
    /// Pairs refused by a limit.
    pub refused: usize,
}

/// Merge until the vocabulary reaches `lim.vocab_size` or the selector stops.
pub fn run(
    st: &mut BpeState,
    sel: &mut dyn PairSelector,
    lim: &Limits,
    progress: &mut Progress,
) -> Result<RunLog, TrainError> {
    let mut log = RunLog::default();
    let mut banned: FxHashSet<u64> = FxHashSet::default();
    let mut words = Words { n: Vec::new() };
    let report_every = (progress.total / 200).max(1);
    sel.init(&st.view());
    while st.tokens.len() < lim.vocab_size {
        let Some(pair) = sel.next(&st.view()) else {
            break;
        };
        let (a, b) = unpack(pair);
        let too_long = lim
            .max_token_length
            .is_some_and(|m| (st.token_len[a as usize] + st.token_len[b as usize]) as usize > m);
        let too_many_words = lim.max_words.is_some_and(|m| {
            words.sync(st);
            words.joined(st, a, b) > m
        });
        if too_long || too_many_words {
            banned.insert(pair);
            st.pair_counts.remove(&pair);
            log.refused += 1;
            continue;
        }
        let count = st.pair_counts.get(&pair).copied().unwrap_or(0);
        let replaced = replacements(st, pair);
        let mut cat = st.tokens[a as usize].clone();
        cat.extend_from_slice(&st.tokens[b as usize]);
        let grew = st.apply_merge(pair);
        let new_id = st.token_ids[&cat];
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
        sel.merged(pair, new_id, replaced, &st.view());
        sel.grew(&grew, &st.view());
        log.counts.push(count);
        let done = progress.offset + log.counts.len();
        if log.counts.len().is_multiple_of(report_every) && !(progress.f)(done, progress.total) {
            return Err(TrainError::Cancelled);
        }
    }
    (progress.f)(progress.offset + log.counts.len(), progress.total);
    Ok(log)
}
