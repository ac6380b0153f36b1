//! Pre-tokenization in the validity test.
//!
//! Tokens never cross chunk boundaries and each chunk is encoded on its own, so whether a token may follow a
//! covering state depends on where the chunk boundaries of the *final* text fall. Two facts make this local:
//!
//! 1. *Stability* (checked by tests for every preset, with and without `digits+`): appending text to `y`
//!    never changes the chunks of `y` before the start `p` of its last chunk, and no preset looks behind, so
//!    the chunks from `p` on are those of `y[p..] ++ rest` split alone.
//! 2. *Short look-ahead*: which boundaries fall inside `y[p..] ++ token` depends on what follows only through
//!    its first one or two characters, and on characters only through their class. A finite set of probe
//!    continuations therefore realises every reachable boundary pattern (tests compare with exhaustive
//!    continuations).
//!
//! For a state whose last chunk region is `z` (covered by tokens `U`, the last being `a`) and a candidate
//! token `t`, every probe `s` gives a boundary pattern for `z ++ t ++ s`: the boundaries inside `z` (`pi`),
//! whether `z`/`t` meet at a boundary (`J = B`) or share a chunk (`J = S`), and whether `t`'s chunk ends with
//! `t` (closed) or runs on into `s` (open). The token-only conditions of each pattern (no boundary inside
//! `t`; `t` proper; for an open chunk, no merge across the end of `t`) are folded into per-pattern bitsets
//! over the vocabulary, cached per *context key* (the class signature of `z`). A state's mask is then
//! `OR` over patterns consistent with `U` of `bits[pattern]` (`AND` pair-validity with `a` when `J = S`).

use super::trie::TokenTrie;
use super::validity::PairValidity;
use crate::encode::Encoder;
use crate::pretok::classes::{flags, L};
use crate::pretok::{Preset, Pretokenizer};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Continuations tried after `z ++ t` (besides the end of the text).
const PROBES: &[&str] = &[
    " ", "\t", "\n", "\r", "\u{0b}", "\u{a0}", "\u{3000}", "a", "A", "0", "5", ".", "/", "'", "-",
    "s", "t", "d", "m", "l", "v", "r", "e", "S", "T", "D", "M", "L", "V", "R", "E", "é", "É", "ǅ",
    "ʰ", "あ", "\u{301}", "٣", "½", "Ⅳ", "€", "ll", "ve", "re", "LL", "VE", "RE", "lL", "Ll", "vE",
    "Ve", "rE", "Re", "\r\n", "\n\n", " a", " 0", " .", "  ", " \n", "a'", "'s", "0a", "a0", ".a",
    "\u{301}a",
];

/// A continuation tried: its bytes, the completion class it starts with (if it completes a character) and
/// the completion's length.
type Continuation = (Vec<u8>, Option<(u32, u8)>, usize);

/// A signature's outcomes grouped by boundary pattern `(pi, same)`.
type Groups = Vec<((u32, bool), Vec<Kind>)>;

/// One boundary pattern of `z ++ t ++ probe` as seen from `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// `t`'s chunk ends with `t`.
    Closed,
    /// `t`'s chunk goes on with the probe bytes `opens[i]`.
    Open(u32),
    /// `z ++ t` ends inside a character; its completion (class `k`, completions `comp[i]`) closes the chunk.
    Partial(u32, u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Outcome {
    pi: u32,
    same: bool,
    kind: Kind,
}

/// Per-pattern token bitsets (over lexicographic positions) for one context key.
pub struct KeyTable {
    pub combos: Vec<Combo>,
}

pub struct Combo {
    /// Boundaries inside `z`, as distances from the end of `z` (sorted, > 0).
    pub pi: Arc<[u32]>,
    /// `z` and `t` share a chunk.
    pub same: bool,
    pub bits: Vec<u64>,
}

/// Completions of a trailing partial character, by class.
struct Completions {
    /// (class, bytes completing the char for the representative, first tokens of the completion bytes)
    classes: Vec<(u8, Vec<u8>, Vec<u32>)>,
}

/// The largest chunk start of `text` (which must itself start at such a boundary) that stays a chunk start
/// whatever follows: the end of the text and every probe. Usually the last chunk's start; earlier when the
/// last chunks may still join (`'l` then `l` makes one contraction chunk `'ll`).
pub fn stable_start(pretok: &Pretokenizer, text: &str) -> usize {
    let base = text.as_ptr() as usize;
    let mut cand: Vec<usize> = Vec::new();
    pretok.split(text, |c| {
        let o = c.as_ptr() as usize - base;
        if o > 0 {
            cand.push(o);
        }
    });
    let mut w = String::with_capacity(text.len() + 8);
    let mut b: Vec<usize> = Vec::new();
    for p in PROBES {
        if cand.is_empty() {
            return 0;
        }
        w.clear();
        w.push_str(text);
        w.push_str(p);
        b.clear();
        let wb = w.as_ptr() as usize;
        pretok.split(&w, |c| b.push(c.as_ptr() as usize - wb));
        cand.retain(|c| b.binary_search(c).is_ok());
    }
    cand.last().copied().unwrap_or(0)
}

pub struct ChunkCtx {
    pretok: Pretokenizer,
    /// No splitting at all (`none` without `digits+`): only UTF-8 matters.
    trivial: bool,
    /// Class signatures are sound (presets); otherwise keys and token signatures are the exact bytes.
    by_class: bool,
    shortcut: bool,
    /// Lexicographic position → token signature id; signature id → representative token bytes.
    tok_sig: Vec<u32>,
    sig_rep: Vec<Vec<u8>>,
    keys: FxHashMap<Vec<u8>, Arc<KeyTable>>,
    pis: Vec<Arc<[u32]>>,
    pi_ids: FxHashMap<Vec<u32>, u32>,
    opens: Vec<Vec<u8>>,
    open_ids: FxHashMap<Vec<u8>, u32>,
    /// First token of the encoding of each `opens` entry.
    open_first: Vec<Option<u32>>,
    comp: Vec<Completions>,
    comp_ids: FxHashMap<Vec<u8>, u32>,
    /// Tokens whose validity needs the exact (slow) test: substrings of improper tokens under the
    /// whole-token shortcut. Lexicographic positions.
    pub exceptional: Vec<u32>,
    /// Number of context keys built and the time spent building them.
    pub keys_built: usize,
    pub key_seconds: f64,
    /// `f` → lexicographic positions of the tokens that `f` may follow in one chunk.
    before: FxHashMap<u32, Vec<u64>>,
    /// The vocabulary has tokens that do not encode to themselves.
    has_improper: bool,
}

/// The probe continuations (for the reference test).
pub fn probe_strings() -> Vec<&'static str> {
    PROBES.to_vec()
}

pub(crate) fn utf8_len_pub(lead: u8) -> usize {
    utf8_len(lead)
}

fn is_cont(b: u8) -> bool {
    b & 0xC0 == 0x80
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Split `b` into (leading continuation bytes, complete text, trailing partial char). `None` if the middle is
/// not valid UTF-8 or the tail cannot start a character.
pub(crate) fn utf8_parts(b: &[u8]) -> Option<(usize, &str, &[u8])> {
    let lead = b.iter().take(3).take_while(|&&c| is_cont(c)).count();
    let rest = &b[lead..];
    // Trailing partial: the last lead byte within 3 bytes of the end whose char is incomplete.
    let mut tail = rest.len();
    for k in 1..=rest.len().min(3) {
        let c = rest[rest.len() - k];
        if !is_cont(c) {
            let n = utf8_len(c);
            if n > k {
                tail = rest.len() - k;
            }
            break;
        }
    }
    let mid = std::str::from_utf8(&rest[..tail]).ok()?;
    let partial = &rest[tail..];
    if !partial.is_empty() {
        // The partial must be a valid prefix of some character.
        let n = utf8_len(partial[0]);
        if n == 0 || !partial[1..].iter().all(|&c| is_cont(c)) {
            return None;
        }
        if partial.len() >= 2 {
            let (l, c1) = (partial[0], partial[1]);
            let ok = match l {
                0xE0 => c1 >= 0xA0,
                0xED => c1 < 0xA0,
                0xF0 => c1 >= 0x90,
                0xF4 => c1 < 0x90,
                _ => true,
            };
            if !ok {
                return None;
            }
        }
    }
    Some((lead, mid, partial))
}

/// Class code of a char: specials keep their identity, the rest map to their Unicode flag set.
fn class_of(c: char, exact_letter: bool) -> u8 {
    match c {
        ' ' | '\'' | '\r' | '\n' | '/' => c as u8,
        's' | 'd' | 'm' | 't' | 'l' | 'v' | 'r' | 'e' | 'S' | 'D' | 'M' | 'T' | 'L' | 'V' | 'R'
        | 'E'
            if exact_letter =>
        {
            c as u8
        }
        _ => 0x80 | flags(c),
    }
}

/// Class signature of a byte string: raw leading continuation bytes, class codes of the characters (runs of
/// letters capped at 2, other runs at `cap`), raw trailing partial bytes. Elements are (tag, value) pairs.
fn signature(b: &[u8], token: bool, cap: usize) -> Option<Vec<u8>> {
    let (lead, mid, partial) = utf8_parts(b)?;
    let mut out = Vec::with_capacity(b.len() * 2 + 2);
    for &c in &b[..lead] {
        out.extend_from_slice(&[1, c]);
    }
    let mut since_apos = usize::MAX;
    let mut run_code = 0u8;
    let mut run = 0usize;
    for (i, c) in mid.chars().enumerate() {
        let exact = (token && i < 2) || since_apos <= 2;
        let code = class_of(c, exact);
        since_apos = if c == '\'' {
            1
        } else {
            since_apos.saturating_add(1)
        };
        let letter = code >= 0x80 && (code & 0x7F) & L != 0;
        let limit = if letter { 2 } else { cap };
        if code == run_code {
            run += 1;
        } else {
            run_code = code;
            run = 1;
        }
        if run <= limit {
            out.extend_from_slice(&[0, code]);
        }
    }
    out.push(2);
    for &c in partial {
        out.extend_from_slice(&[1, c]);
    }
    Some(out)
}

impl ChunkCtx {
    pub fn new(enc: &Encoder, trie: &TokenTrie, val: &PairValidity) -> ChunkCtx {
        let model = enc.model();
        let pretok = model.pretok.clone();
        let trivial = pretok.as_preset() == Some(Preset::None) && !pretok.individual_digits();
        let by_class = pretok.as_preset().is_some();
        let shortcut = model.mode == crate::model::MergeMode::Ranks || model.ignore_merges;
        let mut sig_ids: FxHashMap<Vec<u8>, u32> = FxHashMap::default();
        let mut sig_rep: Vec<Vec<u8>> = Vec::new();
        let mut tok_sig = Vec::with_capacity(trie.len());
        for p in 0..trie.len() {
            let id = trie.id_at(p);
            let b = model.vocab[id as usize].as_deref().unwrap_or_default();
            let sig = if trivial {
                // Only the UTF-8 structure matters.
                utf8_parts(b).map(|(lead, _, partial)| {
                    let mut s = b[..lead].to_vec();
                    s.push(0xFF);
                    s.extend_from_slice(partial);
                    s
                })
            } else if by_class {
                signature(b, true, 4)
            } else {
                Some(b.to_vec())
            };
            let sig = sig.unwrap_or_else(|| vec![0xFE]); // never valid
            let n = sig_rep.len() as u32;
            let sid = *sig_ids.entry(sig).or_insert_with(|| {
                sig_rep.push(b.to_vec());
                n
            });
            tok_sig.push(sid);
        }
        let has_improper = (0..trie.len()).any(|p| !val.proper(trie.id_at(p)));
        // Substrings of improper tokens need the exact test when the whole-token shortcut can emit them.
        let mut exceptional = Vec::new();
        if shortcut {
            let improper: Vec<&[u8]> = (0..trie.len())
                .map(|p| trie.id_at(p))
                .filter(|&t| !val.proper(t))
                .map(|t| model.vocab[t as usize].as_deref().unwrap_or_default())
                .collect();
            if !improper.is_empty() {
                for p in 0..trie.len() {
                    let b = model.vocab[trie.id_at(p) as usize]
                        .as_deref()
                        .unwrap_or_default();
                    if improper.iter().any(|w| w.windows(b.len()).any(|x| x == b)) {
                        exceptional.push(p as u32);
                    }
                }
            }
        }
        ChunkCtx {
            pretok,
            trivial,
            by_class,
            shortcut,
            tok_sig,
            sig_rep,
            keys: FxHashMap::default(),
            pis: Vec::new(),
            pi_ids: FxHashMap::default(),
            opens: Vec::new(),
            open_ids: FxHashMap::default(),
            open_first: Vec::new(),
            comp: Vec::new(),
            comp_ids: FxHashMap::default(),
            exceptional,
            keys_built: 0,
            key_seconds: 0.0,
            before: FxHashMap::default(),
            has_improper,
        }
    }

    /// No pre-tokenization (one chunk per text).
    pub fn trivial(&self) -> bool {
        self.trivial
    }

    pub fn n_signatures(&self) -> usize {
        self.sig_rep.len()
    }

    pub fn shortcut(&self) -> bool {
        self.shortcut
    }

    pub fn pretok(&self) -> &Pretokenizer {
        &self.pretok
    }

    /// See [`stable_start`].
    pub fn stable_start(&self, text: &str) -> usize {
        if self.trivial {
            return 0;
        }
        stable_start(&self.pretok, text)
    }

    /// Chunk starts of `text` (offsets > 0 only).
    fn bounds(&self, text: &str, out: &mut Vec<usize>) {
        out.clear();
        if self.trivial {
            return;
        }
        let base = text.as_ptr() as usize;
        self.pretok.split(text, |c| {
            let o = c.as_ptr() as usize - base;
            if o > 0 {
                out.push(o);
            }
        });
    }

    /// The key of a context region `z` and the representative to build its table from.
    fn key(&self, z: &[u8]) -> Vec<u8> {
        if self.trivial {
            let (_, _, partial) = utf8_parts(z).unwrap_or((0, "", &[]));
            let mut k = vec![u8::from(!z.is_empty())];
            k.extend_from_slice(partial);
            k
        } else if self.by_class {
            signature(z, false, usize::MAX).unwrap_or_else(|| z.to_vec())
        } else {
            z.to_vec()
        }
    }

    /// The table for context region `z` (built on first use).
    pub fn table(
        &mut self,
        enc: &Encoder,
        trie: &TokenTrie,
        val: &mut PairValidity,
        z: &[u8],
    ) -> Arc<KeyTable> {
        let key = self.key(z);
        if let Some(t) = self.keys.get(&key) {
            return t.clone();
        }
        let t0 = std::time::Instant::now();
        let zrep: Vec<u8> = if self.trivial {
            let (_, _, partial) = utf8_parts(z).unwrap_or((0, "", &[]));
            let mut r = if z.is_empty() { vec![] } else { b"a".to_vec() };
            r.extend_from_slice(partial);
            r
        } else {
            z.to_vec()
        };
        let t = Arc::new(self.build(enc, trie, val, &zrep));
        self.keys.insert(key, t.clone());
        self.keys_built += 1;
        self.key_seconds += t0.elapsed().as_secs_f64();
        t
    }

    fn pi_id(&mut self, pi: Vec<u32>) -> u32 {
        if let Some(&i) = self.pi_ids.get(&pi) {
            return i;
        }
        let i = self.pis.len() as u32;
        self.pis.push(pi.clone().into());
        self.pi_ids.insert(pi, i);
        i
    }

    fn open_id(&mut self, enc: &Encoder, r: &[u8]) -> u32 {
        if let Some(&i) = self.open_ids.get(r) {
            return i;
        }
        let i = self.opens.len() as u32;
        let mut out = Vec::new();
        enc.bpe(r, &mut out);
        self.open_first.push(out.first().copied());
        self.opens.push(r.to_vec());
        self.open_ids.insert(r.to_vec(), i);
        i
    }

    /// Completions of the trailing partial character `partial`, grouped by class.
    fn completions(&mut self, enc: &Encoder, partial: &[u8]) -> u32 {
        if let Some(&i) = self.comp_ids.get(partial) {
            return i;
        }
        let n = utf8_len(partial[0]);
        let missing = n - partial.len();
        let mut classes: Vec<(u8, Vec<u8>, Vec<u32>)> = Vec::new();
        let mut buf = partial.to_vec();
        let total = 1usize << (6 * missing);
        let mut out = Vec::new();
        for k in 0..total {
            buf.truncate(partial.len());
            for m in (0..missing).rev() {
                buf.push(0x80 | ((k >> (6 * m)) & 0x3F) as u8);
            }
            let Ok(s) = std::str::from_utf8(&buf) else {
                continue;
            };
            let c = s.chars().next().expect("one char");
            let cls = 0x80 | flags(c);
            let rest = &buf[partial.len()..];
            out.clear();
            enc.bpe(rest, &mut out);
            let first = out[0];
            match classes.iter_mut().find(|e| e.0 == cls) {
                Some(e) => {
                    if !e.2.contains(&first) {
                        e.2.push(first);
                    }
                }
                None => classes.push((cls, rest.to_vec(), vec![first])),
            }
        }
        let i = self.comp.len() as u32;
        self.comp.push(Completions { classes });
        self.comp_ids.insert(partial.to_vec(), i);
        i
    }

    /// Boundary patterns of `zrep ++ trep ++ continuation` for every continuation tried.
    fn outcomes(&mut self, enc: &Encoder, zrep: &[u8], trep: &[u8], out: &mut Vec<Outcome>) {
        out.clear();
        let l = zrep.len();
        let m = l + trep.len();
        let mut zt = zrep.to_vec();
        zt.extend_from_slice(trep);
        let Some((0, _, partial)) = utf8_parts(&zt) else {
            return;
        };
        let mut conts: Vec<Continuation> = Vec::new();
        if partial.is_empty() {
            conts.push((Vec::new(), None, 0));
            for p in PROBES {
                conts.push((p.as_bytes().to_vec(), None, 0));
            }
        } else {
            let partial = partial.to_vec();
            let ci = self.completions(enc, &partial);
            let classes: Vec<(u8, Vec<u8>)> = self.comp[ci as usize]
                .classes
                .iter()
                .map(|(c, r, _)| (*c, r.clone()))
                .collect();
            for (cls, rest) in classes {
                conts.push((rest.clone(), Some((ci, cls)), rest.len()));
                for p in PROBES {
                    let mut c = rest.clone();
                    c.extend_from_slice(p.as_bytes());
                    conts.push((c, Some((ci, cls)), rest.len()));
                }
            }
        }
        let mut w = Vec::with_capacity(zt.len() + 8);
        let mut bounds = Vec::new();
        for (cont, part, clen) in conts {
            w.clear();
            w.extend_from_slice(&zt);
            w.extend_from_slice(&cont);
            let Ok(s) = std::str::from_utf8(&w) else {
                continue;
            };
            self.bounds(s, &mut bounds);
            if bounds.iter().any(|&b| l < b && b < m) {
                continue;
            }
            let mut pi: Vec<u32> = bounds
                .iter()
                .filter(|&&b| 0 < b && b < l)
                .map(|&b| (l - b) as u32)
                .collect();
            pi.sort_unstable();
            let same = l > 0 && !bounds.contains(&l);
            let e = bounds.iter().copied().find(|&b| b >= m).unwrap_or(w.len());
            let kind = match part {
                None if e == m => Kind::Closed,
                None => {
                    let r = w[m..e].to_vec();
                    Kind::Open(self.open_id(enc, &r))
                }
                Some((ci, cls)) => {
                    if e != m + clen {
                        continue;
                    }
                    Kind::Partial(ci, cls)
                }
            };
            let pi = self.pi_id(pi);
            let o = Outcome { pi, same, kind };
            if !out.contains(&o) {
                out.push(o);
            }
        }
    }

    /// May the token at lexicographic position `p` be followed by token `f` in one chunk? (Bitset per `f`,
    /// built on first use.)
    fn precedes(
        &mut self,
        enc: &Encoder,
        trie: &TokenTrie,
        val: &mut PairValidity,
        f: u32,
        p: usize,
    ) -> bool {
        let bits = self.before.entry(f).or_insert_with(|| {
            let n = trie.len();
            let mut b = vec![0u64; n.div_ceil(64)];
            for q in 0..n {
                if val.pair_ok_direct(enc, trie.id_at(q), f) {
                    b[q / 64] |= 1u64 << (q % 64);
                }
            }
            b
        });
        bits[p / 64] >> (p % 64) & 1 == 1
    }

    fn build(
        &mut self,
        enc: &Encoder,
        trie: &TokenTrie,
        val: &mut PairValidity,
        zrep: &[u8],
    ) -> KeyTable {
        let n = trie.len();
        let words = n.div_ceil(64);
        let mut combos: Vec<Combo> = Vec::new();
        let mut combo_ix: FxHashMap<(u32, bool), usize> = FxHashMap::default();
        let mut per_sig: Vec<Vec<Outcome>> = Vec::with_capacity(self.sig_rep.len());
        let mut buf = Vec::new();
        for s in 0..self.sig_rep.len() {
            let rep = self.sig_rep[s].clone();
            self.outcomes(enc, zrep, &rep, &mut buf);
            per_sig.push(buf.clone());
        }
        // Group each signature's outcomes by pattern, cheapest test first.
        let groups: Vec<Groups> = per_sig
            .iter()
            .map(|outs| {
                let mut g: Groups = Vec::new();
                for o in outs {
                    match g.iter_mut().find(|e| e.0 == (o.pi, o.same)) {
                        Some(e) => e.1.push(o.kind),
                        None => g.push(((o.pi, o.same), vec![o.kind])),
                    }
                }
                for e in g.iter_mut() {
                    e.1.sort_by_key(|k| match k {
                        Kind::Closed => 0,
                        Kind::Open(_) => 1,
                        Kind::Partial(..) => 2,
                    });
                    e.1.dedup();
                }
                g
            })
            .collect();
        let model = enc.model();
        for p in 0..n {
            let sig = self.tok_sig[p] as usize;
            if groups[sig].is_empty() {
                continue;
            }
            let t = trie.id_at(p);
            let tb = model.vocab[t as usize].as_deref().unwrap_or_default();
            let proper = val.proper(t);
            for &((pi, same), ref kinds) in &groups[sig] {
                let mut ok = false;
                for &kind in kinds {
                    ok = match kind {
                        Kind::Closed => proper || (self.shortcut && !same),
                        Kind::Open(ri) => {
                            proper
                                && match self.open_first[ri as usize] {
                                    Some(f) => self.precedes(enc, trie, val, f, p),
                                    None => false,
                                }
                                && !(self.has_improper && !same && {
                                    let mut cat = tb.to_vec();
                                    cat.extend_from_slice(&self.opens[ri as usize]);
                                    enc.token_to_id(&cat).is_some()
                                })
                        }
                        Kind::Partial(ci, cls) => {
                            proper && {
                                let firsts = self.comp[ci as usize]
                                    .classes
                                    .iter()
                                    .find(|e| e.0 == cls)
                                    .expect("class of these completions")
                                    .2
                                    .clone();
                                firsts.iter().any(|&f| self.precedes(enc, trie, val, f, p))
                            }
                        }
                    };
                    if ok {
                        break;
                    }
                }
                if !ok {
                    continue;
                }
                let ix = *combo_ix.entry((pi, same)).or_insert_with(|| {
                    combos.push(Combo {
                        pi: self.pis[pi as usize].clone(),
                        same,
                        bits: vec![0u64; words],
                    });
                    combos.len() - 1
                });
                combos[ix].bits[p / 64] |= 1u64 << (p % 64);
            }
        }
        KeyTable { combos }
    }
}
