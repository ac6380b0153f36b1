//! `lz`: LZ-aware merge selection (after Erdogan et al. 2026, "An Information-Theoretic Perspective on LLM
//! Tokenizers"), made fast: instead of trying every pair against the whole validation stream, only the
//! `candidates` most frequent pairs are re-scored, each by compressing a sample stream with that merge applied,
//! with a fast compressor (zstd level 3 or deflate level 6 by default), in parallel. The pair whose merge gives the
//! smallest compressed sample wins (ties to the more frequent pair, then the smaller ids).
//!
//! The sample is a text tokenized with the state's merges; it is kept up to date as merges are made (chunk
//! boundaries are respected, as in training). The stream is written as little-endian token ids, 2 bytes each
//! (4 when the final vocabulary has more than 65536 ids): the same layout the benchmark compresses.

use crate::bpe::scorer::{PairSelector, PairView};
use crate::bpe::unpack;
use rayon::prelude::*;
use std::collections::BinaryHeap;
use std::io::Write;

/// The compressor used to score candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Zstd(i32),
    Deflate(u32),
}

impl Codec {
    /// `zstd`, `zstd:LEVEL`, `deflate`, `deflate:LEVEL` (also `gzip`).
    pub fn parse(s: &str) -> Option<Codec> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (n, Some(l.parse::<i32>().ok()?)),
            None => (s, None),
        };
        match name {
            "zstd" => Some(Codec::Zstd(level.unwrap_or(3))),
            "deflate" | "gzip" => Some(Codec::Deflate(level.unwrap_or(6).clamp(0, 9) as u32)),
            _ => None,
        }
    }

    /// Compressed size of `data`.
    pub fn size(self, data: &[u8]) -> usize {
        match self {
            Codec::Zstd(level) => zstd::bulk::compress(data, level)
                .map(|v| v.len())
                .unwrap_or(data.len()),
            Codec::Deflate(level) => {
                let mut e = flate2::write::DeflateEncoder::new(
                    Vec::with_capacity(data.len() / 2),
                    flate2::Compression::new(level),
                );
                e.write_all(data).expect("write to memory");
                e.finish().map(|v| v.len()).unwrap_or(data.len())
            }
        }
    }
}

#[derive(PartialEq, Eq)]
struct Entry {
    count: i64,
    pair: u64,
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
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

/// The sample as one token stream; `start[i]` marks the first token of a chunk (no merge across it).
pub struct Stream {
    pub ids: Vec<u32>,
    pub start: Vec<bool>,
}

impl Stream {
    pub fn new(chunks: &[Vec<u32>]) -> Self {
        let mut ids = Vec::new();
        let mut start = Vec::new();
        for c in chunks {
            for (k, &t) in c.iter().enumerate() {
                ids.push(t);
                start.push(k == 0);
            }
        }
        Stream { ids, start }
    }

    /// The stream with `(a, b)` merged into `c`, written as little-endian ids.
    pub fn write_merged(&self, a: u32, b: u32, c: u32, wide: bool, out: &mut Vec<u8>) -> usize {
        out.clear();
        let n = self.ids.len();
        let mut put = |t: u32| {
            if wide {
                out.extend_from_slice(&t.to_le_bytes());
            } else {
                out.extend_from_slice(&(t as u16).to_le_bytes());
            }
        };
        let mut hits = 0;
        let mut i = 0;
        while i < n {
            if i + 1 < n && self.ids[i] == a && self.ids[i + 1] == b && !self.start[i + 1] {
                put(c);
                hits += 1;
                i += 2;
            } else {
                put(self.ids[i]);
                i += 1;
            }
        }
        hits
    }

    /// Merge `(a, b)` into `c` in place.
    pub fn merge(&mut self, a: u32, b: u32, c: u32) {
        let n = self.ids.len();
        let (mut r, mut w) = (0, 0);
        while r < n {
            if r + 1 < n && self.ids[r] == a && self.ids[r + 1] == b && !self.start[r + 1] {
                self.ids[w] = c;
                self.start[w] = self.start[r];
                r += 2;
            } else {
                self.ids[w] = self.ids[r];
                self.start[w] = self.start[r];
                r += 1;
            }
            w += 1;
        }
        self.ids.truncate(w);
        self.start.truncate(w);
    }

    /// Written as little-endian ids.
    pub fn bytes(&self, wide: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_merged(u32::MAX, u32::MAX, 0, wide, &mut out);
        out
    }
}

pub struct Lz {
    heap: BinaryHeap<Entry>,
    pub stream: Stream,
    candidates: usize,
    codec: Codec,
    wide: bool,
    min_count: i64,
    /// Compressed size of the sample after the last merge chosen.
    pub last_size: usize,
}

impl Lz {
    pub fn new(
        chunks: &[Vec<u32>],
        candidates: usize,
        codec: Codec,
        wide: bool,
        min_frequency: u64,
    ) -> Self {
        Lz {
            heap: BinaryHeap::new(),
            stream: Stream::new(chunks),
            candidates: candidates.max(1),
            codec,
            wide,
            min_count: min_frequency.max(1) as i64,
            last_size: 0,
        }
    }

    /// Compressed size of the sample with `pair` merged into a token with id `next_id`.
    pub fn score(&self, pair: u64, next_id: u32) -> usize {
        let (a, b) = unpack(pair);
        let mut buf = Vec::with_capacity(self.stream.ids.len() * 4);
        self.stream.write_merged(a, b, next_id, self.wide, &mut buf);
        self.codec.size(&buf)
    }
}

impl PairSelector for Lz {
    fn name(&self) -> &'static str {
        "lz"
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
        // The most frequent pairs with up-to-date counts, in frequency order.
        let mut cands: Vec<Entry> = Vec::with_capacity(self.candidates);
        while cands.len() < self.candidates {
            let Some(top) = self.heap.pop() else { break };
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
                self.heap.push(top);
                break;
            }
            cands.push(top);
        }
        if cands.is_empty() {
            return None;
        }
        let next_id = view.token_len.len() as u32;
        let sizes: Vec<usize> = if cands.len() == 1 {
            vec![self.score(cands[0].pair, next_id)]
        } else {
            cands
                .par_iter()
                .map(|c| self.score(c.pair, next_id))
                .collect()
        };
        let best = (0..cands.len())
            .min_by_key(|&i| (sizes[i], i))
            .expect("non-empty");
        self.last_size = sizes[best];
        let chosen = cands[best].pair;
        for (i, e) in cands.into_iter().enumerate() {
            if i != best {
                self.heap.push(e);
            }
        }
        Some(chosen)
    }
    fn merged(&mut self, pair: u64, new_id: u32, _replaced: i64, _view: &PairView) {
        let (a, b) = unpack(pair);
        self.stream.merge(a, b, new_id);
    }
}
