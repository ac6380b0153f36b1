//! BPE pair validity: is `[a, t]` what the encoder produces for `bytes(a) ++ bytes(t)` (one chunk, no
//! pre-tokenization)?
//!
//! Facts used (both merge semantics, proved in the module docs of `bytelm`):
//! - *locality*: if no merge ever crosses a position, the two sides evolve exactly as if encoded alone;
//! - a token sequence inside one chunk is the encoding of its bytes iff every adjacent pair is valid and every
//!   token is *proper* (encodes to itself);
//! - with *monotone* merges (a merge's rank is above the ranks that create its inputs) ranks act as time:
//!   merges fire in increasing rank, so `[a, t]` is invalid iff some part `x` on the right spine of `a` and some
//!   part `y` on the left spine of `t` are adjacent at the rank `r` of the merge `(x, y)`:
//!   `created(x) < r < consumed(x)` and `created(y) < r <= consumed(y)` (a tie is won by the leftmost merge).
//!
//! The left spines form a forest (parent of `t` = its left part). Laid out depth-first with children in
//! increasing creation rank, the tokens `t` whose left spine holds `y` with `consumed(y) >= r` are `y` itself
//! plus a contiguous range. So the tokens that may not follow `a` are a short list of ranges, computed once
//! per `a`. Non-monotone models (SentencePiece conversions list every split of a piece, some using pieces made
//! later) test only the pairs whose spines meet some merge, each by replaying the two tokens' own merge
//! sequences side by side (`pair_valid_events`), which is exact for any merge order.

use crate::encode::Encoder;
use crate::model::MergeMode;
use rustc_hash::FxHashMap;

/// Creation rank of the initial parts, bytes (characters and fallback bytes for SentencePiece-style models;
/// the facts above hold for any alphabet of initial symbols). Ranks are shifted by one so that they come
/// first.
const BYTE: u32 = 0;
pub const INF: u32 = u32::MAX;

#[inline]
fn pack(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

/// How a token is built by its own encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub left: u32,
    pub right: u32,
}

pub struct PairValidity {
    n_ids: usize,
    /// Token id → encodes to itself (`encode(bytes(t)) == [t]` without the whole-token shortcut).
    proper: Vec<bool>,
    /// Token id → (left, right) of its last merge; `None` for bytes, improper and unused ids.
    split: Vec<Option<Split>>,
    /// Token id → creation rank + 1 (0 for bytes).
    created: Vec<u32>,
    /// Merge ranks act as time (see the module docs).
    pub monotone: bool,
    /// (a, b) → (rank + 1, new id): the merge list (first listing wins, as in the encoder), or for rank
    /// semantics the tokens' own last merges.
    pairs: FxHashMap<u64, (u32, u32)>,
    /// Left id → [(right id, rank + 1)] of `pairs`.
    by_left: Vec<Vec<(u32, u32)>>,
    /// Left-spine forest: id → preorder position and subtree end; children sorted by creation rank.
    ord: Vec<u32>,
    end: Vec<u32>,
    kids: Vec<Vec<u32>>,
    /// Preorder position → id.
    ord_ids: Vec<u32>,
    /// Invalid followers of `a` as sorted disjoint ranges of preorder positions.
    inv_cache: FxHashMap<u32, Box<[(u32, u32)]>>,
    /// Fallback memo for non-monotone models: (a, t) → valid.
    memo: FxHashMap<u64, bool>,
    scratch: Vec<(u32, u32, u32)>,
    /// Non-monotone merge lists (pair semantics): each proper token's own encoding as events, for
    /// [`PairValidity::pair_valid_events`]. Empty otherwise.
    events: Vec<Events>,
}

/// The merges of a token's own encoding in the order they fire: their ranks (+ 1), and the rightmost and
/// leftmost parts before the first and after each merge.
#[derive(Clone, Debug, Default)]
struct Events {
    ranks: Vec<u32>,
    right: Vec<u32>,
    left: Vec<u32>,
}

/// [`Events`] of `piece` encoded alone (pair semantics, lowest rank first, leftmost on ties).
fn trace_events(enc: &Encoder, pairs: &FxHashMap<u64, (u32, u32)>, piece: &[u8]) -> Events {
    let mut ids: Vec<u32> = enc.initial_ids(piece).into_iter().map(|p| p.1).collect();
    let mut ev = Events::default();
    let ends = |ids: &[u32], ev: &mut Events| {
        ev.right.push(*ids.last().expect("a part"));
        ev.left.push(ids[0]);
    };
    ends(&ids, &mut ev);
    loop {
        let mut best: Option<(u32, u32, usize)> = None;
        for i in 0..ids.len().saturating_sub(1) {
            if let Some(&(r, new)) = pairs.get(&pack(ids[i], ids[i + 1])) {
                if best.is_none_or(|(br, _, _)| r < br) {
                    best = Some((r, new, i));
                }
            }
        }
        let Some((r, new, i)) = best else { break };
        ids[i] = new;
        ids.remove(i + 1);
        ev.ranks.push(r);
        ends(&ids, &mut ev);
    }
    ev
}

/// BPE of `piece` with the encoder's rules (lowest rank first, leftmost on ties), recording the last merge.
/// Returns the ids and, when the result is one part made by a merge, that merge's (left, right, rank + 1).
fn bpe_traced(
    enc: &Encoder,
    pairs: &FxHashMap<u64, (u32, u32)>,
    piece: &[u8],
) -> (Vec<u32>, Option<(u32, u32, u32)>) {
    let model = enc.model();
    // parts: (start, id); initial symbols are bytes, or characters for SentencePiece-style models
    let mut parts: Vec<(usize, u32)> = enc
        .initial_ids(piece)
        .into_iter()
        .map(|(i, id)| {
            assert!(id != u32::MAX, "validated: all bytes are tokens");
            (i as usize, id)
        })
        .collect();
    let n_initial = parts.len();
    let mut last = None;
    let rank_at = |parts: &[(usize, u32)], i: usize| -> Option<(u32, u32)> {
        if i + 1 >= parts.len() {
            return None;
        }
        match model.mode {
            MergeMode::Pairs => pairs.get(&pack(parts[i].1, parts[i + 1].1)).copied(),
            MergeMode::Ranks => {
                let end = if i + 2 < parts.len() {
                    parts[i + 2].0
                } else {
                    piece.len()
                };
                enc.token_to_id(&piece[parts[i].0..end]).map(|r| (r + 1, r))
            }
        }
    };
    loop {
        let mut best: Option<(u32, u32, usize)> = None;
        for i in 0..parts.len().saturating_sub(1) {
            if let Some((r, new)) = rank_at(&parts, i) {
                if best.is_none_or(|(br, _, _)| r < br) {
                    best = Some((r, new, i));
                }
            }
        }
        let Some((r, new, i)) = best else { break };
        last = Some((parts[i].1, parts[i + 1].1, r));
        parts[i].1 = new;
        parts.remove(i + 1);
    }
    let ids = parts.into_iter().map(|p| p.1).collect::<Vec<_>>();
    let last = if ids.len() == 1 && n_initial > 1 {
        last
    } else {
        None
    };
    (ids, last)
}

impl PairValidity {
    /// `tokens`: the ids that may appear in encodings (non-added, one id per distinct byte string).
    pub fn new(enc: &Encoder, tokens: &[u32]) -> PairValidity {
        let model = enc.model();
        let n_ids = model.vocab_size();
        let mut pairs: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        let mut by_left: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n_ids];
        if model.mode == MergeMode::Pairs {
            for (r, &(a, b)) in model.merges.iter().enumerate() {
                let mut cat = model.vocab[a as usize].clone().unwrap_or_default();
                cat.extend_from_slice(model.vocab[b as usize].as_deref().unwrap_or_default());
                let Some(new) = enc.token_to_id(&cat) else {
                    continue;
                };
                if let std::collections::hash_map::Entry::Vacant(e) = pairs.entry(pack(a, b)) {
                    e.insert((r as u32 + 1, new));
                    by_left[a as usize].push((b, r as u32 + 1));
                }
            }
        }
        let mut proper = vec![false; n_ids];
        let mut split = vec![None; n_ids];
        let mut created = vec![INF; n_ids];
        for &t in tokens {
            let bytes = model.vocab[t as usize].as_deref().unwrap_or_default();
            if enc.initial_ids(bytes).len() == 1 {
                proper[t as usize] = true;
                created[t as usize] = BYTE;
                continue;
            }
            let (ids, last) = bpe_traced(enc, &pairs, bytes);
            if ids.len() == 1 && ids[0] == t {
                let (l, r, rank) = last.expect("a multi-byte single part was merged");
                proper[t as usize] = true;
                split[t as usize] = Some(Split { left: l, right: r });
                created[t as usize] = rank;
            }
        }
        // Rank semantics merge two adjacent parts whenever their concatenation is a token, but only canonical
        // splits ever meet: if parts x, y with x ++ y = w are adjacent, the span of w evolved exactly as w
        // encoded alone, whose last merge is w's split. So rank semantics = pair semantics over the splits.
        if model.mode == MergeMode::Ranks {
            for &w in tokens {
                if let Some(s) = split[w as usize] {
                    pairs.insert(pack(s.left, s.right), (w + 1, w));
                    by_left[s.left as usize].push((s.right, w + 1));
                }
            }
        }
        // Monotone merges: every merge's rank is above the creation ranks of its inputs.
        let mut monotone = true;
        // Highest rank at which each id can be created by any merge.
        let mut maxc = vec![BYTE; n_ids];
        for &(r, new) in pairs.values() {
            let m = &mut maxc[new as usize];
            *m = (*m).max(r);
        }
        for (&k, &(r, _)) in &pairs {
            let (a, b) = ((k >> 32) as u32, k as u32);
            if r <= maxc[a as usize] || r <= maxc[b as usize] {
                monotone = false;
                break;
            }
        }
        // Left-spine forest, preorder with children by creation rank.
        let mut kids: Vec<Vec<u32>> = vec![Vec::new(); n_ids];
        let mut roots: Vec<u32> = Vec::new();
        for &t in tokens {
            if !proper[t as usize] {
                continue;
            }
            match split[t as usize] {
                Some(s) => kids[s.left as usize].push(t),
                None => roots.push(t),
            }
        }
        for k in kids.iter_mut() {
            k.sort_unstable_by_key(|&c| (created[c as usize], c));
        }
        roots.sort_unstable();
        let mut ord = vec![INF; n_ids];
        let mut end = vec![INF; n_ids];
        let mut ord_ids = Vec::with_capacity(tokens.len());
        // Iterative DFS: (id, next child index).
        let mut stack: Vec<(u32, usize)> = Vec::new();
        for &r in &roots {
            ord[r as usize] = ord_ids.len() as u32;
            ord_ids.push(r);
            stack.push((r, 0));
            while let Some(top) = stack.last_mut() {
                let (id, ci) = *top;
                if ci < kids[id as usize].len() {
                    top.1 += 1;
                    let c = kids[id as usize][ci];
                    ord[c as usize] = ord_ids.len() as u32;
                    ord_ids.push(c);
                    stack.push((c, 0));
                } else {
                    end[id as usize] = ord_ids.len() as u32;
                    stack.pop();
                }
            }
        }
        let mut events = Vec::new();
        if !monotone && model.mode == MergeMode::Pairs {
            events = vec![Events::default(); n_ids];
            for &t in tokens {
                if proper[t as usize] {
                    let bytes = model.vocab[t as usize].as_deref().unwrap_or_default();
                    events[t as usize] = trace_events(enc, &pairs, bytes);
                }
            }
        }
        PairValidity {
            n_ids,
            proper,
            split,
            created,
            monotone,
            pairs,
            by_left,
            ord,
            end,
            kids,
            ord_ids,
            inv_cache: FxHashMap::default(),
            memo: FxHashMap::default(),
            scratch: Vec::new(),
            events,
        }
    }

    #[inline]
    pub fn proper(&self, t: u32) -> bool {
        self.proper.get(t as usize).copied().unwrap_or(false)
    }

    pub fn split(&self, t: u32) -> Option<Split> {
        self.split.get(t as usize).copied().flatten()
    }

    /// Number of proper tokens (the forest's size).
    pub fn n_proper(&self) -> usize {
        self.ord_ids.len()
    }

    /// Ids of the improper tokens among `tokens`.
    pub fn improper<'a>(&'a self, tokens: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        tokens.iter().copied().filter(|&t| !self.proper(t))
    }

    /// Merges `(x, y)` with `x` on the left: [(y, rank + 1)].
    fn right_ext(&mut self, enc: &Encoder, trie: &super::trie::TokenTrie, x: u32) -> &[(u32, u32)] {
        let _ = (enc, trie);
        &self.by_left[x as usize]
    }

    /// Sorted disjoint preorder ranges of the tokens that cannot follow `a` in one chunk.
    pub fn invalid_after(
        &mut self,
        enc: &Encoder,
        trie: &super::trie::TokenTrie,
        a: u32,
    ) -> &[(u32, u32)] {
        if !self.inv_cache.contains_key(&a) {
            let r = self.compute_invalid(enc, trie, a);
            self.inv_cache.insert(a, r.into_boxed_slice());
        }
        &self.inv_cache[&a]
    }

    fn compute_invalid(
        &mut self,
        enc: &Encoder,
        trie: &super::trie::TokenTrie,
        a: u32,
    ) -> Vec<(u32, u32)> {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        if !self.proper(a) {
            return vec![(0, self.ord_ids.len() as u32)];
        }
        if !self.monotone {
            // Fallback: test the pairs that may merge across. Before the first merge across `a | t`, both
            // sides evolve as if alone (locality), so that merge joins a part on the right spine of `a` (the
            // parts at its right end over time) to one on the left spine of `t`: only the tokens whose left
            // spine holds some `y` of a merge `(x, y)` with `x` on the right spine of `a` (a forest subtree
            // each) can be invalid. Exact, with no assumption on the merge order.
            let mut cand: Vec<(u32, u32)> = Vec::new();
            let mut x = a;
            loop {
                for &(y, _) in &self.by_left[x as usize] {
                    let oy = self.ord[y as usize];
                    if oy != INF {
                        cand.push((oy, self.end[y as usize]));
                    }
                }
                match self.split[x as usize] {
                    Some(s) => x = s.right,
                    None => break,
                }
            }
            for (s, e) in merge_ranges(cand) {
                for p in s..e {
                    let t = self.ord_ids[p as usize];
                    if !self.pair_valid_fallback(enc, a, t) {
                        ranges.push((p, p + 1));
                    }
                }
            }
            return merge_ranges(ranges);
        }
        let mut x = a;
        let mut consumed = INF;
        loop {
            let cx = self.created[x as usize];
            let ext: Vec<(u32, u32)> = self.right_ext(enc, trie, x).to_vec();
            for (y, r) in ext {
                if r <= cx || r >= consumed || !self.proper(y) || self.created[y as usize] >= r {
                    continue;
                }
                let oy = self.ord[y as usize];
                ranges.push((oy, oy + 1));
                let kids = &self.kids[y as usize];
                let k = kids.partition_point(|&c| self.created[c as usize] < r);
                if k < kids.len() {
                    ranges.push((self.ord[kids[k] as usize], self.end[y as usize]));
                }
            }
            match self.split[x as usize] {
                Some(s) => {
                    consumed = cx;
                    x = s.right;
                }
                None => break,
            }
        }
        merge_ranges(ranges)
    }

    /// Is `[a, t]` valid inside one chunk (both proper, no merge across)?
    pub fn pair_ok(
        &mut self,
        enc: &Encoder,
        trie: &super::trie::TokenTrie,
        a: u32,
        t: u32,
    ) -> bool {
        if !self.proper(a) || !self.proper(t) {
            return false;
        }
        let o = self.ord[t as usize];
        let inv = self.invalid_after(enc, trie, a);
        let i = inv.partition_point(|&(_, e)| e <= o);
        !(i < inv.len() && inv[i].0 <= o)
    }

    /// Is `[a, t]` valid inside one chunk? Walks both spines (no cache); for one-off checks.
    pub fn pair_ok_direct(&mut self, enc: &Encoder, a: u32, t: u32) -> bool {
        if !self.proper(a) || !self.proper(t) {
            return false;
        }
        if !self.monotone {
            return self.pair_valid_fallback(enc, a, t);
        }
        // Left spine of t with windows (created, consumed].
        let mut lsp = std::mem::take(&mut self.scratch);
        lsp.clear();
        let (mut y, mut ky) = (t, INF);
        loop {
            let cy = self.created[y as usize];
            lsp.push((y, cy, ky));
            match self.split[y as usize] {
                Some(s) => {
                    ky = cy;
                    y = s.left;
                }
                None => break,
            }
        }
        let (mut x, mut kx) = (a, INF);
        loop {
            let cx = self.created[x as usize];
            for &(y, cy, ky) in &lsp {
                if let Some(&(r, _)) = self.pairs.get(&pack(x, y)) {
                    if cx < r && r < kx && cy < r && r <= ky {
                        self.scratch = lsp;
                        return false;
                    }
                }
            }
            match self.split[x as usize] {
                Some(s) => {
                    kx = cx;
                    x = s.right;
                }
                None => break,
            }
        }
        self.scratch = lsp;
        true
    }

    fn pair_valid_fallback(&mut self, enc: &Encoder, a: u32, t: u32) -> bool {
        if self.events.is_empty() {
            self.pair_valid_reencode(enc, a, t)
        } else {
            self.pair_valid_events(a, t)
        }
    }

    /// Is `[a, t]` valid (both proper, pair semantics, any merge order)? Until the first merge across, both
    /// sides fire their own encodings' merges in order; the combined encoding picks the lowest rank, leftmost on
    /// ties, among `a`'s next merge, the merge of the two parts that meet at the boundary, and `t`'s next
    /// merge (in this left-to-right order). `[a, t]` is valid iff the merge across never wins.
    pub fn pair_valid_events(&self, a: u32, t: u32) -> bool {
        let (ea, et) = (&self.events[a as usize], &self.events[t as usize]);
        let (mut k, mut j) = (0usize, 0usize);
        let mut cross_key = u64::MAX;
        let mut cross = INF;
        loop {
            let ra = ea.ranks.get(k).copied().unwrap_or(INF);
            let rt = et.ranks.get(j).copied().unwrap_or(INF);
            let key = pack(ea.right[k], et.left[j]);
            if key != cross_key {
                cross_key = key;
                cross = self.pairs.get(&key).map_or(INF, |&(r, _)| r);
            }
            if cross < ra && cross <= rt {
                return false;
            }
            if ra == INF && rt == INF {
                return true;
            }
            if ra <= rt {
                k += 1;
            } else {
                j += 1;
            }
        }
    }

    /// Reference test: re-encode the two tokens' bytes as one chunk (no shortcut) and compare.
    pub fn pair_valid_reencode(&mut self, enc: &Encoder, a: u32, t: u32) -> bool {
        if let Some(&v) = self.memo.get(&pack(a, t)) {
            return v;
        }
        let model = enc.model();
        let mut cat = model.vocab[a as usize].clone().unwrap_or_default();
        cat.extend_from_slice(model.vocab[t as usize].as_deref().unwrap_or_default());
        let mut out = Vec::new();
        enc.bpe(&cat, &mut out);
        let v = out == [a, t];
        self.memo.insert(pack(a, t), v);
        v
    }

    /// Preorder position → id (the forest's token order).
    pub fn ord_ids(&self) -> &[u32] {
        &self.ord_ids
    }

    /// Id → preorder position (`INF` for tokens outside the forest).
    #[inline]
    pub fn ord_of(&self, t: u32) -> u32 {
        self.ord.get(t as usize).copied().unwrap_or(INF)
    }

    pub fn n_ids(&self) -> usize {
        self.n_ids
    }

    /// Number of cached `invalid_after` lists.
    pub fn cached(&self) -> usize {
        self.inv_cache.len()
    }
}

fn merge_ranges(mut r: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    r.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(r.len());
    for (s, e) in r {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}
