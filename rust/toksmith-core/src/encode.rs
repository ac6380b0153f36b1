//! Rank-based BPE encoding: pre-tokenize, then merge each chunk's bytes lowest rank first (leftmost on ties),
//! with a chunk cache and batch encoding across threads. SentencePiece-style models (byte fallback) merge
//! characters instead of bytes: see [`crate::model::SentencePiece`].

use crate::model::{BpeModel, MergeMode, Prepend};
use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::BinaryHeap;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("token id {0} is not in the vocabulary")]
    UnknownId(u32),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

const NO_RANK: u32 = u32::MAX;
const NO_BYTE: u32 = u32::MAX;
/// Chunks longer than this (in bytes) are merged with a heap instead of linear scans.
const HEAP_THRESHOLD: usize = 128;
/// SentencePiece-style chunks (whole texts) longer than this are not cached.
const SP_CACHE_MAX: usize = 256;
/// The cache is cleared when it holds this many chunks.
const CACHE_CAP: usize = 1 << 18;

#[inline(always)]
fn pack(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

/// Per-thread memo of chunk → ids.
#[derive(Default)]
pub struct Cache {
    map: FxHashMap<Box<[u8]>, (u32, u32)>,
    store: Vec<u32>,
}

impl Cache {
    fn get(&self, k: &[u8]) -> Option<&[u32]> {
        self.map
            .get(k)
            .map(|&(s, l)| &self.store[s as usize..(s + l) as usize])
    }
    fn put(&mut self, k: &[u8], ids: &[u32]) {
        if self.map.len() >= CACHE_CAP {
            self.map.clear();
            self.store.clear();
        }
        let s = self.store.len() as u32;
        self.store.extend_from_slice(ids);
        self.map.insert(k.into(), (s, ids.len() as u32));
    }
}

pub struct Encoder {
    /// Some bytes have no token (HF merge-list files such as SmolLM2's): they are dropped, as HF does.
    missing_bytes: bool,
    /// One chunk cache per thread that encodes with this encoder, kept across calls.
    caches: thread_local::ThreadLocal<std::cell::RefCell<Cache>>,
    model: BpeModel,
    byte_ids: [u32; 256],
    pairs: FxHashMap<u64, (u32, u32)>,
    ranks: FxHashMap<Vec<u8>, u32>,
    added: Option<(AhoCorasick, Vec<u32>)>,
    whole_token_shortcut: bool,
}

/// Length of the UTF-8 character at the start of `b` (1 for a byte that does not start a valid one).
pub(crate) fn utf8_char_len(b: &[u8]) -> usize {
    let n = match b[0] {
        0x00..=0x7F => return 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return 1,
    };
    if b.len() >= n && std::str::from_utf8(&b[..n]).is_ok() {
        n
    } else {
        1
    }
}

#[derive(Clone, Copy)]
struct Part {
    start: u32,
    id: u32,
    rank: u32,
    new: u32,
}

impl Encoder {
    pub fn new(model: BpeModel) -> Result<Self, EncodeError> {
        model.validate()?;
        let ids = model.token_ids();
        let all = model.all_token_ids();
        let mut byte_ids = [NO_BYTE; 256];
        let mut missing_bytes = false;
        for b in 0..=255u8 {
            match ids.get([b].as_slice()) {
                Some(&id) => byte_ids[b as usize] = id,
                None => missing_bytes = true,
            }
        }
        let ranks: FxHashMap<Vec<u8>, u32> = ids.iter().map(|(k, &v)| (k.to_vec(), v)).collect();
        let mut pairs = FxHashMap::default();
        if model.mode == MergeMode::Pairs {
            for (r, &(a, b)) in model.merges.iter().enumerate() {
                let mut cat = model.vocab[a as usize].clone().unwrap_or_default();
                cat.extend_from_slice(model.vocab[b as usize].as_deref().unwrap_or_default());
                let new = all[cat.as_slice()];
                pairs.entry(pack(a, b)).or_insert((r as u32, new));
            }
        }
        let added = if model.added.is_empty() {
            None
        } else {
            let pats: Vec<&str> = model.added.iter().map(|a| a.content.as_str()).collect();
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&pats)
                .expect("added tokens build an automaton");
            Some((ac, model.added.iter().map(|a| a.id).collect()))
        };
        let whole_token_shortcut = model.mode == MergeMode::Ranks || model.ignore_merges;
        Ok(Encoder {
            missing_bytes,
            caches: thread_local::ThreadLocal::new(),
            model,
            byte_ids,
            pairs,
            ranks,
            added,
            whole_token_shortcut,
        })
    }

    pub fn model(&self) -> &BpeModel {
        &self.model
    }

    /// Token id of these exact bytes (non-added tokens), if any.
    pub fn token_to_id(&self, bytes: &[u8]) -> Option<u32> {
        self.ranks.get(bytes).copied()
    }

    #[inline(always)]
    fn rank_of(&self, piece: &[u8], parts: &[Part], i: usize) -> (u32, u32) {
        if i + 1 >= parts.len() {
            return (NO_RANK, 0);
        }
        match self.model.mode {
            MergeMode::Pairs => self
                .pairs
                .get(&pack(parts[i].id, parts[i + 1].id))
                .copied()
                .unwrap_or((NO_RANK, 0)),
            MergeMode::Ranks => {
                let end = if i + 2 < parts.len() {
                    parts[i + 2].start as usize
                } else {
                    piece.len()
                };
                match self.ranks.get(&piece[parts[i].start as usize..end]) {
                    Some(&r) => (r, r),
                    None => (NO_RANK, 0),
                }
            }
        }
    }

    /// The initial symbols of a chunk before any merge: `(start offset, id)`. Byte-level models: one per
    /// byte (`u32::MAX` for a byte without a token). SentencePiece-style models: one per character that is a
    /// token, else one byte-fallback token per byte of the character (bytes that are not valid UTF-8 are
    /// single fallback bytes).
    pub fn initial_ids(&self, piece: &[u8]) -> Vec<(u32, u32)> {
        let Some(sp) = &self.model.sp else {
            return piece
                .iter()
                .enumerate()
                .map(|(i, &b)| (i as u32, self.byte_ids[b as usize]))
                .collect();
        };
        let mut out = Vec::with_capacity(piece.len());
        let mut i = 0;
        while i < piece.len() {
            let n = utf8_char_len(&piece[i..]);
            let ch = &piece[i..i + n];
            match self.ranks.get(ch) {
                // a one-byte character without a token maps to its fallback token here already
                Some(&id) => out.push((i as u32, id)),
                None => {
                    for (k, &b) in ch.iter().enumerate() {
                        out.push(((i + k) as u32, sp.fallback[b as usize]));
                    }
                }
            }
            i += n;
        }
        out
    }

    /// Merge-list BPE over initial ids (SentencePiece-style models): lowest rank first, leftmost on ties.
    fn merge_ids(&self, mut ids: Vec<u32>, out: &mut Vec<u32>) {
        if ids.len() > HEAP_THRESHOLD {
            return self.merge_ids_heap(ids, out);
        }
        loop {
            let mut best = (NO_RANK, 0u32, 0usize);
            for i in 0..ids.len().saturating_sub(1) {
                if let Some(&(r, n)) = self.pairs.get(&pack(ids[i], ids[i + 1])) {
                    if r < best.0 {
                        best = (r, n, i);
                    }
                }
            }
            if best.0 == NO_RANK {
                break;
            }
            ids[best.2] = best.1;
            ids.remove(best.2 + 1);
        }
        out.extend_from_slice(&ids);
    }

    /// [`Encoder::merge_ids`] with a linked list and a heap (long chunks).
    fn merge_ids_heap(&self, mut id: Vec<u32>, out: &mut Vec<u32>) {
        let n = id.len();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let rank_at = |i: usize, id: &[u32], next: &[usize]| -> (u32, u32) {
            let j = next[i];
            if j >= n {
                return (NO_RANK, 0);
            }
            self.pairs
                .get(&pack(id[i], id[j]))
                .copied()
                .unwrap_or((NO_RANK, 0))
        };
        let mut heap: BinaryHeap<std::cmp::Reverse<(u32, usize, usize)>> = BinaryHeap::new();
        for i in 0..n {
            let (r, _) = rank_at(i, &id, &next);
            if r != NO_RANK {
                heap.push(std::cmp::Reverse((r, i, next[i])));
            }
        }
        while let Some(std::cmp::Reverse((r, i, j))) = heap.pop() {
            if !alive[i] || next[i] != j || j >= n || !alive[j] {
                continue;
            }
            let (cur, new) = rank_at(i, &id, &next);
            if cur != r {
                continue;
            }
            id[i] = new;
            alive[j] = false;
            next[i] = next[j];
            if next[j] < n {
                prev[next[j]] = i;
            }
            let (r2, _) = rank_at(i, &id, &next);
            if r2 != NO_RANK {
                heap.push(std::cmp::Reverse((r2, i, next[i])));
            }
            let p = prev[i];
            if p != usize::MAX {
                let (r3, _) = rank_at(p, &id, &next);
                if r3 != NO_RANK {
                    heap.push(std::cmp::Reverse((r3, p, i)));
                }
            }
        }
        let mut i = 0;
        while i < n {
            out.push(id[i]);
            i = next[i];
        }
    }

    /// SentencePiece-style text normalisation of one segment (between added tokens): `"▁"` read as a space,
    /// the dummy prefix added. `at_start`: the segment starts the text.
    fn sp_normalize<'a>(&self, text: &'a str, at_start: bool) -> std::borrow::Cow<'a, str> {
        let Some(sp) = &self.model.sp else {
            return text.into();
        };
        let mut s: std::borrow::Cow<'a, str> = if text.contains('\u{2581}') {
            text.replace('\u{2581}', " ").into()
        } else {
            text.into()
        };
        let add = !s.is_empty()
            && match sp.prepend {
                Prepend::Never => false,
                Prepend::Always => true,
                Prepend::MetaspaceAlways => !s.starts_with(' '),
                Prepend::MetaspaceFirst => at_start && !s.starts_with(' '),
            };
        if add {
            s = format!(" {s}").into();
        }
        s
    }

    /// The bytes the token sequences of a text spell out (SentencePiece-style models: the dummy prefix and
    /// spaces for `"▁"`; byte-level models: the text itself): this prefix, then the text.
    pub fn stream_prefix(&self) -> &'static [u8] {
        match &self.model.sp {
            Some(sp) if sp.prepend != Prepend::Never => b" ",
            _ => b"",
        }
    }

    /// Encode a byte stream (see [`Encoder::stream_prefix`]) as the model sees it after normalisation: for
    /// SentencePiece-style models the whole stream is one chunk and no dummy prefix is added; otherwise the
    /// same as [`Encoder::encode_ordinary_into`].
    pub fn encode_stream_into(&self, stream: &str, cache: &mut Cache, out: &mut Vec<u32>) {
        if self.model.sp.is_some() {
            let s = self.sp_normalize_no_prefix(stream);
            if !s.is_empty() {
                self.encode_chunk(s.as_bytes(), cache, out);
            }
        } else {
            self.encode_ordinary_into(stream, cache, out);
        }
    }

    fn sp_normalize_no_prefix<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if text.contains('\u{2581}') {
            text.replace('\u{2581}', " ").into()
        } else {
            text.into()
        }
    }

    /// BPE-merge one chunk's bytes, appending ids to `out`.
    pub fn bpe(&self, piece: &[u8], out: &mut Vec<u32>) {
        if self.model.sp.is_some() {
            let ids = self.initial_ids(piece).into_iter().map(|p| p.1).collect();
            return self.merge_ids(ids, out);
        }
        if self.missing_bytes && piece.iter().any(|&b| self.byte_ids[b as usize] == NO_BYTE) {
            return self.bpe_dropping(piece, out);
        }
        if piece.len() == 1 {
            out.push(self.byte_ids[piece[0] as usize]);
            return;
        }
        debug_assert!(
            self.byte_ids.iter().all(|&i| i != NO_BYTE) || self.model.mode == MergeMode::Pairs
        );
        if piece.len() > HEAP_THRESHOLD {
            return self.bpe_heap(piece, out);
        }
        let mut parts: Vec<Part> = piece
            .iter()
            .enumerate()
            .map(|(i, &b)| Part {
                start: i as u32,
                id: self.byte_ids[b as usize],
                rank: NO_RANK,
                new: 0,
            })
            .collect();
        for i in 0..parts.len() {
            let (r, n) = self.rank_of(piece, &parts, i);
            parts[i].rank = r;
            parts[i].new = n;
        }
        loop {
            let mut best = NO_RANK;
            let mut bi = 0;
            for (i, p) in parts.iter().enumerate() {
                if p.rank < best {
                    best = p.rank;
                    bi = i;
                }
            }
            if best == NO_RANK {
                break;
            }
            parts[bi].id = parts[bi].new;
            parts.remove(bi + 1);
            let (r, n) = self.rank_of(piece, &parts, bi);
            parts[bi].rank = r;
            parts[bi].new = n;
            if bi > 0 {
                let (r, n) = self.rank_of(piece, &parts, bi - 1);
                parts[bi - 1].rank = r;
                parts[bi - 1].new = n;
            }
        }
        out.extend(parts.iter().map(|p| p.id));
    }

    /// Merge-list BPE over the bytes that have a token, the others dropped (HF without an unk token).
    fn bpe_dropping(&self, piece: &[u8], out: &mut Vec<u32>) {
        let ids: Vec<u32> = piece
            .iter()
            .map(|&b| self.byte_ids[b as usize])
            .filter(|&i| i != NO_BYTE)
            .collect();
        self.merge_ids(ids, out);
    }

    /// O(n log n) merging for long chunks: a doubly linked list of parts and a heap of candidate merges.
    fn bpe_heap(&self, piece: &[u8], out: &mut Vec<u32>) {
        let n = piece.len();
        let mut id: Vec<u32> = piece.iter().map(|&b| self.byte_ids[b as usize]).collect();
        let start: Vec<usize> = (0..n).collect();
        let mut next: Vec<usize> = (1..=n).collect(); // n = none
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect(); // usize::MAX = none
        let mut alive = vec![true; n];
        let rank_at = |i: usize, id: &[u32], next: &[usize], start: &[usize]| -> (u32, u32) {
            let j = next[i];
            if j >= n {
                return (NO_RANK, 0);
            }
            match self.model.mode {
                MergeMode::Pairs => self
                    .pairs
                    .get(&pack(id[i], id[j]))
                    .copied()
                    .unwrap_or((NO_RANK, 0)),
                MergeMode::Ranks => {
                    let end = if next[j] < n { start[next[j]] } else { n };
                    match self.ranks.get(&piece[start[i]..end]) {
                        Some(&r) => (r, r),
                        None => (NO_RANK, 0),
                    }
                }
            }
        };
        let mut heap: BinaryHeap<std::cmp::Reverse<(u32, usize, usize)>> = BinaryHeap::new();
        for i in 0..n {
            let (r, _) = rank_at(i, &id, &next, &start);
            if r != NO_RANK {
                heap.push(std::cmp::Reverse((r, i, next[i])));
            }
        }
        while let Some(std::cmp::Reverse((r, i, j))) = heap.pop() {
            if !alive[i] || next[i] != j || j >= n || !alive[j] {
                continue;
            }
            let (cur, new) = rank_at(i, &id, &next, &start);
            if cur != r {
                continue;
            }
            id[i] = new;
            alive[j] = false;
            next[i] = next[j];
            if next[j] < n {
                prev[next[j]] = i;
            }
            let (r2, _) = rank_at(i, &id, &next, &start);
            if r2 != NO_RANK {
                heap.push(std::cmp::Reverse((r2, i, next[i])));
            }
            let p = prev[i];
            if p != usize::MAX {
                let (r3, _) = rank_at(p, &id, &next, &start);
                if r3 != NO_RANK {
                    heap.push(std::cmp::Reverse((r3, p, i)));
                }
            }
        }
        let mut i = 0;
        while i < n {
            out.push(id[i]);
            i = next[i];
        }
    }

    /// Encode one pre-tokenized chunk.
    #[inline]
    fn encode_chunk(&self, chunk: &[u8], cache: &mut Cache, out: &mut Vec<u32>) {
        if self.whole_token_shortcut {
            if let Some(&id) = self.ranks.get(chunk) {
                out.push(id);
                return;
            }
        }
        if chunk.len() == 1 && !self.missing_bytes {
            out.push(self.byte_ids[chunk[0] as usize]);
            return;
        }
        // SentencePiece-style models encode whole texts as one chunk: only short ones are worth a cache entry
        let cacheable = self.model.sp.is_none() || chunk.len() <= SP_CACHE_MAX;
        if cacheable {
            if let Some(ids) = cache.get(chunk) {
                out.extend_from_slice(ids);
                return;
            }
        }
        let s = out.len();
        self.bpe(chunk, out);
        if cacheable {
            cache.put(chunk, &out[s..]);
        }
    }

    /// Encode text, treating added/special tokens as plain text.
    pub fn encode_ordinary_into(&self, text: &str, cache: &mut Cache, out: &mut Vec<u32>) {
        self.encode_segment(text, true, cache, out)
    }

    /// Encode one segment of text (no added tokens in it); `at_start`: it starts the text.
    fn encode_segment(&self, text: &str, at_start: bool, cache: &mut Cache, out: &mut Vec<u32>) {
        if self.model.sp.is_some() {
            let s = self.sp_normalize(text, at_start);
            if !s.is_empty() {
                self.encode_chunk(s.as_bytes(), cache, out);
            }
            return;
        }
        self.model
            .pretok
            .split(text, |c| self.encode_chunk(c.as_bytes(), cache, out));
    }

    /// Encode text; occurrences of added tokens become their ids when `added_tokens` is true.
    pub fn encode_into(
        &self,
        text: &str,
        added_tokens: bool,
        cache: &mut Cache,
        out: &mut Vec<u32>,
    ) {
        match (&self.added, added_tokens) {
            (Some((ac, ids)), true) => {
                let mut last = 0;
                for m in ac.find_iter(text) {
                    if m.start() > last {
                        self.encode_segment(&text[last..m.start()], last == 0, cache, out);
                    }
                    out.push(ids[m.pattern().as_usize()]);
                    last = m.end();
                }
                if last < text.len() {
                    self.encode_segment(&text[last..], last == 0, cache, out);
                }
            }
            _ => self.encode_ordinary_into(text, cache, out),
        }
    }

    /// Run `f` with this thread's chunk cache.
    #[inline]
    fn with_cache<R>(&self, f: impl FnOnce(&mut Cache) -> R) -> R {
        let cell = self.caches.get_or_default();
        match cell.try_borrow_mut() {
            Ok(mut c) => f(&mut c),
            Err(_) => f(&mut Cache::default()), // re-entrant use on one thread: a private cache
        }
    }

    pub fn encode(&self, text: &str, added_tokens: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3);
        self.with_cache(|cache| self.encode_into(text, added_tokens, cache, &mut out));
        out
    }

    /// Encode many texts across threads (the current rayon pool). Output order follows input order.
    pub fn encode_batch(&self, texts: &[&str], added_tokens: bool) -> Vec<Vec<u32>> {
        texts
            .par_iter()
            .with_min_len(8)
            .map(|t| {
                let mut out = Vec::with_capacity(t.len() / 3);
                self.with_cache(|cache| self.encode_into(t, added_tokens, cache, &mut out));
                out
            })
            .collect()
    }

    /// Number of tokens of each text, without keeping the ids.
    pub fn count_batch(&self, texts: &[&str], added_tokens: bool) -> Vec<usize> {
        texts
            .par_iter()
            .with_min_len(8)
            .map_init(Vec::new, |buf, t| {
                buf.clear();
                self.with_cache(|cache| self.encode_into(t, added_tokens, cache, buf));
                buf.len()
            })
            .collect()
    }

    /// Concatenated bytes of the ids. With `skip_special`, special added tokens are left out.
    pub fn decode_bytes(&self, ids: &[u32], skip_special: bool) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let tok = self
                .model
                .vocab
                .get(id as usize)
                .and_then(|t| t.as_ref())
                .ok_or(EncodeError::UnknownId(id))?;
            if skip_special && self.model.added.iter().any(|a| a.id == id && a.special) {
                continue;
            }
            out.extend_from_slice(tok);
        }
        if self.model.sp.as_ref().is_some_and(|s| s.strip_decoded) && out.first() == Some(&b' ') {
            out.remove(0);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AddedToken;
    use crate::pretok::{Preset, Pretokenizer};

    /// A toy vocabulary: all bytes plus merges a+b, ab+c, b+c.
    fn toy(mode: MergeMode) -> Encoder {
        let mut vocab: Vec<Option<Vec<u8>>> = (0..=255u8).map(|b| Some(vec![b])).collect();
        vocab.push(Some(b"ab".to_vec())); // 256
        vocab.push(Some(b"abc".to_vec())); // 257
        vocab.push(Some(b"bc".to_vec())); // 258
        vocab.push(Some(b"<s>".to_vec())); // 259
        Encoder::new(BpeModel {
            vocab,
            merges: vec![(97, 98), (256, 99), (98, 99)],
            added: vec![AddedToken {
                content: "<s>".into(),
                id: 259,
                special: true,
            }],
            pretok: Pretokenizer::preset(Preset::Gpt2),
            mode,
            ignore_merges: false,
            sp: None,
        })
        .unwrap()
    }

    #[test]
    fn merges_by_rank() {
        let e = toy(MergeMode::Pairs);
        assert_eq!(e.encode("abc", false), vec![257]);
        assert_eq!(e.encode("bcab", false), vec![258, 256]);
        // "a" then "bc": pairs mode has no (a, bc) merge; ranks mode merges because "abc" is a token.
        let r = toy(MergeMode::Ranks);
        assert_eq!(r.encode("abc", false), vec![257]);
    }

    #[test]
    fn heap_equals_linear() {
        let e = toy(MergeMode::Pairs);
        let long: String = "abcab".repeat(60);
        let p = Pretokenizer::preset(Preset::None);
        let chunk = p.split_to_vec(&long)[0].as_bytes();
        let mut a = Vec::new();
        e.bpe_heap(chunk, &mut a);
        // linear on the same input, forced
        let mut parts = Vec::new();
        for c in chunk.chunks(5) {
            e.bpe(c, &mut parts);
        }
        assert_eq!(a, parts);
    }

    #[test]
    fn added_tokens_and_decode() {
        let e = toy(MergeMode::Pairs);
        let ids = e.encode("ab<s>c", true);
        assert_eq!(ids, vec![256, 259, 99]);
        assert_eq!(e.decode_bytes(&ids, false).unwrap(), b"ab<s>c");
        assert_eq!(e.decode_bytes(&ids, true).unwrap(), b"abc");
        assert!(e.decode_bytes(&[99999], false).is_err());
    }
}
