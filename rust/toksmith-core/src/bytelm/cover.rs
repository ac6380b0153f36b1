//! The valid covering structure, updated byte by byte, and the map from next-token distributions to the
//! next-byte distribution.
//!
//! A *state* is a token sequence `S` whose bytes are a prefix `x[..j]` of the text so far and that is a
//! canonical prefix (see `bytelm`). Each state carries its probability `Q(S)` under the canonicalised model
//! and, once the caller has run the language model on it, the masked and renormalised next-token
//! distribution `Q(. | S)` as a segment tree over the trie's lexicographic order. A live state's trie node is
//! `x[j..]`: the tokens that can still cover the rest of the text are exactly that node's subtree, so every
//! next-byte mass is a range sum.

use super::chunks::{utf8_parts, ChunkCtx};
use super::trie::{TokenTrie, NONE};
use super::validity::PairValidity;
use super::BytelmError;
use crate::encode::{Cache, Encoder};
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::Instant;

/// What the covering structure computes.
#[derive(Clone, Debug)]
pub struct CoverConfig {
    /// End-of-text token id (a special token); `None`: texts never end.
    pub eos: Option<u32>,
    /// `true`: exact canonical-tokenization model. `false`: all tokenizations, approximated by a beam.
    pub canonical: bool,
    /// Beam width in the all-tokenizations mode (states kept per byte).
    pub beam: usize,
    /// Drop states whose mass is below `prune` times the largest (0 = exact).
    pub prune: f64,
}

impl Default for CoverConfig {
    fn default() -> Self {
        CoverConfig {
            eos: None,
            canonical: true,
            beam: 16,
            prune: 0.0,
        }
    }
}

/// Time and work counters (for benchmarks).
#[derive(Clone, Debug, Default)]
pub struct CoverStats {
    /// Distributions provided (language-model rows consumed).
    pub provided: u64,
    /// Seconds building masks (validity) and turning rows into prefix sums.
    pub mask_seconds: f64,
    pub row_seconds: f64,
    /// Seconds in `push` and `next_byte` (the per-byte bookkeeping).
    pub byte_seconds: f64,
    pub bytes: u64,
    /// States created.
    pub states: u64,
}

struct Dist {
    /// The masked row in the trie's lexicographic order as a segment tree (`2n` entries: the leaves at
    /// `n..2n`, node `i` the sum of nodes `2i` and `2i + 1`); times `inv` the leaves are `Q(t | S)`. Range sums
    /// add O(log n) nodes and never subtract: prefix-sum differences lost every range whose mass is below about
    /// 1e-16 of the mass before it in the row (a byte the model finds very unlikely read as probability 0).
    tree: Vec<f64>,
    inv: f64,
    /// `Q(EOS | S)`.
    eos: f64,
}

impl Dist {
    #[inline]
    fn sum(&self, lo: usize, hi: usize) -> f64 {
        let n = self.tree.len() / 2;
        let (mut l, mut r) = (lo + n, hi + n);
        let mut s = 0.0f64;
        while l < r {
            if l & 1 == 1 {
                s += self.tree[l];
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                s += self.tree[r];
            }
            l >>= 1;
            r >>= 1;
        }
        (s * self.inv).max(0.0)
    }
}

struct State {
    parent: u32,
    token: u32,
    /// Bytes covered: `x[..end]`; the last token covers `x[start..end]`.
    start: u32,
    end: u32,
    /// Start of the last chunk of `x[..end]` (a boundary every continuation keeps).
    chunk: u32,
    mass: f64,
    /// Trie node of `x[end..]` (`NONE` once dead).
    node: u32,
    dist: Option<Box<Dist>>,
    /// `S` is the encoding of `x[..end]` as a whole text (end of text may follow).
    complete: bool,
}

pub struct ByteCover {
    enc: Arc<Encoder>,
    trie: TokenTrie,
    val: PairValidity,
    ctx: ChunkCtx,
    cfg: CoverConfig,
    /// Lexicographic positions of the proper tokens / of all trie tokens.
    proper_bits: Vec<u64>,
    all_bits: Vec<u64>,
    pairbits: FxHashMap<u32, Arc<Vec<u64>>>,
    x: Vec<u8>,
    /// Start of the last chunk of the character-complete part of `x`.
    chunk: usize,
    states: Vec<State>,
    live: Vec<u32>,
    log_prefix: f64,
    pub stats: CoverStats,
    cache: Cache,
    /// Prefix-sum buffers of dead states, reused.
    pool: Vec<Vec<f64>>,
    /// SentencePiece-style model (byte fallback): its validity rules.
    sp: Option<SpRules>,
}

/// Validity for SentencePiece-style BPE with byte fallback (see [`crate::model::SentencePiece`]). Byte
/// fallback tokens never merge, so the encoding of a text is the BPE of each run of vocabulary characters on
/// its own, with every other character spelled as its fallback bytes. A token sequence is therefore a
/// canonical prefix iff (1) inside each run of vocabulary tokens every token is proper and every adjacent
/// pair is valid (the byte-level pair facts hold with characters as the initial symbols), (2) every run of
/// fallback tokens spells whole characters that are not tokens, except that the last run may end inside a
/// character that some completion makes a non-token character, and (3) with a dummy prefix, the first token
/// starts with the space. It is a whole encoding iff it does not end inside a character.
struct SpRules {
    /// The text starts with the dummy-prefix space (the caller pushes it first).
    prepend: bool,
    /// The root follows a stable head (see [`ByteCover::reset_tail`]), not the start of the text.
    tail_root: bool,
    /// Fallback tokens held by the trie: (byte, lexicographic position).
    fallback_pos: Vec<(u8, usize)>,
    is_fallback: Vec<bool>,
    /// Proper vocabulary tokens (not fallback); those starting with the space; fallback tokens that start a
    /// character that is not a token.
    vocab_bits: Vec<u64>,
    root_bits: Vec<u64>,
    lead_bits: Vec<u64>,
    /// Byte string (a prefix of a character) → some completion is a valid character that is not a token.
    unknown_prefix: FxHashMap<Vec<u8>, bool>,
}

/// Is `ch` (one UTF-8 character) spelled by an ordinary token? `"▁"` counts as one: the tokenizer reads it
/// as a space, so its bytes are never spelled by fallback tokens.
fn sp_known(enc: &Encoder, is_fallback: &[bool], ch: &[u8]) -> bool {
    if ch == "\u{2581}".as_bytes() {
        return true;
    }
    matches!(enc.token_to_id(ch), Some(id) if !is_fallback[id as usize])
}

/// Does some completion of the byte string `p` make a valid UTF-8 character that is not a token?
fn sp_unknown_prefix(enc: &Encoder, is_fallback: &[bool], p: &[u8]) -> bool {
    let n = match p.first() {
        Some(0x00..=0x7F) => 1,
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => return false,
    };
    if p.len() > n || !p[1..].iter().all(|&c| (0x80..=0xBF).contains(&c)) {
        return false;
    }
    let missing = n - p.len();
    let mut full = p.to_vec();
    for k in 0..(1usize << (6 * missing)) {
        full.truncate(p.len());
        for m in (0..missing).rev() {
            full.push(0x80 | ((k >> (6 * m)) & 0x3F) as u8);
        }
        if std::str::from_utf8(&full).is_ok() && !sp_known(enc, is_fallback, &full) {
            return true;
        }
    }
    false
}

/// The incomplete UTF-8 character at the end of `x` (empty when `x` ends on a character boundary).
fn trailing_partial(x: &[u8]) -> &[u8] {
    for k in 1..=x.len().min(3) {
        let c = x[x.len() - k];
        if c & 0xC0 != 0x80 {
            let n = match c {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if n > k { &x[x.len() - k..] } else { &[] };
        }
    }
    &[]
}

const PAIRBITS_CAP: usize = 4096;
const POOL_CAP: usize = 32;

fn recycle(pool: &mut Vec<Vec<f64>>, d: Dist) {
    let Dist { tree, .. } = d;
    if pool.len() < POOL_CAP {
        pool.push(tree);
    }
}

impl ByteCover {
    pub fn new(enc: Arc<Encoder>, cfg: CoverConfig) -> Result<ByteCover, BytelmError> {
        let model = enc.model();
        let added: rustc_hash::FxHashSet<u32> = model.added.iter().map(|a| a.id).collect();
        if let Some(e) = cfg.eos {
            if e as usize >= model.vocab_size() {
                return Err(BytelmError::BadEos(format!(
                    "end-of-text id {e} is outside the vocabulary ({} ids)",
                    model.vocab_size()
                )));
            }
            if !added.contains(&e) {
                return Err(BytelmError::BadEos(format!(
                    "end-of-text id {e} is an ordinary token, not an added/special token"
                )));
            }
        }
        if model.sp.is_some() && model.ignore_merges {
            return Err(BytelmError::Unsupported(
                "byte-fallback BPE with ignore_merges=true".into(),
            ));
        }
        // One id per distinct byte string: the one the encoder emits.
        let mut tokens: Vec<(u32, &[u8])> = Vec::new();
        for (id, t) in model.vocab.iter().enumerate() {
            let id = id as u32;
            if let Some(b) = t {
                if !added.contains(&id) && enc.token_to_id(b) == Some(id) {
                    tokens.push((id, b.as_slice()));
                }
            }
        }
        if tokens.is_empty() {
            return Err(BytelmError::Unsupported(
                "the vocabulary has no tokens".into(),
            ));
        }
        let trie = TokenTrie::new(&tokens, model.vocab_size());
        let ids: Vec<u32> = trie.lex_ids().to_vec();
        let val = PairValidity::new(&enc, &ids);
        let ctx = ChunkCtx::new(&enc, &trie, &val);
        let n = trie.len();
        let words = n.div_ceil(64);
        let mut proper_bits = vec![0u64; words];
        let mut all_bits = vec![0u64; words];
        for p in 0..n {
            all_bits[p / 64] |= 1 << (p % 64);
            if val.proper(trie.id_at(p)) {
                proper_bits[p / 64] |= 1 << (p % 64);
            }
        }
        let sp = match (&model.sp, cfg.canonical) {
            (Some(spm), true) => {
                let mut is_fallback = vec![false; model.vocab_size()];
                for &id in spm.fallback.iter() {
                    is_fallback[id as usize] = true;
                }
                let mut fallback_pos = Vec::new();
                let mut vocab_bits = proper_bits.clone();
                let mut root_bits = vec![0u64; words];
                let mut lead_bits = vec![0u64; words];
                let mut unknown_prefix = FxHashMap::default();
                for p in 0..n {
                    let id = trie.id_at(p);
                    let bytes = model.vocab[id as usize].as_deref().unwrap_or_default();
                    if is_fallback[id as usize] {
                        vocab_bits[p / 64] &= !(1u64 << (p % 64));
                        fallback_pos.push((bytes[0], p));
                        let ok = sp_unknown_prefix(&enc, &is_fallback, bytes);
                        unknown_prefix.insert(bytes.to_vec(), ok);
                        if ok {
                            lead_bits[p / 64] |= 1 << (p % 64);
                        }
                    } else if bytes.first() == Some(&b' ') {
                        root_bits[p / 64] |= proper_bits[p / 64] & (1 << (p % 64));
                    }
                }
                let prepend = !enc.stream_prefix().is_empty();
                if !prepend {
                    for (r, (v, l)) in root_bits.iter_mut().zip(vocab_bits.iter().zip(&lead_bits)) {
                        *r = v | l;
                    }
                }
                Some(SpRules {
                    prepend,
                    tail_root: false,
                    fallback_pos,
                    is_fallback,
                    vocab_bits,
                    root_bits,
                    lead_bits,
                    unknown_prefix,
                })
            }
            _ => None,
        };
        let mut c = ByteCover {
            sp,
            enc,
            trie,
            val,
            ctx,
            cfg,
            proper_bits,
            all_bits,
            pairbits: FxHashMap::default(),
            x: Vec::new(),
            chunk: 0,
            states: Vec::new(),
            live: Vec::new(),
            log_prefix: 0.0,
            stats: CoverStats::default(),
            cache: Cache::default(),
            pool: Vec::new(),
        };
        c.reset();
        Ok(c)
    }

    pub fn config(&self) -> &CoverConfig {
        &self.cfg
    }
    pub fn trie(&self) -> &TokenTrie {
        &self.trie
    }
    pub fn validity(&mut self) -> &mut PairValidity {
        &mut self.val
    }
    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.enc
    }
    pub fn chunk_ctx(&self) -> &ChunkCtx {
        &self.ctx
    }
    /// The language model must return at least this many log-probabilities per row.
    pub fn vocab_size(&self) -> usize {
        self.enc.model().vocab_size()
    }

    /// Forget the text; the root state (empty text) waits for its distribution.
    pub fn reset(&mut self) {
        if let Some(sp) = &mut self.sp {
            sp.tail_root = false;
        }
        self.reset_inner();
    }

    /// Forget the text, which now continues a head the caller gave the model as fixed tokens: a head whose
    /// encoding every continuation keeps (see [`ByteCover::stable_start`]). Only SentencePiece-style models
    /// need to know (the head's end is no text start there); for the others this is [`ByteCover::reset`].
    pub fn reset_tail(&mut self) {
        if let Some(sp) = &mut self.sp {
            sp.tail_root = true;
        }
        self.reset_inner();
    }

    /// The bytes every text's token sequence spells before the text itself: the dummy-prefix space of
    /// SentencePiece-style models, else nothing. Callers push them first (their probability is 1 in the
    /// canonical mode).
    pub fn stream_prefix(&self) -> &'static [u8] {
        self.enc.stream_prefix()
    }

    /// Encoding of a byte stream (the stream prefix included, see [`Encoder::encode_stream_into`]).
    pub fn encode_stream(&mut self, stream: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.enc
            .encode_stream_into(stream, &mut self.cache, &mut out);
        out
    }

    /// The largest offset of the stream `text` before which its tokens are the same in every continuation
    /// (0 when there is none): the last pre-token chunk start that stays one; for SentencePiece-style models
    /// the end of the last character that is spelled by fallback bytes.
    pub fn stable_start(&self, text: &str) -> usize {
        let Some(sp) = &self.sp else {
            return self.ctx.stable_start(text);
        };
        let mut cut = 0;
        for (i, c) in text.char_indices() {
            let mut buf = [0u8; 4];
            let ch = c.encode_utf8(&mut buf).as_bytes();
            if !sp_known(&self.enc, &sp.is_fallback, ch) {
                cut = i + ch.len();
            }
        }
        cut
    }

    fn reset_inner(&mut self) {
        for st in self.states.iter_mut() {
            if let Some(d) = st.dist.take() {
                recycle(&mut self.pool, *d);
            }
        }
        self.x.clear();
        self.chunk = 0;
        self.states.clear();
        self.live.clear();
        self.log_prefix = 0.0;
        self.states.push(State {
            parent: NONE,
            token: NONE,
            start: 0,
            end: 0,
            chunk: 0,
            mass: 1.0,
            node: TokenTrie::ROOT,
            dist: None,
            // With a dummy prefix every text's encoding starts with the space: the root is no whole encoding.
            complete: self
                .sp
                .as_ref()
                .is_none_or(|sp| !sp.prepend || sp.tail_root),
        });
        self.live.push(0);
        self.stats.states += 1;
    }

    /// The text so far.
    pub fn text(&self) -> &[u8] {
        &self.x
    }

    /// log P(text so far is a prefix of the text).
    pub fn log_prefix_prob(&self) -> f64 {
        self.log_prefix
    }

    /// Live states.
    pub fn n_live(&self) -> usize {
        self.live.len()
    }

    /// Live state ids.
    pub fn live(&self) -> &[u32] {
        &self.live
    }

    /// Bytes covered by a state.
    pub fn state_end(&self, sid: u32) -> usize {
        self.states.get(sid as usize).map_or(0, |s| s.end as usize)
    }

    /// Live states still waiting for a next-token distribution.
    pub fn pending(&self) -> Vec<u32> {
        self.live
            .iter()
            .copied()
            .filter(|&s| self.states[s as usize].dist.is_none())
            .collect()
    }

    /// Parent state (`None` for the root).
    pub fn parent(&self, sid: u32) -> Option<u32> {
        let p = self.states.get(sid as usize)?.parent;
        (p != NONE).then_some(p)
    }

    /// Last token of a state (`None` for the root).
    pub fn last_token(&self, sid: u32) -> Option<u32> {
        let t = self.states.get(sid as usize)?.token;
        (t != NONE).then_some(t)
    }

    /// The token sequence of a state.
    pub fn tokens(&self, sid: u32) -> Vec<u32> {
        let mut v = Vec::new();
        let mut s = sid;
        while s != NONE && (s as usize) < self.states.len() {
            let st = &self.states[s as usize];
            if st.token != NONE {
                v.push(st.token);
            }
            s = st.parent;
        }
        v.reverse();
        v
    }

    /// Probability mass of a live state relative to all live states' (diagnostics).
    pub fn mass(&self, sid: u32) -> f64 {
        self.states.get(sid as usize).map_or(0.0, |s| s.mass)
    }

    fn pairbits(&mut self, a: u32) -> Arc<Vec<u64>> {
        if let Some(b) = self.pairbits.get(&a) {
            return b.clone();
        }
        if self.pairbits.len() >= PAIRBITS_CAP {
            self.pairbits.clear();
        }
        let mut bits = self.proper_bits.clone();
        let inv: Vec<(u32, u32)> = self.val.invalid_after(&self.enc, &self.trie, a).to_vec();
        let ord_ids = self.val.ord_ids();
        for (s, e) in inv {
            for o in s..e {
                if let Some(p) = self.trie.pos_of(ord_ids[o as usize]) {
                    bits[p / 64] &= !(1u64 << (p % 64));
                }
            }
        }
        let rc = Arc::new(bits);
        self.pairbits.insert(a, rc.clone());
        rc
    }

    /// Tokens of state `sid` after its chunk start: (offset in z, token) pairs, in order.
    fn chunk_tokens(&self, sid: u32) -> Vec<(usize, u32)> {
        let st = &self.states[sid as usize];
        let p = st.chunk as usize;
        let mut v = Vec::new();
        let mut s = sid;
        loop {
            let cur = &self.states[s as usize];
            if cur.token == NONE || (cur.start as usize) < p {
                break;
            }
            v.push((cur.start as usize - p, cur.token));
            if cur.start as usize == p {
                break;
            }
            s = cur.parent;
        }
        v.reverse();
        v
    }

    fn encode_chunk(&self, piece: &[u8]) -> Vec<u32> {
        if self.ctx.shortcut() {
            if let Some(id) = self.enc.token_to_id(piece) {
                return vec![id];
            }
        }
        let mut out = Vec::new();
        self.enc.bpe(piece, &mut out);
        out
    }

    /// Are the chunk tokens `u` (covering `z`) consistent with boundaries `pi` inside `z` and with `z`'s last
    /// piece being closed (`same = false`) or running on into the next token (`same = true`)?
    fn consistent(&mut self, z: &[u8], u: &[(usize, u32)], pi: &[u32], same: bool) -> bool {
        let l = z.len();
        let mut cuts: Vec<usize> = pi.iter().map(|&d| l - d as usize).collect();
        cuts.sort_unstable();
        for &c in &cuts {
            if !u.iter().any(|&(o, _)| o == c) {
                return false;
            }
        }
        let mut bounds = vec![0usize];
        bounds.extend_from_slice(&cuts);
        bounds.push(l);
        let n_pieces = bounds.len() - 1;
        for k in 0..n_pieces {
            let (s, e) = (bounds[k], bounds[k + 1]);
            let toks: Vec<u32> = u
                .iter()
                .filter(|&&(o, _)| o >= s && o < e)
                .map(|&(_, t)| t)
                .collect();
            if k + 1 == n_pieces && same {
                for w in toks.windows(2) {
                    if !self.val.pair_ok_direct(&self.enc, w[0], w[1]) {
                        return false;
                    }
                }
            } else if self.encode_chunk(&z[s..e]) != toks {
                return false;
            }
        }
        true
    }

    /// The validity mask of the next token after state `sid`, over lexicographic positions.
    fn mask(&mut self, sid: u32) -> Vec<u64> {
        if !self.cfg.canonical {
            return self.all_bits.clone();
        }
        if self.sp.is_some() {
            return self.mask_sp(sid);
        }
        let (p, end, a) = {
            let st = &self.states[sid as usize];
            (st.chunk as usize, st.end as usize, st.token)
        };
        let z = self.x[p..end].to_vec();
        let table = self.ctx.table(&self.enc, &self.trie, &mut self.val, &z);
        let u = if self.ctx.trivial() {
            Vec::new()
        } else {
            self.chunk_tokens(sid)
        };
        let mut mask = vec![0u64; self.all_bits.len()];
        let mut pair: Option<Arc<Vec<u64>>> = None;
        let mut seen: Vec<(usize, bool, bool)> = Vec::new();
        for (ci, combo) in table.combos.iter().enumerate() {
            let ok = if z.is_empty() || self.ctx.trivial() {
                true
            } else {
                // consistency depends on (pi, same) only
                let key = (Arc::as_ptr(&combo.pi) as *const u32 as usize, combo.same);
                match seen.iter().find(|e| (e.0, e.1) == key) {
                    Some(e) => e.2,
                    None => {
                        let ok = self.consistent(&z, &u, &combo.pi, combo.same);
                        seen.push((key.0, key.1, ok));
                        ok
                    }
                }
            };
            let _ = ci;
            if !ok {
                continue;
            }
            if combo.same {
                if a == NONE {
                    continue;
                }
                let pb = match &pair {
                    Some(pb) => pb.clone(),
                    None => {
                        let pb = self.pairbits(a);
                        pair = Some(pb.clone());
                        pb
                    }
                };
                for (m, (b, q)) in mask.iter_mut().zip(combo.bits.iter().zip(pb.iter())) {
                    *m |= b & q;
                }
            } else {
                for (m, b) in mask.iter_mut().zip(combo.bits.iter()) {
                    *m |= b;
                }
            }
        }
        if !self.ctx.exceptional.is_empty() {
            let ut: Vec<u32> = u.iter().map(|&(_, t)| t).collect();
            for pos in self.ctx.exceptional.clone() {
                let t = self.trie.id_at(pos as usize);
                let v = self.exact_valid(&z, &ut, t);
                let (w, bit) = (pos as usize / 64, 1u64 << (pos % 64));
                if v {
                    mask[w] |= bit;
                } else {
                    mask[w] &= !bit;
                }
            }
        }
        mask
    }

    /// The mask of a SentencePiece-style model (see [`SpRules`]).
    fn mask_sp(&mut self, sid: u32) -> Vec<u64> {
        let (end, a) = {
            let st = &self.states[sid as usize];
            (st.end as usize, st.token)
        };
        let sp = self.sp.as_mut().expect("a SentencePiece-style model");
        let partial = trailing_partial(&self.x[..end]);
        if !partial.is_empty() {
            let mut mask = vec![0u64; self.all_bits.len()];
            let mut key = partial.to_vec();
            for &(b, p) in &sp.fallback_pos {
                if !(0x80..=0xBF).contains(&b) {
                    continue;
                }
                key.truncate(partial.len());
                key.push(b);
                let ok = match sp.unknown_prefix.get(&key) {
                    Some(&ok) => ok,
                    None => {
                        let ok = sp_unknown_prefix(&self.enc, &sp.is_fallback, &key);
                        sp.unknown_prefix.insert(key.clone(), ok);
                        ok
                    }
                };
                if ok {
                    mask[p / 64] |= 1 << (p % 64);
                }
            }
            return mask;
        }
        if a == NONE {
            return if sp.prepend && !sp.tail_root {
                sp.root_bits.clone()
            } else {
                let mut m = sp.vocab_bits.clone();
                for (x, l) in m.iter_mut().zip(&sp.lead_bits) {
                    *x |= l;
                }
                m
            };
        }
        if sp.is_fallback[a as usize] {
            let mut m = sp.vocab_bits.clone();
            for (x, l) in m.iter_mut().zip(&sp.lead_bits) {
                *x |= l;
            }
            return m;
        }
        let pb = self.pairbits(a);
        let sp = self.sp.as_ref().expect("a SentencePiece-style model");
        pb.iter()
            .zip(sp.vocab_bits.iter().zip(&sp.lead_bits))
            .map(|(q, (v, l))| (q & v) | l)
            .collect()
    }

    /// Reference validity test (slow): does some continuation `s` make the encoding of `z ++ t ++ s` start
    /// with `u ++ [t]`? `z` is a chunk-start-aligned region, `u` its tokens. Continuations: the end of text
    /// and the probes, after every completion of a trailing partial character (all completions when one
    /// byte is missing, one per class otherwise, plus every completion alone).
    pub fn exact_valid(&mut self, z: &[u8], u: &[u32], t: u32) -> bool {
        let model = self.enc.model();
        let tb = model.vocab[t as usize].as_deref().unwrap_or_default();
        let mut zt = z.to_vec();
        zt.extend_from_slice(tb);
        let Some((0, _, partial)) = utf8_parts(&zt) else {
            return false;
        };
        let mut want = u.to_vec();
        want.push(t);
        let probes = super::chunks::probe_strings();
        let mut conts: Vec<Vec<u8>> = Vec::new();
        if partial.is_empty() {
            conts.push(Vec::new());
            conts.extend(probes.iter().map(|p| p.as_bytes().to_vec()));
        } else {
            let n = super::chunks::utf8_len_pub(partial[0]);
            let missing = n - partial.len();
            let mut by_class: FxHashMap<u8, Vec<u8>> = FxHashMap::default();
            for k in 0..(1usize << (6 * missing)) {
                let mut c = Vec::with_capacity(missing);
                for m in (0..missing).rev() {
                    c.push(0x80 | ((k >> (6 * m)) & 0x3F) as u8);
                }
                let mut full = partial.to_vec();
                full.extend_from_slice(&c);
                let Ok(s) = std::str::from_utf8(&full) else {
                    continue;
                };
                let cls = crate::pretok::classes::flags(s.chars().next().expect("a char"));
                conts.push(c.clone());
                if missing == 1 {
                    for p in &probes {
                        let mut cc = c.clone();
                        cc.extend_from_slice(p.as_bytes());
                        conts.push(cc);
                    }
                } else {
                    by_class.entry(cls).or_insert(c);
                }
            }
            for (_, c) in by_class {
                for p in &probes {
                    let mut cc = c.clone();
                    cc.extend_from_slice(p.as_bytes());
                    conts.push(cc);
                }
            }
        }
        let mut out = Vec::new();
        for c in conts {
            let mut w = zt.clone();
            w.extend_from_slice(&c);
            let Ok(s) = std::str::from_utf8(&w) else {
                continue;
            };
            out.clear();
            self.enc.encode_ordinary_into(s, &mut self.cache, &mut out);
            if out.len() >= want.len() && out[..want.len()] == want[..] {
                return true;
            }
        }
        false
    }

    /// Like [`ByteCover::exact_valid`] with explicit continuations (`z ++ t` must end on a character
    /// boundary).
    pub fn exact_valid_with(&mut self, z: &[u8], u: &[u32], t: u32, conts: &[String]) -> bool {
        let model = self.enc.model();
        let mut zt = z.to_vec();
        zt.extend_from_slice(model.vocab[t as usize].as_deref().unwrap_or_default());
        let mut want = u.to_vec();
        want.push(t);
        let mut out = Vec::new();
        for c in conts {
            let mut w = zt.clone();
            w.extend_from_slice(c.as_bytes());
            let Ok(s) = std::str::from_utf8(&w) else {
                continue;
            };
            out.clear();
            self.enc.encode_ordinary_into(s, &mut self.cache, &mut out);
            if out.len() >= want.len() && out[..want.len()] == want[..] {
                return true;
            }
        }
        false
    }

    /// The validity mask of the next token after a state, as token ids (for tests and diagnostics).
    pub fn valid_next(&mut self, sid: u32) -> Vec<u32> {
        let m = self.mask(sid);
        (0..self.trie.len())
            .filter(|&p| m[p / 64] >> (p % 64) & 1 == 1)
            .map(|p| self.trie.id_at(p))
            .collect()
    }

    /// The chunk region and chunk tokens of a state (for tests): (z, tokens of z).
    pub fn state_context(&self, sid: u32) -> (Vec<u8>, Vec<u32>) {
        let st = &self.states[sid as usize];
        let z = self.x[st.chunk as usize..st.end as usize].to_vec();
        let u = self.chunk_tokens(sid).into_iter().map(|(_, t)| t).collect();
        (z, u)
    }

    /// Give state `sid` its next-token log-probabilities (one row of the language model, indexed by token
    /// id; at least `vocab_size()` entries, extra ids are ignored). Converts to probabilities and calls
    /// [`ByteCover::provide_probs`].
    pub fn provide(&mut self, sid: u32, logp: &[f32]) -> Result<(), BytelmError> {
        let mx = logp.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let probs: Vec<f64> = logp.iter().map(|&v| (v as f64 - mx as f64).exp()).collect();
        self.provide_probs(sid, &probs)
    }

    /// Give state `sid` its next-token probabilities (unnormalised is fine: only ratios matter), indexed by
    /// token id, at least `vocab_size()` entries (extra ids are ignored). The row is masked to the valid
    /// continuations and renormalised: `Q(t | S)`.
    pub fn provide_probs(&mut self, sid: u32, probs: &[f64]) -> Result<(), BytelmError> {
        self.provide_with(sid, probs.len(), |i| probs[i])
    }

    /// [`ByteCover::provide_probs`] with the row given as native-endian `f64` bytes (no copy).
    pub fn provide_bytes(&mut self, sid: u32, row: &[u8]) -> Result<(), BytelmError> {
        self.provide_with(sid, row.len() / 8, |i| {
            f64::from_ne_bytes(row[8 * i..8 * i + 8].try_into().expect("8 bytes"))
        })
    }

    fn provide_with(
        &mut self,
        sid: u32,
        len: usize,
        prob: impl Fn(usize) -> f64,
    ) -> Result<(), BytelmError> {
        let need = self.vocab_size();
        if len < need {
            return Err(BytelmError::VocabMismatch { got: len, need });
        }
        let st = self
            .states
            .get(sid as usize)
            .ok_or(BytelmError::UnknownState(sid))?;
        if st.node == NONE || st.dist.is_some() {
            return Ok(());
        }
        let complete = st.complete;
        let t0 = Instant::now();
        let mask = self.mask(sid);
        let t1 = Instant::now();
        let n = self.trie.len();
        let lex = self.trie.lex_ids();
        let mut tree = self.pool.pop().unwrap_or_default();
        tree.clear();
        tree.resize(2 * n, 0.0f64);
        let mut acc = 0.0f64;
        for (w, &bits) in mask.iter().enumerate() {
            if bits == 0 {
                continue;
            }
            let base = w * 64;
            let top = (base + 64).min(n);
            for (k, &id) in lex[base..top].iter().enumerate() {
                if bits >> k & 1 == 1 {
                    let v = prob(id as usize);
                    if v > 0.0 && v < f64::INFINITY {
                        acc += v;
                        tree[n + base + k] = v;
                    }
                }
            }
        }
        for i in (1..n).rev() {
            tree[i] = tree[2 * i] + tree[2 * i + 1];
        }
        let eos_w = match self.cfg.eos.filter(|_| complete) {
            Some(e) => {
                let v = prob(e as usize);
                if v > 0.0 && v.is_finite() {
                    v
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        let z = acc + eos_w;
        let st = &mut self.states[sid as usize];
        if z.is_nan() || z <= 0.0 || !z.is_finite() {
            // The model gives no mass to any valid continuation: this state cannot be extended.
            st.dist = Some(Box::new(Dist {
                tree,
                inv: 0.0,
                eos: 0.0,
            }));
            st.mass = 0.0;
        } else {
            let inv = 1.0 / z;
            st.dist = Some(Box::new(Dist {
                tree,
                inv,
                eos: eos_w * inv,
            }));
        }
        self.stats.provided += 1;
        self.stats.mask_seconds += (t1 - t0).as_secs_f64();
        self.stats.row_seconds += t1.elapsed().as_secs_f64();
        Ok(())
    }

    /// Unnormalised next-byte masses (index 256: end of text).
    fn masses(&self) -> Result<[f64; 257], BytelmError> {
        let mut out = [0.0f64; 257];
        for &sid in &self.live {
            let st = &self.states[sid as usize];
            let d = st.dist.as_ref().ok_or(BytelmError::Pending)?;
            if st.mass == 0.0 {
                continue;
            }
            for &(b, c) in self.trie.children(st.node) {
                let (lo, hi) = self.trie.range(c);
                out[b as usize] += st.mass * d.sum(lo, hi);
            }
            if st.node == TokenTrie::ROOT {
                out[256] += st.mass * d.eos;
            }
        }
        Ok(out)
    }

    /// P(next byte | text so far) for the 256 bytes, then end of text (index 256).
    pub fn next_byte(&mut self) -> Result<[f64; 257], BytelmError> {
        let t0 = Instant::now();
        let mut out = self.masses()?;
        let total: f64 = out.iter().sum();
        if total > 0.0 {
            for v in out.iter_mut() {
                *v /= total;
            }
        }
        self.stats.byte_seconds += t0.elapsed().as_secs_f64();
        Ok(out)
    }

    /// Append a byte. Returns log P(byte | text so far). States whose distribution is still pending must be
    /// provided first.
    pub fn push(&mut self, b: u8) -> Result<f64, BytelmError> {
        let t0 = Instant::now();
        let masses = self.masses()?;
        let total: f64 = masses.iter().sum();
        if masses[b as usize].is_nan()
            || masses[b as usize] <= 0.0
            || total.is_nan()
            || total <= 0.0
        {
            return Err(BytelmError::Impossible {
                pos: self.x.len(),
                byte: b,
            });
        }
        self.x.push(b);
        let end = self.x.len();
        // Chunk start of the character-complete part of the text.
        if self.cfg.canonical {
            if let Some((0, mid, _)) = utf8_parts(&self.x) {
                if mid.len() == end {
                    let off = self.ctx.stable_start(&mid[self.chunk..]);
                    self.chunk += off;
                }
            }
        }
        let mut new_live = Vec::with_capacity(self.live.len() + 2);
        let mut born: Vec<State> = Vec::new();
        let mut kept = 0.0f64;
        let old = std::mem::take(&mut self.live);
        for sid in old {
            let st = &self.states[sid as usize];
            let Some(c) = self.trie.child(st.node, b) else {
                self.states[sid as usize].node = NONE;
                if let Some(d) = self.states[sid as usize].dist.take() {
                    recycle(&mut self.pool, *d);
                }
                continue;
            };
            let d = st.dist.as_ref().expect("checked by masses()");
            let (lo, hi) = self.trie.range(c);
            let tok = self.trie.token(c);
            let ext_lo = if tok.is_some() { lo + 1 } else { lo };
            let ext = d.sum(ext_lo, hi);
            if let Some(t) = tok {
                let q = d.sum(lo, lo + 1);
                if q > 0.0 && st.mass > 0.0 {
                    born.push(State {
                        parent: sid,
                        token: t,
                        start: st.end,
                        end: end as u32,
                        chunk: 0,
                        mass: st.mass * q,
                        node: TokenTrie::ROOT,
                        dist: None,
                        complete: false,
                    });
                }
            }
            let st = &mut self.states[sid as usize];
            if ext > 0.0 && st.mass > 0.0 {
                st.node = c;
                kept += st.mass * ext;
                new_live.push(sid);
            } else {
                st.node = NONE;
                if let Some(d) = st.dist.take() {
                    recycle(&mut self.pool, *d);
                }
            }
        }
        let born_mass: f64 = born.iter().map(|s| s.mass).sum();
        let w = kept + born_mass;
        let pb = masses[b as usize] / total;
        self.log_prefix += pb.ln();
        let chunk = self.chunk as u32;
        for mut s in born {
            s.chunk = chunk;
            s.mass /= w;
            let sid = self.states.len() as u32;
            self.states.push(s);
            self.stats.states += 1;
            new_live.push(sid);
            let complete = self.is_complete(sid);
            self.states[sid as usize].complete = complete;
        }
        for &sid in &new_live {
            let st = &mut self.states[sid as usize];
            if st.node != TokenTrie::ROOT || (st.end as usize) < end {
                st.mass /= w;
            }
        }
        self.live = new_live;
        self.prune();
        self.stats.bytes += 1;
        self.stats.byte_seconds += t0.elapsed().as_secs_f64();
        Ok(pb.ln())
    }

    /// Is state `sid` (ending at the end of the text) the encoding of the whole text?
    fn is_complete(&mut self, sid: u32) -> bool {
        if !self.cfg.canonical {
            return true;
        }
        if self.sp.is_some() {
            let end = self.states[sid as usize].end as usize;
            return trailing_partial(&self.x[..end]).is_empty();
        }
        let st = &self.states[sid as usize];
        let (p, end) = (st.chunk as usize, st.end as usize);
        let z = &self.x[p..end];
        if std::str::from_utf8(z).is_err() {
            return false;
        }
        if self.ctx.trivial() {
            // One chunk: a valid prefix covering the whole text is its encoding, except that the whole-token
            // shortcut may emit one (improper) token instead.
            let single = st.start as usize == p;
            return single || !(self.ctx.shortcut() && self.enc.token_to_id(z).is_some());
        }
        let zs = std::str::from_utf8(z).expect("checked").to_string();
        let u: Vec<u32> = self.chunk_tokens(sid).into_iter().map(|(_, t)| t).collect();
        let mut out = Vec::new();
        self.enc
            .encode_ordinary_into(&zs, &mut self.cache, &mut out);
        out == u
    }

    fn prune(&mut self) {
        let keep_top = if self.cfg.canonical {
            usize::MAX
        } else {
            self.cfg.beam.max(1)
        };
        if self.cfg.prune <= 0.0 && self.live.len() <= keep_top {
            return;
        }
        let mut order: Vec<(f64, u32)> = self
            .live
            .iter()
            .map(|&s| (self.states[s as usize].mass, s))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top = order.first().map_or(0.0, |e| e.0);
        let thr = top * self.cfg.prune;
        let mut keep = Vec::new();
        for (i, (m, s)) in order.into_iter().enumerate() {
            if i < keep_top && m >= thr {
                keep.push(s);
            } else {
                let st = &mut self.states[s as usize];
                st.node = NONE;
                if let Some(d) = st.dist.take() {
                    recycle(&mut self.pool, *d);
                }
            }
        }
        keep.sort_unstable();
        self.live = keep;
    }
}
