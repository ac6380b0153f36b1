//! Encoding with morphology options (our own format, `toksmith-morph`): a lossless `<uppercase>` marker and the
//! segmenter applied at encode time, on top of a plain byte-level BPE.
//!
//! * Case: in each pre-tokenized chunk, a word whose first char is upper case and comes back from lower case
//!   (`CaseMap`: Unicode, or Turkish with I/ı and İ/i) loses that capital and is preceded by the marker token. The
//!   marker goes before the run of non-letters that leads to the word (so `" Ankara"` stays one piece,
//!   `" ankara"`); decoding upper-cases the first letter after each marker. Other capitals stay as bytes.
//! * Segmentation: each piece is cut at the segmenter's boundaries and each part is BPE-encoded on its own, so no
//!   token crosses a boundary (with boundary penalty 0 this is the training segmentation of training words).
//!
//! Training uses the same transformation on the counted chunks (`fold_chunks`), so the merges see the
//! lower-cased words.

use super::gold::GoldSegmenter;
use super::lexicon::LexiconSegmenter;
pub use super::mdl::MdlViterbi;
use super::{chunk_boundaries, is_word_char, lower_char, word_spans, MorphError, Segmenter};
use crate::encode::Encoder;
use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use std::sync::Arc;

pub const UPPERCASE: &str = "<uppercase>";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseMap {
    Unicode,
    Turkish,
}

impl CaseMap {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "unicode" => Some(CaseMap::Unicode),
            "turkish" | "tr" => Some(CaseMap::Turkish),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CaseMap::Unicode => "unicode",
            CaseMap::Turkish => "turkish",
        }
    }
    pub fn lower(self, c: char) -> char {
        match (self, c) {
            (CaseMap::Turkish, 'I') => 'ı',
            (CaseMap::Turkish, 'İ') => 'i',
            _ => lower_char(c),
        }
    }
    pub fn upper(self, c: char) -> Option<char> {
        match (self, c) {
            (CaseMap::Turkish, 'i') => Some('İ'),
            (CaseMap::Turkish, 'ı') => Some('I'),
            _ => {
                let mut u = c.to_uppercase();
                let f = u.next()?;
                u.next().is_none().then_some(f)
            }
        }
    }
    /// Whether `c` can be written as the marker + its lower case without loss.
    pub fn markable(self, c: char) -> bool {
        let l = self.lower(c);
        l != c && self.upper(l) == Some(c)
    }
}

/// A piece of a chunk after case folding: whether the marker precedes it, and its text.
pub type Piece = (bool, String);

/// Case-fold one chunk into pieces (see the module doc). Without a case map: the chunk, unmarked.
pub fn fold_case(chunk: &str, cm: Option<CaseMap>) -> Vec<Piece> {
    fold_case_spans(chunk, cm)
        .into_iter()
        .map(|p| (p.marked, p.text))
        .collect()
}

/// A folded piece and where it came from: bytes `start..end` of the chunk, the lowered letter at `letter`
/// (whose length went from `from_len` to `to_len` bytes).
pub struct FoldedPiece {
    pub marked: bool,
    pub text: String,
    pub start: usize,
    pub letter: usize,
    pub from_len: usize,
    pub to_len: usize,
}

impl FoldedPiece {
    /// Chunk offset of byte `f` of the folded text (a cut inside the lowered letter goes to its end).
    pub fn orig(&self, f: usize) -> usize {
        let head = self.letter - self.start;
        if !self.marked || f <= head {
            self.start + f
        } else if f < head + self.to_len {
            self.letter + self.from_len
        } else {
            self.start + f - self.to_len + self.from_len
        }
    }
}

/// `fold_case` with the origin of each piece.
pub fn fold_case_spans(chunk: &str, cm: Option<CaseMap>) -> Vec<FoldedPiece> {
    let whole = || {
        vec![FoldedPiece {
            marked: false,
            text: chunk.to_string(),
            start: 0,
            letter: 0,
            from_len: 0,
            to_len: 0,
        }]
    };
    let Some(cm) = cm else {
        return whole();
    };
    let spans = word_spans(chunk);
    // (piece start, first-letter byte) for each marked word.
    let mut marks: Vec<(usize, usize)> = Vec::new();
    for (i, &(s, _)) in spans.iter().enumerate() {
        let c = chunk[s..].chars().next().unwrap_or(' ');
        if cm.markable(c) {
            let start = if i == 0 { 0 } else { spans[i - 1].1 };
            marks.push((start, s));
        }
    }
    if marks.is_empty() {
        return whole();
    }
    let mut out = Vec::with_capacity(marks.len() + 1);
    if marks[0].0 > 0 {
        out.push(FoldedPiece {
            marked: false,
            text: chunk[..marks[0].0].to_string(),
            start: 0,
            letter: 0,
            from_len: 0,
            to_len: 0,
        });
    }
    for (k, &(start, letter)) in marks.iter().enumerate() {
        let end = marks.get(k + 1).map_or(chunk.len(), |m| m.0);
        let c = chunk[letter..].chars().next().unwrap_or(' ');
        let l = cm.lower(c);
        let mut t = String::with_capacity(end - start);
        t.push_str(&chunk[start..letter]);
        t.push(l);
        t.push_str(&chunk[letter + c.len_utf8()..end]);
        out.push(FoldedPiece {
            marked: true,
            text: t,
            start,
            letter,
            from_len: c.len_utf8(),
            to_len: l.len_utf8(),
        });
    }
    out
}

/// Case-fold counted chunks: counts of the folded pieces (markers dropped), sorted.
pub fn fold_chunks(chunks: &[(Box<str>, u64)], cm: Option<CaseMap>) -> Vec<(Box<str>, u64)> {
    if cm.is_none() {
        return chunks.to_vec();
    }
    let mut m: FxHashMap<String, u64> = FxHashMap::default();
    for (c, n) in chunks {
        for (_, t) in fold_case(c, cm) {
            *m.entry(t).or_insert(0) += n;
        }
    }
    let mut v: Vec<(Box<str>, u64)> = m
        .into_iter()
        .map(|(k, v)| (k.into_boxed_str(), v))
        .collect();
    v.sort_unstable();
    v
}

/// A segmenter as the format stores it.
pub enum Stored {
    Gold(GoldSegmenter),
    Lexicon(LexiconSegmenter),
    Mdl(MdlViterbi),
}

impl Stored {
    pub fn as_dyn(&self) -> &dyn Segmenter {
        match self {
            Stored::Gold(g) => g,
            Stored::Lexicon(l) => l,
            Stored::Mdl(m) => m,
        }
    }

    /// The segmenter's name with the options that change how it cuts (for `toksmith info`).
    pub fn describe(&self) -> String {
        match self {
            Stored::Gold(g) => match &g.unseen {
                Some(u) => format!(
                    "{}: {} words by Viterbi over a lexicon of {} morphs and corpus words",
                    g.name(),
                    if g.all_by_lexicon_now() {
                        "all"
                    } else {
                        "file words by their gold analysis, unseen"
                    },
                    u.morphs.len()
                ),
                None => g.name(),
            },
            Stored::Lexicon(l) if l.compound > 0 => format!("{},compound={}", l.name(), l.compound),
            other => other.as_dyn().name(),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Stored::Gold(g) => {
                let mut words: Vec<(&String, &Vec<usize>)> = g.entries_iter().collect();
                words.sort();
                let lines: Vec<String> = words
                    .into_iter()
                    .map(|(w, b)| {
                        let b: Vec<String> = b.iter().map(usize::to_string).collect();
                        format!("{w}\t{}", b.join(" "))
                    })
                    .collect();
                let mut v = json!({"kind": "gold", "name": g.name(), "words": lines});
                if let Some(u) = &g.unseen {
                    v["unseen"] = json!(u.morphs);
                }
                v
            }
            Stored::Lexicon(l) => {
                let mut roots: Vec<&String> = l.roots.iter().collect();
                roots.sort();
                let mut classes: Vec<Vec<&String>> = vec![Vec::new(); l.classes.len()];
                for (a, &c) in &l.affixes {
                    classes[c as usize].push(a);
                }
                let mut aff = serde_json::Map::new();
                for (i, mut forms) in classes.into_iter().enumerate() {
                    forms.sort();
                    aff.insert(l.classes[i].clone(), json!(forms));
                }
                let mut v =
                    json!({"kind": "lexicon", "name": l.name(), "roots": roots, "affixes": aff});
                if l.compound > 0 {
                    v["compound"] = json!(l.compound);
                }
                v
            }
            Stored::Mdl(m) => {
                let mut v = json!({"kind": "mdl", "morphs": m.morphs});
                if let Some(t) = m.total {
                    v["total"] = json!(t);
                }
                v
            }
        }
    }

    pub fn from_json(v: &Value) -> Result<Self, MorphError> {
        let bad = |m: &str| MorphError::Config(format!("toksmith-morph segmenter: {m}"));
        match v.get("kind").and_then(Value::as_str) {
            Some("gold") => {
                let name = v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("gold")
                    .to_string();
                let mut map = FxHashMap::default();
                for line in v
                    .get("words")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("gold needs words"))?
                {
                    let line = line
                        .as_str()
                        .ok_or_else(|| bad("gold words must be strings"))?;
                    let (w, b) = line
                        .split_once('\t')
                        .ok_or_else(|| bad("gold word without TAB"))?;
                    let b: Result<Vec<usize>, _> = b.split_whitespace().map(str::parse).collect();
                    map.insert(
                        w.to_string(),
                        b.map_err(|_| bad("gold boundaries must be integers"))?,
                    );
                }
                let mut g = GoldSegmenter::from_map(name, map);
                if let Some(u) = v.get("unseen") {
                    let units: Vec<(String, u64)> =
                        serde_json::from_value(u.clone()).map_err(|e| bad(&e.to_string()))?;
                    g.unseen = Some(Arc::new(MdlViterbi::new(units)));
                }
                Ok(Stored::Gold(g))
            }
            Some("lexicon") => {
                let name = v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("lexicon")
                    .to_string();
                let mut obj = v.as_object().cloned().unwrap_or_default();
                obj.remove("kind");
                obj.remove("name");
                let text = Value::Object(obj).to_string();
                Ok(Stored::Lexicon(LexiconSegmenter::parse_json(
                    &text,
                    std::path::Path::new("toksmith-morph"),
                    name,
                )?))
            }
            Some("mdl") => {
                let morphs: Vec<(String, u64)> = serde_json::from_value(
                    v.get("morphs")
                        .cloned()
                        .ok_or_else(|| bad("mdl needs morphs"))?,
                )
                .map_err(|e| bad(&e.to_string()))?;
                let total = v.get("total").and_then(Value::as_i64);
                Ok(Stored::Mdl(MdlViterbi::with_total(morphs, total)))
            }
            _ => Err(bad("unknown kind")),
        }
    }
}

/// A plain BPE encoder plus the morphology options.
pub struct MorphTokenizer {
    pub enc: Arc<Encoder>,
    /// Marker id and case map.
    pub upper: Option<(u32, CaseMap)>,
    /// Segmenter applied at encode time.
    pub seg: Option<Arc<Stored>>,
    /// Shared allomorph ids.
    pub allo: Option<Arc<Allomorphs>>,
}

/// Shared allomorph ids decided by context rules given as data: each class maps a context feature (a set of
/// chars, e.g. Turkish back unrounded vowels "aı") to the surface form used after it. The context of a token is
/// the last feature char in the letter run that ends where the token starts (no letter run or no feature char: no
/// context). A token whose text is the form its class's rule selects for its context is written as the class id;
/// decoding reads the same context from the text decoded so far and restores the form. Where no rule decides, the
/// token keeps its own id, so the round trip stays exact.
#[derive(Clone, Debug, Default)]
pub struct Allomorphs {
    /// (feature name, its chars).
    pub features: Vec<(String, String)>,
    /// (class name, form for each feature index).
    pub classes: Vec<(String, Vec<Option<String>>)>,
    /// Token id of each class (set once the vocabulary is known).
    pub ids: Vec<u32>,
    feature_of: FxHashMap<char, usize>,
    by_form: FxHashMap<Vec<u8>, Vec<usize>>,
}

/// How far back (bytes) the context looks.
const CONTEXT_BYTES: usize = 64;

impl Allomorphs {
    /// `{"features": {NAME: CHARS, ...}, "classes": {CLASS: {FEATURE: FORM, ...}, ...}}` (`path` for messages).
    pub fn from_json(v: &Value, path: &str) -> Result<Self, MorphError> {
        let bad = |m: String| MorphError::BadFile {
            path: path.to_string(),
            msg: m,
        };
        let feats = v
            .get("features")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("allomorph rules need \"features\": {name: chars}".into()))?;
        let mut a = Allomorphs::default();
        for (name, chars) in feats {
            let chars = chars
                .as_str()
                .ok_or_else(|| bad(format!("feature {name:?} must be a string of chars")))?;
            for c in chars.chars() {
                if a.feature_of.insert(c, a.features.len()).is_some() {
                    return Err(bad(format!("char {c:?} is in two features")));
                }
            }
            a.features.push((name.clone(), chars.to_string()));
        }
        let classes = v.get("classes").and_then(Value::as_object).ok_or_else(|| {
            bad("allomorph rules need \"classes\": {class: {feature: form}}".into())
        })?;
        for (name, forms) in classes {
            let forms = forms
                .as_object()
                .ok_or_else(|| bad(format!("class {name:?} must map features to forms")))?;
            let mut by_feature = vec![None; a.features.len()];
            for (f, form) in forms {
                let i =
                    a.features.iter().position(|x| &x.0 == f).ok_or_else(|| {
                        bad(format!("class {name:?} names unknown feature {f:?}"))
                    })?;
                let form = form.as_str().filter(|x| !x.is_empty()).ok_or_else(|| {
                    bad(format!(
                        "class {name:?}: the form for {f:?} must be a non-empty string"
                    ))
                })?;
                by_feature[i] = Some(form.to_string());
            }
            a.classes.push((name.clone(), by_feature));
        }
        if a.classes.is_empty() {
            return Err(bad("no allomorph classes".into()));
        }
        a.index();
        Ok(a)
    }

    /// Read rules from a JSON file.
    pub fn load(path: &std::path::Path) -> Result<Self, MorphError> {
        let text = super::read_text(path)?;
        let p = path.display().to_string();
        let v: Value = serde_json::from_str(&text).map_err(|e| MorphError::BadFile {
            path: p.clone(),
            msg: format!("not valid JSON: {e}"),
        })?;
        Self::from_json(&v, &p)
    }

    fn index(&mut self) {
        self.by_form.clear();
        for (k, (_, forms)) in self.classes.iter().enumerate() {
            for f in forms.iter().flatten() {
                let e = self.by_form.entry(f.as_bytes().to_vec()).or_default();
                if !e.contains(&k) {
                    e.push(k);
                }
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let mut feats = serde_json::Map::new();
        for (n, c) in &self.features {
            feats.insert(n.clone(), json!(c));
        }
        let mut classes = serde_json::Map::new();
        for (n, forms) in &self.classes {
            let mut m = serde_json::Map::new();
            for (i, f) in forms.iter().enumerate() {
                if let Some(f) = f {
                    m.insert(self.features[i].0.clone(), json!(f));
                }
            }
            classes.insert(n.clone(), Value::Object(m));
        }
        json!({"features": feats, "classes": classes})
    }

    /// Token text of each class.
    pub fn token_names(&self) -> Vec<String> {
        self.classes
            .iter()
            .map(|(n, _)| format!("<allo:{n}>"))
            .collect()
    }

    /// The context feature at the end of `hist` (decoded bytes so far).
    fn context(&self, hist: &[u8]) -> Option<usize> {
        let s = String::from_utf8_lossy(&hist[hist.len().saturating_sub(CONTEXT_BYTES)..]);
        for c in s.chars().rev() {
            if !is_word_char(c) {
                return None;
            }
            if let Some(&f) = self
                .feature_of
                .get(&lower_char(c))
                .or_else(|| self.feature_of.get(&c))
            {
                return Some(f);
            }
        }
        None
    }

    /// The class id to write for token bytes `t` after `hist`, if a rule decides it.
    fn shared_id(&self, t: &[u8], hist: &[u8]) -> Option<u32> {
        let ks = self.by_form.get(t)?;
        let f = self.context(hist)?;
        ks.iter()
            .find(|&&k| self.classes[k].1[f].as_deref().map(str::as_bytes) == Some(t))
            .map(|&k| self.ids[k])
    }

    /// The form class id `id` stands for after `hist`.
    fn form(&self, id: u32, hist: &[u8]) -> Option<&str> {
        let k = self.ids.iter().position(|&x| x == id)?;
        let f = self.context(hist)?;
        self.classes[k].1[f].as_deref()
    }
}

impl MorphTokenizer {
    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>) {
        match &self.seg {
            None => self.enc.bpe(piece.as_bytes(), out),
            Some(s) => {
                let mut last = 0;
                for b in chunk_boundaries(s.as_dyn(), piece) {
                    if b > last {
                        self.enc.bpe(&piece.as_bytes()[last..b], out);
                        last = b;
                    }
                }
                if last < piece.len() {
                    self.enc.bpe(&piece.as_bytes()[last..], out);
                }
            }
        }
    }

    /// Encode text (added tokens in the text are plain text: only this encoder emits the marker).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        if self.allo.is_some() {
            return self.encode_spans(text).into_iter().map(|x| x.0).collect();
        }
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        let cm = self.upper.map(|u| u.1);
        self.enc.model().pretok.split(text, |chunk| {
            for (marked, t) in fold_case(chunk, cm) {
                if marked {
                    if let Some((id, _)) = self.upper {
                        out.push(id);
                    }
                }
                self.encode_piece(&t, &mut out);
            }
        });
        out
    }

    /// Encode with each token's byte range in `text` (the marker gets an empty range where its piece starts; a
    /// token that ends inside a lowered letter ends after that letter).
    pub fn encode_spans(&self, text: &str) -> Vec<(u32, usize, usize)> {
        let mut out = Vec::new();
        let mut ids = Vec::new();
        let mut hist: Vec<u8> = Vec::new();
        let cm = self.upper.map(|u| u.1);
        let base = text.as_ptr() as usize;
        self.enc.model().pretok.split(text, |chunk| {
            let off = chunk.as_ptr() as usize - base;
            for p in fold_case_spans(chunk, cm) {
                if p.marked {
                    if let Some((id, _)) = self.upper {
                        out.push((id, off + p.start, off + p.start));
                    }
                }
                ids.clear();
                self.encode_piece(&p.text, &mut ids);
                let mut f = 0usize;
                for &id in &ids {
                    let tb: &[u8] = self.enc.model().vocab[id as usize]
                        .as_deref()
                        .unwrap_or(&[]);
                    let n = tb.len();
                    let id = match &self.allo {
                        Some(a) => {
                            let shared = a.shared_id(tb, &hist);
                            hist.extend_from_slice(tb);
                            shared.unwrap_or(id)
                        }
                        None => id,
                    };
                    out.push((id, off + p.orig(f), off + p.orig(f + n)));
                    f += n;
                }
            }
        });
        out
    }

    /// Decode ids to text: markers upper-case the next letter. Unknown ids are an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String, crate::encode::EncodeError> {
        let mut bytes = Vec::new();
        let mut marks = Vec::new();
        for &id in ids {
            match self.upper {
                Some((u, _)) if u == id => {
                    marks.push(bytes.len());
                    continue;
                }
                _ => {}
            }
            if let Some(a) = self.allo.as_ref().filter(|a| a.ids.contains(&id)) {
                let form = a
                    .form(id, &bytes)
                    .ok_or(crate::encode::EncodeError::UnknownId(id))?;
                bytes.extend_from_slice(form.as_bytes());
                continue;
            }
            bytes.extend(self.enc.decode_bytes(&[id], false)?);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let Some((_, cm)) = self.upper else {
            return Ok(text);
        };
        if marks.is_empty() {
            return Ok(text);
        }
        let mut out = String::with_capacity(text.len());
        let (mut k, mut pending) = (0usize, false);
        for (i, c) in text.char_indices() {
            while k < marks.len() && marks[k] <= i {
                pending = true;
                k += 1;
            }
            if pending && is_word_char(c) {
                out.push(cm.upper(c).unwrap_or(c));
                pending = false;
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_folding_pieces() {
        assert_eq!(
            fold_case(" Ankara", Some(CaseMap::Unicode)),
            vec![(true, " ankara".to_string())]
        );
        assert_eq!(
            fold_case("İstanbul", Some(CaseMap::Turkish)),
            vec![(true, "istanbul".to_string())]
        );
        // Unicode: 'İ' lower-cases to 'i' + dot, which does not come back: left as bytes.
        assert_eq!(
            fold_case("İstanbul", Some(CaseMap::Unicode)),
            vec![(false, "İstanbul".to_string())]
        );
        assert_eq!(
            fold_case("Iğdır", Some(CaseMap::Turkish)),
            vec![(true, "ığdır".to_string())]
        );
        assert_eq!(
            fold_case("x, Ali Veli", Some(CaseMap::Unicode)),
            vec![
                (false, "x".to_string()),
                (true, ", ali".to_string()),
                (true, " veli".to_string())
            ]
        );
        assert_eq!(
            fold_case("NATO", Some(CaseMap::Unicode)),
            vec![(true, "nATO".to_string())]
        );
        assert_eq!(fold_case("abc", None), vec![(false, "abc".to_string())]);
        let ch: Vec<(Box<str>, u64)> = vec![(" Ev".into(), 2), (" ev".into(), 3)];
        assert_eq!(
            fold_chunks(&ch, Some(CaseMap::Unicode)),
            vec![(" ev".into(), 5)]
        );
    }
}

/// Name of our format (the `format` member of the file).
pub const FORMAT: &str = "toksmith-morph";

/// What HF `tokenizers` can and cannot reproduce of a toksmith-morph file (also printed by `toksmith info`).
pub fn hf_note(upper: bool, seg: bool, allo: bool) -> String {
    let mut cannot = Vec::new();
    if allo {
        cannot.push("shared allomorph ids (HF would print the class token as text)");
    }
    if upper {
        cannot.push(
            "the <uppercase> marker (HF would keep capitals as bytes and print the marker as text)",
        );
    }
    if seg {
        cannot.push("segmentation at encode time (HF merges may cross morph boundaries)");
    }
    format!(
        "HF tokenizers can load the \"tokenizer\" member (a plain byte-level BPE: same vocabulary, merges and \
         pre-tokenizer) but cannot reproduce {}; encode with toksmith to get these ids",
        cannot.join(" or ")
    )
}

impl MorphTokenizer {
    /// Serialise as a toksmith-morph JSON file.
    pub fn to_json(&self) -> Result<String, crate::formats::FormatError> {
        let inner: Value = serde_json::from_str(&crate::formats::hf_json::to_string(
            self.enc.model(),
        )?)
        .map_err(|source| crate::formats::FormatError::Json {
            path: "<tokenizer>".into(),
            source,
        })?;
        let v = json!({
            "format": FORMAT,
            "version": 1,
            "uppercase": self.upper.map(|(_, cm)| json!({"token": UPPERCASE, "case_map": cm.name()})),
            "segment_at_encode": self.seg.is_some(),
            "segmenter": self.seg.as_ref().map(|s| s.to_json()),
            "allomorphs": self.allo.as_ref().map(|a| a.to_json()),
            "hf_note": hf_note(self.upper.is_some(), self.seg.is_some(), self.allo.is_some()),
            "tokenizer": inner,
        });
        Ok(serde_json::to_string(&v).expect("JSON values serialise"))
    }

    /// Whether `data` looks like a toksmith-morph file.
    pub fn sniff(data: &[u8]) -> bool {
        let head = &data[..data.len().min(200)];
        let h = String::from_utf8_lossy(head);
        h.contains("\"format\"") && h.contains(FORMAT)
    }

    /// Parse a toksmith-morph JSON file (`path` for messages).
    pub fn from_json(data: &[u8], path: &str) -> Result<Self, MorphError> {
        let bad = |m: String| MorphError::BadFile {
            path: path.to_string(),
            msg: m,
        };
        let v: Value =
            serde_json::from_slice(data).map_err(|e| bad(format!("malformed JSON: {e}")))?;
        if v.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(bad(format!(
                "not a {FORMAT} file (no \"format\": \"{FORMAT}\")"
            )));
        }
        if v.get("version").and_then(Value::as_u64) != Some(1) {
            return Err(bad(
                "unsupported version (this toksmith reads version 1)".into()
            ));
        }
        let inner = v
            .get("tokenizer")
            .ok_or_else(|| bad("no \"tokenizer\" member".into()))?;
        let model = crate::formats::hf_json::parse(inner.to_string().as_bytes(), path)
            .map_err(|e| bad(e.to_string()))?;
        let enc = Encoder::new(model).map_err(|e| bad(e.to_string()))?;
        let upper = match v.get("uppercase") {
            None | Some(Value::Null) => None,
            Some(u) => {
                let cm = u
                    .get("case_map")
                    .and_then(Value::as_str)
                    .and_then(CaseMap::parse)
                    .ok_or_else(|| bad("uppercase.case_map must be unicode or turkish".into()))?;
                let id = enc
                    .model()
                    .added
                    .iter()
                    .find(|a| a.content == UPPERCASE)
                    .map(|a| a.id)
                    .ok_or_else(|| bad(format!("no {UPPERCASE} token in the vocabulary")))?;
                Some((id, cm))
            }
        };
        let seg = match (
            v.get("segment_at_encode").and_then(Value::as_bool),
            v.get("segmenter"),
        ) {
            (Some(true), Some(s)) if !s.is_null() => Some(Arc::new(Stored::from_json(s)?)),
            (Some(true), _) => return Err(bad("segment_at_encode without a segmenter".into())),
            _ => None,
        };
        let allo = match v.get("allomorphs") {
            None | Some(Value::Null) => None,
            Some(a) => {
                let mut a = Allomorphs::from_json(a, path)?;
                for name in a.token_names() {
                    let id = enc
                        .model()
                        .added
                        .iter()
                        .find(|t| t.content == name)
                        .map(|t| t.id)
                        .ok_or_else(|| bad(format!("no {name} token in the vocabulary")))?;
                    a.ids.push(id);
                }
                Some(Arc::new(a))
            }
        };
        Ok(MorphTokenizer {
            enc: Arc::new(enc),
            upper,
            seg,
            allo,
        })
    }
}

/// Train with options: case-fold the chunks with `case_map` (adding the marker as the first special token),
/// train boundary-respecting BPE with `seg`, and wrap the result; `store` (the segmenter to apply at encode time,
/// normally the same as `seg`) goes into the file, with the shared `allomorphs` classes (their tokens follow the
/// marker).
#[allow(clippy::too_many_arguments)]
pub fn train_tokenizer(
    chunks: &[(Box<str>, u64)],
    pretok: crate::pretok::Pretokenizer,
    seg: &dyn Segmenter,
    store: Option<Arc<Stored>>,
    cfg: &super::bpe::MorphBpeConfig,
    case_map: Option<CaseMap>,
    allomorphs: Option<Allomorphs>,
    progress: &mut crate::bpe::ProgressFn,
) -> Result<(MorphTokenizer, super::bpe::MorphReport), MorphError> {
    let mut cfg = cfg.clone();
    let mut allo = allomorphs;
    if let Some(a) = allo.as_mut() {
        let names = a.token_names();
        if let Some(n) = names.iter().find(|n| cfg.special_tokens.contains(n)) {
            return Err(MorphError::Config(format!(
                "{n} is an allomorph class token; do not pass it as a special token"
            )));
        }
        let at = usize::from(case_map.is_some());
        a.ids = (0..names.len()).map(|k| (at + k) as u32).collect();
        for (k, n) in names.into_iter().enumerate() {
            cfg.special_tokens.insert(k, n);
        }
    }
    if case_map.is_some() {
        if cfg.special_tokens.iter().any(|s| s == UPPERCASE) {
            return Err(MorphError::Config(format!(
                "{UPPERCASE} is the case marker; do not pass it as a special token"
            )));
        }
        cfg.special_tokens.insert(0, UPPERCASE.to_string());
    }
    let folded = fold_chunks(chunks, case_map);
    let (model, rep) = super::bpe::train(&folded, pretok, seg, &cfg, progress)?;
    let enc = Encoder::new(model).map_err(|e| MorphError::Config(e.to_string()))?;
    let upper = case_map.map(|cm| (0u32, cm));
    Ok((
        MorphTokenizer {
            enc: Arc::new(enc),
            upper,
            seg: store,
            allo: allo.map(Arc::new),
        },
        rep,
    ))
}

#[cfg(test)]
mod format_tests {
    use super::*;
    use crate::morph::bpe::MorphBpeConfig;
    use crate::pretok::Pretokenizer;

    fn lexicon() -> Arc<Stored> {
        let j = r#"{"roots": ["ev", "kitap", "ankara"], "affixes": {"PL": ["ler", "lar"], "LOC": ["de", "da"]}}"#;
        Arc::new(Stored::Lexicon(
            LexiconSegmenter::parse_json(j, std::path::Path::new("t"), "lexicon:t".into()).unwrap(),
        ))
    }

    #[test]
    fn round_trip_with_marker_and_segmentation() {
        let text = "Evlerde kitaplar var. Ankara'da EVLER, İstanbul ve Iğdır.\nKitaplarda  evler\t";
        let pretok = Pretokenizer::from_spec("cl100k").unwrap();
        let mut m = Default::default();
        crate::count::count_into(&pretok, &text.repeat(3), &mut m);
        let chunks: Vec<(Box<str>, u64)> = m
            .into_iter()
            .map(|(k, v)| (Box::from(k.as_ref()), v))
            .collect();
        let cfg = MorphBpeConfig {
            vocab_size: 320,
            min_frequency: 1,
            ..Default::default()
        };
        for cm in [CaseMap::Unicode, CaseMap::Turkish] {
            let lex = lexicon();
            let (tok, _) = train_tokenizer(
                &chunks,
                pretok.clone(),
                lex.as_dyn(),
                Some(lex.clone()),
                &cfg,
                Some(cm),
                None,
                &mut |_, _| true,
            )
            .unwrap();
            let ids = tok.encode(text);
            assert_eq!(tok.decode(&ids).unwrap(), text);
            assert!(ids.contains(&0));
            // No token crosses a lexicon boundary: "evlerde" encodes as ev | ler | de pieces.
            let ev = tok.encode("evlerde");
            let parts: Vec<Vec<u8>> = ev
                .iter()
                .map(|&i| tok.enc.decode_bytes(&[i], false).unwrap())
                .collect();
            let mut at = 0;
            let cuts: Vec<usize> = parts
                .iter()
                .map(|p| {
                    at += p.len();
                    at
                })
                .collect();
            assert!(cuts.contains(&2) && cuts.contains(&5), "{parts:?}");
            // The file round-trips and encodes the same.
            // Spans cover the text in order (the marker is empty) and hold the same ids.
            let spans = tok.encode_spans(text);
            assert_eq!(spans.iter().map(|s| s.0).collect::<Vec<_>>(), ids);
            let mut at = 0;
            for &(id, s, e) in &spans {
                assert_eq!(s, at, "gap before {id}");
                assert!(e >= s && (id != 0 || e == s));
                at = e;
            }
            assert_eq!(at, text.len());
            let json = tok.to_json().unwrap();
            assert!(MorphTokenizer::sniff(json.as_bytes()));
            let back = MorphTokenizer::from_json(json.as_bytes(), "t.json").unwrap();
            assert_eq!(back.encode(text), ids);
            assert_eq!(back.decode(&ids).unwrap(), text);
        }
        assert!(MorphTokenizer::from_json(b"{\"format\": \"x\"}", "t").is_err());
    }

    #[test]
    fn shared_allomorph_ids_are_lossless() {
        // Two-way vowel harmony for the plural and the locative.
        let rules = serde_json::json!({
            "features": {"back": "aıou", "front": "eiöü"},
            "classes": {"PL": {"back": "lar", "front": "ler"}, "LOC": {"back": "da", "front": "de"}}
        });
        let allo = Allomorphs::from_json(&rules, "r.json").unwrap();
        let text =
            "Evlerde kitaplarda var. Ankara'da evler, kitaplar; lar ler de da. Kitapler evlar!";
        let pretok = Pretokenizer::from_spec("cl100k").unwrap();
        let mut m = Default::default();
        crate::count::count_into(&pretok, &text.repeat(3), &mut m);
        let chunks: Vec<(Box<str>, u64)> = m
            .into_iter()
            .map(|(k, v)| (Box::from(k.as_ref()), v))
            .collect();
        let cfg = MorphBpeConfig {
            vocab_size: 320,
            min_frequency: 1,
            ..Default::default()
        };
        let lex = lexicon();
        let (tok, _) = train_tokenizer(
            &chunks,
            pretok,
            lex.as_dyn(),
            Some(lex.clone()),
            &cfg,
            Some(CaseMap::Turkish),
            Some(allo),
            &mut |_, _| true,
        )
        .unwrap();
        let a = tok.allo.clone().unwrap();
        assert_eq!(a.ids, vec![1, 2]);
        let ids = tok.encode(text);
        assert_eq!(tok.decode(&ids).unwrap(), text);
        // evler|de and kitap|lar|da share ids: PL and LOC appear after both front and back vowels.
        let (pl, loc) = (
            a.ids[a.classes.iter().position(|c| c.0 == "PL").unwrap()],
            a.ids[a.classes.iter().position(|c| c.0 == "LOC").unwrap()],
        );
        let ev = tok.encode("evlerde");
        let kitap = tok.encode("kitaplarda");
        assert_eq!(&ev[ev.len() - 2..], &[pl, loc]);
        assert_eq!(&kitap[kitap.len() - 2..], &[pl, loc]);
        // Where no rule decides (no vowel before, or the disharmonic "kitapler"), the form keeps its own id.
        assert!(!tok.encode(" lar").contains(&pl));
        assert!(!tok.encode("kitapler").contains(&pl));
        let json = tok.to_json().unwrap();
        let back = MorphTokenizer::from_json(json.as_bytes(), "t.json").unwrap();
        assert_eq!(back.encode(text), ids);
        assert_eq!(back.decode(&ids).unwrap(), text);
        let bad = serde_json::json!({"features": {"back": "a", "front": "a"}, "classes": {}});
        assert!(Allomorphs::from_json(&bad, "r.json").is_err());
    }
}
