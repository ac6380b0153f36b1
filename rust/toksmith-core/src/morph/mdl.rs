//! Morfessor-Baseline-style MDL segmentation (Creutz & Lagus 2002/2007; Virpioja et al. 2013, Morfessor 2.0).
//!
//! The model is a lexicon of morphs; its cost is L(lexicon) + L(corpus | lexicon), in nats, exactly as Morfessor
//! 2.0's `BaselineModel` computes it:
//! * corpus: with `N` morph tokens, `W` word tokens (the word-end marker), `c_m` the count of morph `m` and
//!   `T` morph types: `α·[(N+W)·ln(N+W) − W·ln W − Σ c_m ln c_m] + ln C(N−1, T−1)` (frequency distribution);
//! * lexicon: the morph strings letter by letter plus an end marker: with `L` letters in all, `T` morphs,
//!   `a_x` the count of letter `x` and `A` letter types ever seen:
//!   `(L+T)·ln(L+T) − T·ln T − Σ a_x ln a_x − ln T! + ln C(L+T−1, A)`.
//!
//! `ln n!` is exact below 20 and Stirling's approximation above, as in Morfessor. Training is Morfessor's batch
//! recursive splitting: every word is a binary tree whose leaves are morphs; each epoch visits the words in a
//! seeded random order and re-splits each one top-down at the split (or no split) of lowest total cost; it stops
//! when an epoch gains less than `finish_threshold` nats per word token (at least two epochs).
//!
//! Segmenting (`decode`): by default every word, seen in training or not, gets its Viterbi segmentation over the
//! learned morph lexicon (Morfessor's `viterbi_segment` without smoothing: unknown single letters at a large
//! cost). That is what a stored tokenizer can reproduce (it keeps the lexicon, not the trees), and on the
//! SIGMORPHON words it scores higher boundary F1 than the training trees (bench/RESULTS.md, section 8 (b)).
//! `decode=tree` gives training words their training tree instead (Morfessor's `segment`); `analysis` always does.

use super::{MorphError, Segmenter};
use rustc_hash::FxHashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dampening {
    /// Word counts as given.
    None,
    /// `round(log2(c + 1))`.
    Log,
    /// Every word type counts once (Morfessor's command-line default).
    Ones,
}

/// How a trained model segments words (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// Viterbi over the morph lexicon for every word.
    Viterbi,
    /// Training words by their training tree, other words by Viterbi.
    Tree,
}

impl Decode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viterbi" => Some(Decode::Viterbi),
            "tree" => Some(Decode::Tree),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct MdlConfig {
    /// α, the weight of the corpus cost (Morfessor's `corpusweight`, default 1): higher values favour fewer
    /// corpus tokens, hence longer morphs and fewer splits.
    pub corpus_weight: f64,
    pub dampening: Dampening,
    pub seed: u64,
    pub finish_threshold: f64,
    pub max_epochs: usize,
    /// Longest morph Viterbi considers for unseen words.
    pub max_len: usize,
    /// Words counted fewer times (before dampening) are left out of training (they get Viterbi); 1 keeps all.
    pub min_count: u64,
    pub decode: Decode,
}

impl Default for MdlConfig {
    fn default() -> Self {
        MdlConfig {
            corpus_weight: 1.0,
            dampening: Dampening::Ones,
            seed: 0,
            finish_threshold: 0.005,
            max_epochs: 100,
            max_len: 30,
            min_count: 1,
            decode: Decode::Viterbi,
        }
    }
}

impl MdlConfig {
    /// `KEY=VALUE,...` with keys `weight`, `dampening` (none|log|ones), `seed`, `threshold`, `epochs`,
    /// `min_count`, `decode` (viterbi|tree).
    pub fn parse(s: &str) -> Result<Self, MorphError> {
        let mut c = MdlConfig::default();
        for kv in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| MorphError::Config(format!("mdl option '{kv}' is not KEY=VALUE")))?;
            let bad = || MorphError::Config(format!("bad value for mdl option {k}: '{v}'"));
            match k {
                "weight" => c.corpus_weight = v.parse().map_err(|_| bad())?,
                "dampening" => c.dampening = Dampening::parse(v).ok_or_else(bad)?,
                "seed" => c.seed = v.parse().map_err(|_| bad())?,
                "threshold" => c.finish_threshold = v.parse().map_err(|_| bad())?,
                "epochs" => c.max_epochs = v.parse().map_err(|_| bad())?,
                "min_count" => c.min_count = v.parse().map_err(|_| bad())?,
                "decode" => c.decode = Decode::parse(v).ok_or_else(bad)?,
                _ => {
                    return Err(MorphError::Config(format!(
                    "unknown mdl option '{k}' (known: weight, dampening, seed, threshold, epochs, min_count, decode)"
                )))
                }
            }
        }
        c.check()?;
        Ok(c)
    }

    pub fn check(&self) -> Result<(), MorphError> {
        if !(self.corpus_weight.is_finite() && self.corpus_weight > 0.0) {
            return Err(MorphError::Config(
                "mdl corpus weight must be a positive number".into(),
            ));
        }
        if self.max_epochs == 0 {
            return Err(MorphError::Config("mdl epochs must be at least 1".into()));
        }
        Ok(())
    }
}

impl Dampening {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Dampening::None),
            "log" => Some(Dampening::Log),
            "ones" => Some(Dampening::Ones),
            _ => None,
        }
    }
    fn apply(self, c: u64) -> u64 {
        match self {
            Dampening::None => c,
            Dampening::Ones => u64::from(c > 0),
            Dampening::Log => ((c as f64 + 1.0).log2()).round() as u64,
        }
    }
}

const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// ln n!: exact below 20, Stirling above (Morfessor's `_logfactorial`).
pub fn log_factorial(n: i64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    if (n as usize) < TABLE {
        return LOGFACT[n as usize];
    }
    stirling(n as f64)
}

const TABLE: usize = 1 << 20;

/// `c ln c` and `ln c!` (Morfessor's values) for `c < TABLE`, computed once.
static XLOGX: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
    (0..TABLE)
        .map(|c| {
            if c > 1 {
                c as f64 * (c as f64).ln()
            } else {
                0.0
            }
        })
        .collect()
});
static LOGFACT: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
    let mut t = vec![0.0; TABLE];
    for n in 2..TABLE {
        t[n] = if n < 20 {
            t[n - 1] + (n as f64).ln()
        } else {
            stirling(n as f64)
        };
    }
    t
});

fn stirling(x: f64) -> f64 {
    let l = x.ln();
    x * l - x + 0.5 * (l + LOG_2PI)
}

#[inline]
fn xlogx(c: i64) -> f64 {
    if c > 1 {
        if (c as usize) < TABLE {
            return XLOGX[c as usize];
        }
        let x = c as f64;
        x * x.ln()
    } else {
        0.0
    }
}

/// Token/boundary counts of one of the two codes.
#[derive(Clone, Debug, Default)]
struct Enc {
    tokens: i64,
    boundaries: i64,
    logtokensum: f64,
}

impl Enc {
    fn update(&mut self, old: i64, new: i64) {
        self.tokens += new - old;
        self.logtokensum += xlogx(new) - xlogx(old);
    }
    fn base(&self) -> f64 {
        let n = (self.tokens + self.boundaries) as f64;
        let b = self.boundaries as f64;
        n * n.ln() - b * b.ln() - self.logtokensum
    }
}

/// Letter counts of the lexicon; `types` counts letters ever seen (as Morfessor's Counter keeps zeros).
#[derive(Clone, Debug)]
struct Atoms {
    dense: Vec<i64>,
    seen: Vec<bool>,
    sparse: FxHashMap<char, i64>,
    types: i64,
}

const DENSE: usize = 0x800;

impl Default for Atoms {
    fn default() -> Self {
        Atoms {
            dense: vec![0; DENSE],
            seen: vec![false; DENSE],
            sparse: FxHashMap::default(),
            types: 0,
        }
    }
}

impl Atoms {
    #[inline]
    fn add(&mut self, ch: char, d: i64) -> (i64, i64) {
        let i = ch as usize;
        if i < DENSE {
            if !self.seen[i] {
                self.seen[i] = true;
                self.types += 1;
            }
            let old = self.dense[i];
            self.dense[i] += d;
            (old, old + d)
        } else {
            let types = &mut self.types;
            let e = self.sparse.entry(ch).or_insert_with(|| {
                *types += 1;
                0
            });
            let old = *e;
            *e += d;
            (old, old + d)
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Node {
    rcount: i64,
    count: i64,
    /// Byte offset of the split; 0 for a morph (leaf).
    split: u32,
}

/// The model: analyses of words and morphs (trees), and the two codes.
#[derive(Clone, Debug)]
pub struct MdlSegmenter {
    analyses: FxHashMap<Box<str>, Node>,
    corpus: Enc,
    lexicon: Enc,
    atoms: Atoms,
    weight: f64,
    max_len: usize,
    decode: Decode,
    /// Epochs run.
    pub epochs: usize,
    /// Training words (types).
    pub words: usize,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl MdlSegmenter {
    fn empty(weight: f64, max_len: usize) -> Self {
        MdlSegmenter {
            analyses: FxHashMap::default(),
            corpus: Enc::default(),
            lexicon: Enc::default(),
            atoms: Atoms::default(),
            weight,
            max_len,
            decode: Decode::Viterbi,
            epochs: 0,
            words: 0,
        }
    }

    /// Train on word counts (any order; repeated words are added up). Deterministic for a given seed.
    pub fn train(words: &[(String, u64)], cfg: &MdlConfig) -> Result<Self, MorphError> {
        cfg.check()?;
        let mut m = Self::empty(cfg.corpus_weight, cfg.max_len);
        m.decode = cfg.decode;
        let mut merged: FxHashMap<&str, u64> = FxHashMap::default();
        for (w, c) in words {
            if !w.is_empty() {
                *merged.entry(w.as_str()).or_insert(0) += c;
            }
        }
        let mut compounds: Vec<(&str, i64)> = merged
            .into_iter()
            .filter(|&(_, c)| c >= cfg.min_count)
            .map(|(w, c)| (w, cfg.dampening.apply(c) as i64))
            .filter(|&(_, c)| c > 0)
            .collect();
        if compounds.is_empty() {
            return Err(MorphError::EmptyWordList);
        }
        compounds.sort_unstable();
        for &(w, c) in &compounds {
            m.add_compound(w, c);
        }
        m.words = compounds.len();
        let mut order: Vec<&str> = compounds.iter().map(|&(w, _)| w).collect();
        let mut rng = Rng(cfg.seed ^ 0x6D6F_7270_686D_646C);
        let mut newcost = m.cost();
        let mut forced = 1usize;
        loop {
            for i in (1..order.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            for w in &order {
                m.recursive_split(w);
            }
            m.analyses.retain(|_, n| n.count != 0);
            m.epochs += 1;
            let oldcost = newcost;
            newcost = m.cost();
            if forced == 0 && newcost >= oldcost - cfg.finish_threshold * m.corpus.boundaries as f64
            {
                break;
            }
            forced = forced.saturating_sub(1);
            if m.epochs >= cfg.max_epochs {
                break;
            }
        }
        Ok(m)
    }

    /// A model holding the given segmentations as they are (no training): for checking costs.
    pub fn from_segmentations(items: &[(&str, u64, Vec<&str>)], corpus_weight: f64) -> Self {
        let mut m = Self::empty(corpus_weight, 30);
        for (_, c, morphs) in items {
            let c = *c as i64;
            m.corpus.boundaries += c;
            for morph in morphs {
                m.modify(morph, c);
            }
            m.words += 1;
        }
        m
    }

    fn add_compound(&mut self, w: &str, c: i64) {
        self.corpus.boundaries += c;
        self.modify(w, c);
        if let Some(n) = self.analyses.get_mut(w) {
            n.rcount += c;
        }
    }

    fn lex_add(&mut self, m: &str, sign: i64) {
        self.lexicon.boundaries += sign;
        for ch in m.chars() {
            let (old, new) = self.atoms.add(ch, sign);
            self.lexicon.update(old, new);
        }
    }

    /// Morfessor's `_modify_construction_count`.
    fn modify(&mut self, cons: &str, d: i64) {
        let (rcount, count, split) = match self.analyses.get(cons) {
            Some(n) => (n.rcount, n.count, n.split),
            None => (0, 0, 0),
        };
        let newcount = count + d;
        if let Some(n) = self.analyses.get_mut(cons) {
            // A count of 0 leaves a tombstone (a leaf with no counts: the same as no entry) so that trying a
            // split does not allocate; tombstones are purged after each epoch.
            n.count = newcount;
            if newcount == 0 {
                *n = Node {
                    rcount: 0,
                    count: 0,
                    split: 0,
                };
            }
        } else if newcount != 0 {
            self.analyses.insert(
                cons.into(),
                Node {
                    rcount,
                    count: newcount,
                    split,
                },
            );
        }
        if split > 0 {
            let s = split as usize;
            self.modify(&cons[..s], d);
            self.modify(&cons[s..], d);
        } else {
            self.corpus.update(count, newcount);
            if count == 0 && newcount > 0 {
                self.lex_add(cons, 1);
            } else if count > 0 && newcount == 0 {
                self.lex_add(cons, -1);
            }
        }
    }

    fn recursive_split(&mut self, cons: &str) {
        let mut it = cons.char_indices();
        if it.nth(1).is_none() {
            return;
        }
        let Some(node) = self.analyses.get(cons).copied().filter(|n| n.count > 0) else {
            return;
        };
        let (rcount, count) = (node.rcount, node.count);
        self.modify(cons, -count);
        self.modify(cons, count);
        let mut mincost = self.cost();
        self.modify(cons, -count);
        let mut splitloc = 0usize;
        for (i, _) in cons.char_indices().skip(1) {
            let (p, s) = (&cons[..i], &cons[i..]);
            self.modify(p, count);
            self.modify(s, count);
            let c = self.cost();
            self.modify(p, -count);
            self.modify(s, -count);
            if c <= mincost {
                mincost = c;
                splitloc = i;
            }
        }
        if splitloc > 0 {
            self.analyses.insert(
                cons.into(),
                Node {
                    rcount,
                    count,
                    split: splitloc as u32,
                },
            );
            let (p, s) = (&cons[..splitloc], &cons[splitloc..]);
            self.modify(p, count);
            self.modify(s, count);
            self.recursive_split(p);
            if s != p {
                self.recursive_split(s);
            }
        } else {
            self.analyses.insert(
                cons.into(),
                Node {
                    rcount,
                    count: 0,
                    split: 0,
                },
            );
            self.modify(cons, count);
        }
    }

    fn corpus_cost(&self) -> f64 {
        let e = &self.corpus;
        if e.boundaries == 0 {
            return 0.0;
        }
        let types = self.lexicon.boundaries + 1;
        let fd = if types < 2 {
            0.0
        } else {
            log_factorial(e.tokens - 1)
                - log_factorial(types - 2)
                - log_factorial(e.tokens - types + 1)
        };
        e.base() * self.weight + fd
    }

    fn lexicon_cost(&self) -> f64 {
        let e = &self.lexicon;
        if e.boundaries == 0 {
            return 0.0;
        }
        let types = self.atoms.types + 1;
        let fd = if types < 2 {
            0.0
        } else {
            let t = e.tokens + e.boundaries;
            log_factorial(t - 1) - log_factorial(types - 1) - log_factorial(t - types)
        };
        e.base() - log_factorial(e.boundaries) + fd
    }

    /// Total cost in nats: lexicon + corpus.
    pub fn cost(&self) -> f64 {
        self.lexicon_cost() + self.corpus_cost()
    }

    /// (lexicon cost, corpus cost).
    pub fn costs(&self) -> (f64, f64) {
        (self.lexicon_cost(), self.corpus_cost())
    }

    /// Morphs (leaves) and their counts, sorted.
    pub fn morphs(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .analyses
            .iter()
            .filter(|(_, n)| n.split == 0 && n.count > 0)
            .map(|(k, n)| (k.to_string(), n.count as u64))
            .collect();
        v.sort_unstable();
        v
    }

    fn tree(&self, cons: &str, out: &mut Vec<usize>, base: usize) {
        match self.analyses.get(cons) {
            Some(n) if n.split > 0 => {
                let s = n.split as usize;
                self.tree(&cons[..s], out, base);
                out.push(base + cons[..s].chars().count());
                self.tree(&cons[s..], out, base + cons[..s].chars().count());
            }
            _ => {}
        }
    }

    /// The training tree's morphs of a training word (Morfessor's `segment`), whatever `decode` says; other
    /// words get Viterbi. The model's cost is the cost of these analyses.
    pub fn analysis(&self, word: &str) -> Vec<usize> {
        if self.analyses.get(word).is_some_and(|n| n.count > 0) {
            let mut out = Vec::new();
            self.tree(word, &mut out, 0);
            out
        } else {
            self.viterbi(word)
        }
    }

    /// Whether `word` was a training word.
    pub fn knows(&self, word: &str) -> bool {
        self.analyses
            .get(word)
            .is_some_and(|n| n.rcount > 0 && n.count > 0)
    }

    /// Viterbi segmentation over the morph lexicon (char offsets of the boundaries).
    pub fn viterbi(&self, word: &str) -> Vec<usize> {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        let n = chars.len();
        if n < 2 {
            return Vec::new();
        }
        let byte_at = |i: usize| if i == n { word.len() } else { chars[i].0 };
        let total = (self.corpus.tokens + self.corpus.boundaries) as f64;
        let logtokens = if total > 0.0 { total.ln() } else { 0.0 };
        let bad = n as f64 * logtokens + 1.0;
        let mut grid: Vec<(f64, usize)> = vec![(0.0, usize::MAX); n + 1];
        for t in 1..=n {
            let mut best: Option<(f64, usize)> = None;
            for pt in t.saturating_sub(self.max_len)..t {
                if pt > 0 && grid[pt].1 == usize::MAX {
                    continue;
                }
                let m = &word[byte_at(pt)..byte_at(t)];
                let c = match self.analyses.get(m) {
                    Some(nd) if nd.split == 0 && nd.count > 0 => {
                        grid[pt].0 + logtokens - (nd.count as f64).ln()
                    }
                    _ if t - pt == 1 => grid[pt].0 + bad,
                    _ => continue,
                };
                if best.is_none_or(|(bc, _)| c < bc) {
                    best = Some((c, pt));
                }
            }
            if let Some(b) = best {
                grid[t] = b;
            }
        }
        let mut out = Vec::new();
        let mut t = n;
        while t > 0 {
            let pt = grid[t].1;
            if pt > 0 {
                out.push(pt);
            }
            t = pt;
        }
        out.reverse();
        out
    }
}

impl Segmenter for MdlSegmenter {
    fn name(&self) -> String {
        "mdl".into()
    }
    fn boundaries(&self, word: &str) -> Vec<usize> {
        match self.decode {
            Decode::Tree => self.analysis(word),
            Decode::Viterbi => self.viterbi(word),
        }
    }
}

/// An mdl model frozen for encoding: Viterbi over its morphs for every word (what the toksmith-morph format
/// stores); also the unseen-word lexicon of the gold segmenter (`gold.rs`), whose "morphs" are weighted units.
#[derive(Clone, Debug)]
pub struct MdlViterbi {
    pub morphs: Vec<(String, u64)>,
    /// Morph tokens + word tokens of the trained model (Viterbi's log-probability denominator), when it came from
    /// one; `None`: each unit counts as its own word (the gold unseen-word lexicon, older files).
    pub total: Option<i64>,
    inner: MdlSegmenter,
}

impl MdlViterbi {
    pub fn new(morphs: Vec<(String, u64)>) -> Self {
        Self::with_total(morphs, None)
    }
    pub fn with_total(morphs: Vec<(String, u64)>, total: Option<i64>) -> Self {
        let items: Vec<(&str, u64, Vec<&str>)> = morphs
            .iter()
            .map(|(m, c)| (m.as_str(), *c, vec![m.as_str()]))
            .collect();
        let mut inner = MdlSegmenter::from_segmentations(&items, 1.0);
        if let Some(t) = total.filter(|&t| t > inner.corpus.tokens) {
            inner.corpus.boundaries = t - inner.corpus.tokens;
        }
        MdlViterbi {
            inner,
            morphs,
            total,
        }
    }
    /// The model as a stored tokenizer keeps it: segments every word exactly as the model's default
    /// (`decode=viterbi`) does.
    pub fn from_model(m: &MdlSegmenter) -> Self {
        Self::with_total(m.morphs(), Some(m.corpus.tokens + m.corpus.boundaries))
    }
}

impl Segmenter for MdlViterbi {
    fn name(&self) -> String {
        "mdl".into()
    }
    fn boundaries(&self, word: &str) -> Vec<usize> {
        self.inner.viterbi(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lf(n: i64) -> f64 {
        (2..=n).map(|k| (k as f64).ln()).sum()
    }

    #[test]
    fn cost_of_a_segmentation_by_hand() {
        // Corpus: "ab" ×2 as a|b, "b" ×1. Morphs a (count 2), b (count 3): N = 5 morph tokens, W = 3 words,
        // T = 2 morph types. Corpus: (8 ln 8 − 3 ln 3 − 2 ln 2 − 3 ln 3) + ln C(4, 1) = ... + ln 4.
        // Lexicon: letters a, b (L = 2), T = 2 morphs, A = 2 letter types:
        // (4 ln 4 − 2 ln 2 − 0) − ln 2! + ln C(3, 2) [= ln 3!/(2!·1!)].
        let m = MdlSegmenter::from_segmentations(
            &[("ab", 2, vec!["a", "b"]), ("b", 1, vec!["b"])],
            1.0,
        );
        let l = |x: f64| x.ln();
        let corpus = 8.0 * l(8.0) - 3.0 * l(3.0) - 2.0 * l(2.0) - 3.0 * l(3.0) + l(4.0);
        let lexicon = 4.0 * l(4.0) - 2.0 * l(2.0) - l(2.0) + l(3.0);
        let (lc, cc) = m.costs();
        assert!((cc - corpus).abs() < 1e-9, "{cc} vs {corpus}");
        assert!((lc - lexicon).abs() < 1e-9, "{lc} vs {lexicon}");
        // The same corpus unsplit: morphs ab (2), b (1): N = 3, W = 3, T = 2.
        // Corpus: 6 ln 6 − 3 ln 3 − 2 ln 2 + ln C(2, 1) = 6 ln 6 − 3 ln 3 − 2 ln 2 + ln 2.
        // Lexicon: letters a, b, b (L = 3), T = 2: 5 ln 5 − 2 ln 2 − 2 ln 2 − ln 2 + ln C(4, 2) [= ln 6].
        let u =
            MdlSegmenter::from_segmentations(&[("ab", 2, vec!["ab"]), ("b", 1, vec!["b"])], 1.0);
        let corpus = 6.0 * l(6.0) - 3.0 * l(3.0) - 2.0 * l(2.0) + l(2.0);
        let lexicon = 5.0 * l(5.0) - 2.0 * l(2.0) - 2.0 * l(2.0) - l(2.0) + l(6.0);
        let (lc, cc) = u.costs();
        assert!((cc - corpus).abs() < 1e-9);
        assert!((lc - lexicon).abs() < 1e-9);
    }

    #[test]
    fn log_factorial_matches_morfessor() {
        assert_eq!(log_factorial(1), 0.0);
        assert!((log_factorial(10) - lf(10)).abs() < 1e-9);
        // Stirling from 20 on (Morfessor's approximation, not the exact value).
        let s = 20f64 * 20f64.ln() - 20.0 + 0.5 * (20f64.ln() + (2.0 * std::f64::consts::PI).ln());
        assert!((log_factorial(20) - s).abs() < 1e-12);
    }

    fn words(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(w, c)| (w.to_string(), *c)).collect()
    }

    #[test]
    fn training_lowers_the_cost_and_finds_shared_parts() {
        let mut list = Vec::new();
        for stem in [
            "walk", "talk", "jump", "play", "kick", "look", "cook", "park", "call", "help",
        ] {
            for suf in ["", "ed", "ing", "s"] {
                if stem == "kick" && suf == "ing" {
                    continue;
                }
                list.push((format!("{stem}{suf}"), 1));
            }
        }
        let cfg = MdlConfig::default();
        let m = MdlSegmenter::train(&list, &cfg).unwrap();
        // Unsplit cost of the same corpus.
        let items: Vec<(&str, u64, Vec<&str>)> = list
            .iter()
            .map(|(w, c)| (w.as_str(), *c, vec![w.as_str()]))
            .collect();
        let flat = MdlSegmenter::from_segmentations(&items, 1.0);
        assert!(m.cost() < flat.cost());
        // The cost kept incrementally equals the cost recomputed from the final segmentations.
        let segs: Vec<(String, Vec<String>)> = list
            .iter()
            .map(|(w, _)| (w.clone(), super::super::split_at_chars(w, &m.analysis(w))))
            .collect();
        let items: Vec<(&str, u64, Vec<&str>)> = segs
            .iter()
            .map(|(w, s)| (w.as_str(), 1, s.iter().map(String::as_str).collect()))
            .collect();
        let again = MdlSegmenter::from_segmentations(&items, 1.0);
        assert!(
            (again.cost() - m.cost()).abs() < 1e-6,
            "{} vs {}",
            again.cost(),
            m.cost()
        );
        assert_eq!(m.segment("walking"), vec!["walk", "ing"]);
        // decode=tree: training words by their tree (the analysis), the default Viterbi may differ from it.
        let tree = MdlSegmenter::train(&list, &MdlConfig::parse("decode=tree").unwrap()).unwrap();
        for (w, _) in &list {
            assert_eq!(tree.boundaries(w), m.analysis(w));
            assert_eq!(m.boundaries(w), m.viterbi(w));
        }
        // The frozen form a tokenizer file stores cuts every word as the model does.
        let frozen = MdlViterbi::from_model(&m);
        for w in list
            .iter()
            .map(|(w, _)| w.as_str())
            .chain(["kicking", "walkers", "xyz"])
        {
            assert_eq!(frozen.boundaries(w), m.boundaries(w), "{w}");
        }
        // Unseen word: Viterbi over the morphs.
        assert_eq!(m.segment("kicking"), vec!["kick", "ing"]);
        // Same seed, same model; morphs join back to the word.
        let m2 = MdlSegmenter::train(&list, &cfg).unwrap();
        assert_eq!(m.morphs(), m2.morphs());
        for (w, _) in &list {
            assert_eq!(m.segment(w).concat(), *w);
        }
    }

    #[test]
    fn empty_and_bad_options() {
        assert!(matches!(
            MdlSegmenter::train(&words(&[("", 3)]), &MdlConfig::default()),
            Err(MorphError::EmptyWordList)
        ));
        assert!(MdlConfig::parse("weight=0").is_err());
        assert!(MdlConfig::parse("colour=red").is_err());
        // min_count leaves rare words out; all of them here: nothing to learn from.
        let cfg = MdlConfig::parse("min_count=5").unwrap();
        assert!(matches!(
            MdlSegmenter::train(&words(&[("ab", 3)]), &cfg),
            Err(MorphError::EmptyWordList)
        ));
        let c = MdlConfig::parse("weight=2.5, dampening=log,seed=3").unwrap();
        assert_eq!(
            (c.corpus_weight, c.dampening, c.seed),
            (2.5, Dampening::Log, 3)
        );
    }
}
