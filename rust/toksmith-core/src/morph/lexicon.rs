//! Lexicon segmenter: roots + affixes (with optional allomorph classes), parsed as the longest root followed
//! by a chain of affixes that reaches the end of the word. When no root allows a complete chain, the root and
//! partial chain that cover the most of the word are cut and the rest is one piece; a word with no root prefix
//! is not cut.
//!
//! Compounds (off by default; spec `lexicon:FILE,compound=N`, JSON key `"compound": N`): when no root allows a
//! complete chain, the word is read as up to three `root affix*` groups that cover it exactly, the later roots
//! at least `N` characters long (Turkish `edile|bil|eceğ|i`: a verb, the ability auxiliary `bil`, affixes).
//! The minimum length keeps one- and two-letter roots, which a large lexicon holds plenty of, from cutting
//! foreign names into letters. When no such reading exists, the partial parse above is used.
//!
//! Loaders:
//! * JSON: `{"roots": [..], "affixes": [..] | {"CLASS": [allomorphs..], ..}, "units": [..]}` (`units`: extra
//!   vocabulary units, e.g. BPE pieces, not used for segmentation).
//! * TSV: `root<TAB>FORM`, `affix<TAB>FORM[<TAB>CLASS]`, `unit<TAB>FORM`; blank lines and `#` comments skipped.
//! * a folder holding `turkish-tokenizer`'s `kokler.json` (roots), `ekler.json` (affixes; entries with the
//!   same id are one allomorph class) and optionally `bpe_tokenler.json` (units). Their maps are string → id;
//!   special entries (`<uppercase>`, `special_7`, whitespace) are skipped and a leading space is dropped.

use super::{lower_word, read_text, split_option, MorphError, Segmenter};
use rustc_hash::{FxHashMap, FxHashSet};
use std::path::Path;

/// Most `root affix*` groups in a compound reading.
const COMPOUND_GROUPS: usize = 3;

#[derive(Clone, Debug, Default)]
pub struct LexiconSegmenter {
    name: String,
    /// Compound reading: least length (chars) of a root after the first; 0: off (see the module doc).
    pub compound: usize,
    pub roots: FxHashSet<String>,
    /// Affix → allomorph class (index into `classes`).
    pub affixes: FxHashMap<String, u32>,
    pub classes: Vec<String>,
    pub units: Vec<String>,
    max_root: usize,
    max_affix: usize,
}

fn bad(path: &Path, msg: impl Into<String>) -> MorphError {
    MorphError::BadFile {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

impl LexiconSegmenter {
    pub fn new(name: String) -> Self {
        LexiconSegmenter {
            name,
            ..Default::default()
        }
    }

    pub fn add_root(&mut self, r: &str) {
        let r = lower_word(r.trim());
        if !r.is_empty() {
            self.max_root = self.max_root.max(r.chars().count());
            self.roots.insert(r);
        }
    }

    /// Add an affix to a class (created when new; `None`: a class of its own, named after the affix).
    pub fn add_affix(&mut self, a: &str, class: Option<&str>) {
        let a = lower_word(a.trim());
        if a.is_empty() || self.affixes.contains_key(&a) {
            return;
        }
        let name = class.map_or_else(|| a.clone(), str::to_string);
        let id = match self.classes.iter().position(|c| *c == name) {
            Some(i) => i as u32,
            None => {
                self.classes.push(name);
                (self.classes.len() - 1) as u32
            }
        };
        self.max_affix = self.max_affix.max(a.chars().count());
        self.affixes.insert(a, id);
    }

    /// The argument of a `lexicon:` spec: `FILE` or `FILE,compound=N` (a FILE that exists as given, comma and
    /// all, is taken whole).
    pub fn load_spec(arg: &str) -> Result<Self, MorphError> {
        let (path, opt) = split_option(arg, "compound");
        let compound = opt
            .map(|n| {
                n.trim().parse().map_err(|_| {
                    MorphError::Config(format!(
                        "lexicon compound=N needs a whole number of characters (0: off), not '{n}'"
                    ))
                })
            })
            .transpose()?;
        let mut lex = Self::load(Path::new(path))?;
        lex.compound = compound.unwrap_or(0);
        Ok(lex)
    }

    /// Load JSON, TSV (by extension: `.tsv`/`.txt`) or a `turkish-tokenizer` resources folder.
    pub fn load(path: &Path) -> Result<Self, MorphError> {
        let name = format!(
            "lexicon:{}",
            path.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let lex = if path.is_dir() {
            Self::load_turkish_tokenizer(path, name)?
        } else {
            let text = read_text(path)?;
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if ext == "tsv" || ext == "txt" {
                Self::parse_tsv(&text, &path.display().to_string(), name)?
            } else {
                Self::parse_json(&text, path, name)?
            }
        };
        if lex.roots.is_empty() && lex.affixes.is_empty() {
            return Err(bad(path, "the lexicon has no roots and no affixes"));
        }
        Ok(lex)
    }

    pub fn parse_tsv(text: &str, path: &str, name: String) -> Result<Self, MorphError> {
        let mut lex = Self::new(name);
        for (i, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let err = |msg: String| MorphError::Malformed {
                path: path.to_string(),
                line: i + 1,
                msg,
            };
            if f.len() < 2 || f[1].trim().is_empty() {
                return Err(err("expected KIND<TAB>FORM[<TAB>CLASS]".into()));
            }
            match f[0] {
                "root" => lex.add_root(f[1]),
                "affix" => {
                    lex.add_affix(f[1], f.get(2).map(|s| s.trim()).filter(|s| !s.is_empty()))
                }
                "unit" => lex.units.push(f[1].to_string()),
                k => {
                    return Err(err(format!(
                        "unknown kind '{k}' (known: root, affix, unit)"
                    )))
                }
            }
        }
        Ok(lex)
    }

    pub fn parse_json(text: &str, path: &Path, name: String) -> Result<Self, MorphError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(path, format!("not valid JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| {
            bad(
                path,
                "expected a JSON object with \"roots\" and \"affixes\"",
            )
        })?;
        let strings = |key: &str, v: &serde_json::Value| -> Result<Vec<String>, MorphError> {
            v.as_array()
                .ok_or_else(|| bad(path, format!("\"{key}\" must be a list of strings")))?
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(path, format!("\"{key}\" must be a list of strings")))
                })
                .collect()
        };
        let mut lex = Self::new(name);
        for (k, val) in obj {
            match k.as_str() {
                "roots" => strings(k, val)?.iter().for_each(|r| lex.add_root(r)),
                "units" => lex.units = strings(k, val)?,
                "compound" => {
                    lex.compound = val.as_u64().ok_or_else(|| {
                        bad(
                            path,
                            "\"compound\" must be a whole number of characters (0: off)",
                        )
                    })? as usize
                }
                "affixes" => match val {
                    serde_json::Value::Object(classes) => {
                        for (cls, forms) in classes {
                            for a in strings(k, forms)? {
                                lex.add_affix(&a, Some(cls));
                            }
                        }
                    }
                    _ => strings(k, val)?.iter().for_each(|a| lex.add_affix(a, None)),
                },
                _ => {
                    return Err(bad(
                        path,
                        format!("unknown key \"{k}\" (known: roots, affixes, units, compound)"),
                    ))
                }
            }
        }
        Ok(lex)
    }

    fn read_id_map(path: &Path) -> Result<Vec<(String, i64)>, MorphError> {
        let text = read_text(path)?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(path, format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad(path, "expected a JSON object of string → id"))?;
        obj.iter()
            .map(|(k, v)| {
                v.as_i64()
                    .map(|id| (k.clone(), id))
                    .ok_or_else(|| bad(path, format!("id of {k:?} is not an integer")))
            })
            .collect()
    }

    fn is_special(s: &str) -> bool {
        s.trim().is_empty() || (s.starts_with('<') && s.ends_with('>')) || s.starts_with("special_")
    }

    /// `turkish-tokenizer`'s `kokler.json`, `ekler.json` and (optional) `bpe_tokenler.json` in `dir`.
    pub fn load_turkish_tokenizer(dir: &Path, name: String) -> Result<Self, MorphError> {
        let (k, e) = (dir.join("kokler.json"), dir.join("ekler.json"));
        if !k.is_file() || !e.is_file() {
            return Err(bad(
                dir,
                "a lexicon folder must hold kokler.json and ekler.json (turkish-tokenizer's resources)",
            ));
        }
        let mut lex = Self::new(name);
        for (s, _) in Self::read_id_map(&k)? {
            if !Self::is_special(&s) {
                lex.add_root(&s);
            }
        }
        for (s, id) in Self::read_id_map(&e)? {
            if !Self::is_special(&s) {
                lex.add_affix(&s, Some(&format!("id{id}")));
            }
        }
        let b = dir.join("bpe_tokenler.json");
        if b.is_file() {
            lex.units = Self::read_id_map(&b)?.into_iter().map(|(s, _)| s).collect();
        }
        Ok(lex)
    }

    /// Longest chain of affixes from byte `start` of `w`; returns (reaches the end, cut points).
    fn chain(
        &self,
        w: &str,
        start: usize,
        memo: &mut FxHashMap<usize, Vec<usize>>,
    ) -> (bool, Vec<usize>) {
        if start == w.len() {
            return (true, Vec::new());
        }
        if let Some(v) = memo.get(&start) {
            return (false, v.clone());
        }
        let ends = Self::ends(w, start, self.max_affix);
        let mut best: Vec<usize> = Vec::new();
        for &e in ends.iter().rev() {
            if !self.affixes.contains_key(&w[start..e]) {
                continue;
            }
            let (full, rest) = self.chain(w, e, memo);
            let mut cuts = vec![e];
            cuts.extend(rest);
            if full {
                return (true, cuts);
            }
            if cuts.len() > best.len() || (cuts.len() == best.len() && cuts.last() > best.last()) {
                best = cuts;
            }
        }
        memo.insert(start, best.clone());
        (false, best)
    }

    /// Char boundaries of `w` after byte `start`, the first `take` of them (the end of `w` included).
    fn ends(w: &str, start: usize, take: usize) -> Vec<usize> {
        w[start..]
            .char_indices()
            .skip(1)
            .map(|(i, _)| start + i)
            .chain(std::iter::once(w.len()))
            .take(take)
            .collect()
    }

    /// A reading of `w[start..]` as at most `groups` (root affix*) groups that covers it exactly, the roots after
    /// the word's first at least `self.compound` chars long: its cut points. Longest root first; when its chain
    /// stops early, the next group may start after any prefix of that chain (longest first).
    fn compound_parse(
        &self,
        w: &str,
        start: usize,
        groups: usize,
        memo: &mut FxHashMap<usize, Vec<usize>>,
    ) -> Option<Vec<usize>> {
        if groups == 0 {
            return None;
        }
        for e in Self::ends(w, start, self.max_root).into_iter().rev() {
            let root = &w[start..e];
            if !self.roots.contains(root) || (start > 0 && root.chars().count() < self.compound) {
                continue;
            }
            let (full, rest) = self.chain(w, e, memo);
            let mut stops = vec![e];
            stops.extend(rest);
            if full {
                return Some(stops);
            }
            for i in (0..stops.len()).rev() {
                if let Some(more) = self.compound_parse(w, stops[i], groups - 1, memo) {
                    let mut cuts = stops[..=i].to_vec();
                    cuts.extend(more);
                    return Some(cuts);
                }
            }
        }
        None
    }

    /// Byte offsets of the morph ends of `w` (the last is `w.len()` when the parse is complete).
    pub fn parse(&self, w: &str) -> Vec<usize> {
        let ends = Self::ends(w, 0, self.max_root);
        let mut memo = FxHashMap::default();
        let mut fallback: Option<Vec<usize>> = None;
        for &e in ends.iter().rev() {
            if !self.roots.contains(&w[..e]) {
                continue;
            }
            let (full, rest) = self.chain(w, e, &mut memo);
            let mut cuts = vec![e];
            cuts.extend(rest);
            if full {
                return cuts;
            }
            // Keep the parse that covers the most of the word (ties: the longer root, seen first).
            if fallback.as_ref().is_none_or(|f| cuts.last() > f.last()) {
                fallback = Some(cuts);
            }
        }
        if self.compound > 0 && fallback.is_some() {
            if let Some(cuts) = self.compound_parse(w, 0, COMPOUND_GROUPS, &mut memo) {
                return cuts;
            }
        }
        fallback.unwrap_or_default()
    }
}

impl Segmenter for LexiconSegmenter {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn boundaries(&self, word: &str) -> Vec<usize> {
        let lower = lower_word(word);
        let word = lower.as_str();
        let cuts = self.parse(word);
        let mut out = Vec::with_capacity(cuts.len());
        let (mut ci, mut last) = (0usize, 0usize);
        for c in cuts {
            if c >= word.len() {
                break;
            }
            ci += word[last..c].chars().count();
            last = c;
            out.push(ci);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex() -> LexiconSegmenter {
        let j = r#"{"roots": ["ev", "evle", "kitap", "göz", "gözlük"],
                    "affixes": {"PL": ["ler", "lar"], "LOC": ["de", "da", "te", "ta"], "POSS3": ["i", "ı"]}}"#;
        LexiconSegmenter::parse_json(j, Path::new("t.json"), "lex".into()).unwrap()
    }

    #[test]
    fn longest_root_then_affixes() {
        let l = lex();
        assert_eq!(l.segment("evlerde"), vec!["ev", "ler", "de"]);
        assert_eq!(l.segment("kitaplarda"), vec!["kitap", "lar", "da"]);
        // Longest root that allows a complete chain: "gözlük" + "ler", not "göz" + ...
        assert_eq!(l.segment("gözlükler"), vec!["gözlük", "ler"]);
        // "evle" is longer than "ev" but "evle|rde" has no chain: "ev|ler|de" wins.
        assert_eq!(l.segment("evlerde"), vec!["ev", "ler", "de"]);
        // No complete parse: the root and chain that cover the most, then the rest in one piece.
        assert_eq!(l.segment("evlerxyz"), vec!["ev", "ler", "xyz"]);
        assert_eq!(l.segment("evlexyz"), vec!["evle", "xyz"]);
        assert_eq!(l.segment("masa"), vec!["masa"]);
        assert_eq!(l.classes.len(), 3);
        assert_eq!(l.affixes["ler"], l.affixes["lar"]);
    }

    #[test]
    fn compound_reading_only_when_asked_and_with_long_enough_later_roots() {
        let j = r#"{"roots": ["ev", "edile", "bil", "s", "ab"], "affixes": ["ecek", "i", "ler", "de"]}"#;
        let mut l = LexiconSegmenter::parse_json(j, Path::new("t.json"), "lex".into()).unwrap();
        // Off: the longest root, its (empty) chain, then the rest in one piece.
        assert_eq!(l.segment("edilebileceki"), vec!["edile", "bileceki"]);
        assert_eq!(l.segment("evsab"), vec!["ev", "sab"]);
        // Later roots of at least 3 chars: "bil" qualifies, "s" and "ab" do not.
        l.compound = 3;
        assert_eq!(
            l.segment("edilebileceki"),
            vec!["edile", "bil", "ecek", "i"]
        );
        assert_eq!(l.segment("evsab"), vec!["ev", "sab"]);
        // A complete single-root parse is never replaced.
        assert_eq!(l.segment("evlerde"), vec!["ev", "ler", "de"]);
        l.compound = 1;
        assert_eq!(l.segment("evsab"), vec!["ev", "s", "ab"]);
        l.compound = 4;
        assert_eq!(l.segment("edilebileceki"), vec!["edile", "bileceki"]);
        // The spec and the JSON key.
        let j2 = r#"{"roots": ["ev"], "affixes": ["i"], "compound": 5}"#;
        assert_eq!(
            LexiconSegmenter::parse_json(j2, Path::new("t.json"), "l".into())
                .unwrap()
                .compound,
            5
        );
        let e = LexiconSegmenter::load_spec("/no/such/lexicon.json,compound=x")
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("compound=N needs a whole number"),
            "{e}"
        );
        let e = LexiconSegmenter::load_spec("/no/such/lexicon.json,compound=4")
            .err()
            .unwrap();
        assert!(e.to_string().contains("/no/such/lexicon.json"), "{e}");
    }

    #[test]
    fn tsv_and_errors() {
        let t = "# roots\nroot\tev\naffix\tler\tPL\naffix\tlar\tPL\naffix\tde\n\n";
        let l = LexiconSegmenter::parse_tsv(t, "t.tsv", "l".into()).unwrap();
        assert_eq!(l.segment("evlerde"), vec!["ev", "ler", "de"]);
        assert_eq!(l.affixes["ler"], l.affixes["lar"]);
        let e = LexiconSegmenter::parse_tsv("root\tev\nstem\tx\n", "t.tsv", "l".into())
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "t.tsv:2: unknown kind 'stem' (known: root, affix, unit)"
        );
        let e = LexiconSegmenter::parse_json("[1]", Path::new("x.json"), "l".into())
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("x.json: expected a JSON object"));
        let e = LexiconSegmenter::parse_json("{\"roots\": [1]}", Path::new("x.json"), "l".into())
            .err()
            .unwrap();
        assert!(e.to_string().contains("list of strings"));
    }
}
