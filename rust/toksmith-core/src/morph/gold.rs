//! Gold segmentations from a SIGMORPHON 2022 word-level file: `word<TAB>morph @@morph ...[<TAB>more columns]`.
//!
//! `@@` marks a morph that continues the word; a morph without it after a space starts a new component (both
//! count as boundaries). Only entries whose morphs join back to the word (surface segmentations) give
//! boundaries; canonical ones (`inaccuracies → in @@accurate @@cy @@s`) are counted and skipped. Words are
//! looked up in lower case; the first entry of a word wins.
//!
//! Unseen words (`gold:FILE,unseen=LAM`, built with the corpus's word counts): a word the file does not hold gets
//! its Viterbi segmentation under one unigram lexicon of the file's morphs (each counted once per entry holding it)
//! and the corpus's words as whole units (each `LAM` × its corpus count; as integers: morphs × round(1/LAM), words ×
//! 1). Frequent words stay whole; rare and unseen ones are cut into morphs the file knows. Without the option,
//! unseen words get no boundaries. With `known=lexicon` as well, the words the file holds go through the same
//! Viterbi (their gold morphs are in its lexicon, so rare ones keep their analysis, but frequent ones stay whole):
//! fewer cuts in frequent text, for tokenizers that should compress like plain BPE on it.

use super::mdl::MdlViterbi;
use super::{boundaries_of, lower_word, read_text, split_option, MorphError, Segmenter};
use rustc_hash::FxHashMap;
use std::path::Path;
use std::sync::Arc;

/// A parsed `gold:` spec argument.
#[derive(Clone, Debug, PartialEq)]
pub struct GoldSpec<'a> {
    pub path: &'a str,
    /// `unseen=LAM`: cut words the file lacks by the unigram lexicon (module doc).
    pub unseen: Option<f64>,
    /// `known=lexicon`: the words the file holds go through that lexicon too (`known=gold`, the default: they
    /// keep their gold analysis).
    pub known_by_lexicon: bool,
}

/// The argument of a `gold:` spec: `FILE[,unseen=LAM[,known=gold|lexicon]]` (a FILE that exists as given is taken
/// whole).
pub fn parse_spec(arg: &str) -> Result<GoldSpec<'_>, MorphError> {
    let (rest, known) = split_option(arg, "known");
    let known_by_lexicon = match known.map(str::trim) {
        None | Some("gold") => false,
        Some("lexicon") => true,
        Some(k) => {
            return Err(MorphError::Config(format!(
                "gold known= takes 'gold' or 'lexicon', not '{k}'"
            )))
        }
    };
    let (path, opt) = split_option(rest, "unseen");
    let lam = opt
        .map(|l| {
            l.trim().parse().ok().filter(|x: &f64| x.is_finite() && *x > 0.0).ok_or_else(|| {
                MorphError::Config(format!(
                    "gold unseen=LAM needs a positive number (the weight of corpus words against gold morphs), not '{l}'"
                ))
            })
        })
        .transpose()?;
    if known_by_lexicon && lam.is_none() {
        return Err(MorphError::Config(
            "gold known=lexicon needs unseen=LAM (the lexicon is built from it)".into(),
        ));
    }
    Ok(GoldSpec {
        path,
        unseen: lam,
        known_by_lexicon,
    })
}

/// One parsed line: the word and its morphs (without `@@`).
pub fn parse_line(line: &str) -> Result<(String, Vec<String>), String> {
    let mut fields = line.split('\t');
    let word = fields.next().unwrap_or("");
    let Some(seg) = fields.next() else {
        return Err("expected word<TAB>segmentation: no TAB".into());
    };
    if word.trim().is_empty() {
        return Err("empty word".into());
    }
    let morphs: Vec<String> = seg
        .split_whitespace()
        .map(|m| m.strip_prefix("@@").unwrap_or(m).to_string())
        .filter(|m| !m.is_empty())
        .collect();
    if morphs.is_empty() {
        return Err(format!("empty segmentation for {word:?}"));
    }
    Ok((word.to_string(), morphs))
}

#[derive(Clone, Debug)]
pub struct GoldSegmenter {
    name: String,
    map: FxHashMap<String, Vec<usize>>,
    /// How words the file does not hold are cut (`None`: not at all): Viterbi over weighted units.
    pub unseen: Option<Arc<MdlViterbi>>,
    /// Lines read, and lines whose morphs join back to the word.
    pub entries: usize,
    pub surface_entries: usize,
}

impl GoldSegmenter {
    pub fn load(path: &Path) -> Result<Self, MorphError> {
        let text = read_text(path)?;
        let name = format!(
            "gold:{}",
            path.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        Self::parse(&text, &path.display().to_string(), name)
    }

    /// Parse file contents (`path` is for messages only).
    pub fn parse(text: &str, path: &str, name: String) -> Result<Self, MorphError> {
        let mut map = FxHashMap::default();
        let (mut entries, mut surface) = (0, 0);
        for (i, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let (word, morphs) = parse_line(line).map_err(|msg| MorphError::Malformed {
                path: path.to_string(),
                line: i + 1,
                msg,
            })?;
            entries += 1;
            if morphs.concat() != word {
                continue;
            }
            surface += 1;
            let refs: Vec<&str> = morphs.iter().map(String::as_str).collect();
            map.entry(lower_word(&word))
                .or_insert_with(|| boundaries_of(&refs));
        }
        if entries == 0 {
            return Err(MorphError::BadFile {
                path: path.to_string(),
                msg: "no segmentations in the file".into(),
            });
        }
        Ok(GoldSegmenter {
            name,
            map,
            unseen: None,
            entries,
            surface_entries: surface,
        })
    }

    /// `gold:FILE[,unseen=LAM[,known=...]]`; `words` (lower-case corpus word counts) feed the unseen-word lexicon.
    pub fn from_spec(arg: &str, words: &[(String, u64)]) -> Result<Self, MorphError> {
        let spec = parse_spec(arg)?;
        let g = Self::load(Path::new(spec.path))?;
        Ok(match spec.unseen {
            Some(l) if spec.known_by_lexicon => g.with_unseen(words, l).all_by_lexicon(),
            Some(l) => g.with_unseen(words, l),
            None => g,
        })
    }

    /// `known=lexicon`: forget the per-word analyses once they are in the unseen-word lexicon, so every word is
    /// cut by its Viterbi (what a tokenizer file then stores: the lexicon alone).
    pub fn all_by_lexicon(mut self) -> Self {
        if self.unseen.is_some() {
            self.map.clear();
            self.name.push_str(",known=lexicon");
        }
        self
    }

    /// Whether every word goes through the unseen-word lexicon: it exists and no per-word analysis is kept (as
    /// after `known=lexicon`).
    pub fn all_by_lexicon_now(&self) -> bool {
        self.unseen.is_some() && self.map.is_empty()
    }

    /// Cut words the file does not hold by Viterbi under the file's morphs + `words` weighted `lam` (module doc).
    pub fn with_unseen(mut self, words: &[(String, u64)], lam: f64) -> Self {
        let scale = (1.0 / lam).round().max(1.0) as u64;
        let mut units: FxHashMap<String, u64> = FxHashMap::default();
        for (w, b) in &self.map {
            let chars: Vec<(usize, char)> = w.char_indices().collect();
            let byte = |i: usize| chars.get(i).map_or(w.len(), |c| c.0);
            let mut start = 0;
            for &cut in b.iter().chain(std::iter::once(&chars.len())) {
                *units
                    .entry(w[byte(start)..byte(cut)].to_string())
                    .or_insert(0) += scale;
                start = cut;
            }
        }
        for (w, c) in words {
            *units.entry(w.clone()).or_insert(0) += c;
        }
        let mut units: Vec<(String, u64)> = units.into_iter().collect();
        units.sort_unstable();
        self.unseen = Some(Arc::new(MdlViterbi::new(units)));
        self
    }

    /// A segmenter from a map (lower-case word → char-offset boundaries), e.g. as a tokenizer file stores it.
    pub fn from_map(name: String, map: FxHashMap<String, Vec<usize>>) -> Self {
        let n = map.len();
        GoldSegmenter {
            name,
            map,
            unseen: None,
            entries: n,
            surface_entries: n,
        }
    }

    /// The words with boundaries and their boundaries (with an unseen-word lexicon, every word the file holds:
    /// a word without boundaries must stay uncut rather than go to the lexicon).
    pub fn entries_iter(&self) -> impl Iterator<Item = (&String, &Vec<usize>)> {
        let all = self.unseen.is_some();
        self.map.iter().filter(move |(_, b)| all || !b.is_empty())
    }

    /// Whether `word` (lower case) has a surface segmentation here.
    pub fn knows(&self, word: &str) -> bool {
        self.map.contains_key(word)
    }
}

impl Segmenter for GoldSegmenter {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn boundaries(&self, word: &str) -> Vec<usize> {
        if let Some(b) = self.map.get(word) {
            return b.clone();
        }
        let lower = lower_word(word);
        match (self.map.get(&lower), &self.unseen) {
            (Some(b), _) => b.clone(),
            (None, Some(u)) => u.boundaries(&lower),
            (None, None) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseen_words_by_gold_morphs_and_corpus_words() {
        let text = "played\tplay @@ed\nwalking\twalk @@ing\nrun\trun\n";
        let g = GoldSegmenter::parse(text, "t.tsv", "gold".into()).unwrap();
        // Off: unseen words are not cut.
        assert_eq!(g.boundaries("jumped"), Vec::<usize>::new());
        // "talked" occurs often in the corpus: it stays whole; "walked", "playing" are cut into known morphs;
        // known words keep their gold analysis, "run" (no boundaries in the file) included.
        let words = vec![
            ("talked".to_string(), 500),
            ("run".to_string(), 2),
            ("ru".to_string(), 9),
        ];
        let g = g.with_unseen(&words, 0.05);
        assert_eq!(g.segment("walked"), vec!["walk", "ed"]);
        assert_eq!(g.segment("Playing"), vec!["Play", "ing"]);
        assert_eq!(g.segment("talked"), vec!["talked"]);
        assert_eq!(g.segment("played"), vec!["play", "ed"]);
        assert_eq!(g.segment("run"), vec!["run"]);
        let units: FxHashMap<&str, u64> = g
            .unseen
            .as_ref()
            .unwrap()
            .morphs
            .iter()
            .map(|(m, c)| (m.as_str(), *c))
            .collect();
        // morphs weigh round(1 / 0.05) = 20 per entry; words their corpus count
        assert_eq!(
            (units["play"], units["ed"], units["talked"], units["run"]),
            (20, 20, 500, 22)
        );
        // known=lexicon: known words go through the lexicon too: "played" keeps its gold cut (its morphs are in
        // the lexicon), a known word that is frequent in the corpus stays whole.
        let words2 = vec![("walking".to_string(), 500)];
        let gl = GoldSegmenter::parse(text, "t.tsv", "gold".into())
            .unwrap()
            .with_unseen(&words2, 0.05)
            .all_by_lexicon();
        assert_eq!(gl.segment("walking"), vec!["walking"]);
        assert_eq!(gl.segment("played"), vec!["play", "ed"]);
        assert_eq!(gl.segment("walked"), vec!["walk", "ed"]);
        let gk = GoldSegmenter::parse(text, "t.tsv", "gold".into())
            .unwrap()
            .with_unseen(&words2, 0.05);
        assert_eq!(gk.segment("walking"), vec!["walk", "ing"]);
        assert_eq!(
            parse_spec("/no/such.tsv,unseen=0.1").unwrap(),
            GoldSpec {
                path: "/no/such.tsv",
                unseen: Some(0.1),
                known_by_lexicon: false
            }
        );
        assert_eq!(
            parse_spec("/no/such.tsv,unseen=0.1,known=lexicon").unwrap(),
            GoldSpec {
                path: "/no/such.tsv",
                unseen: Some(0.1),
                known_by_lexicon: true
            }
        );
        for (bad, msg) in [
            ("/no/such.tsv,known=lexicon", "needs unseen=LAM"),
            (
                "/no/such.tsv,unseen=0.1,known=all",
                "takes 'gold' or 'lexicon'",
            ),
        ] {
            let e = parse_spec(bad).unwrap_err();
            assert!(e.to_string().contains(msg), "{e}");
        }
        for bad in ["x", "0", "-1", "nan"] {
            let e = parse_spec(&format!("/no/such.tsv,unseen={bad}")).unwrap_err();
            assert!(
                e.to_string().contains("unseen=LAM needs a positive number"),
                "{e}"
            );
        }
    }

    #[test]
    fn surface_entries_only() {
        let text = "played\tplay @@ed\t100\ninaccuracies\tin @@accurate @@cy @@s\t110\n\
                    mouthharpist\tmouth harp @@ist\nrun\trun\n";
        let g = GoldSegmenter::parse(text, "t.tsv", "gold".into()).unwrap();
        assert_eq!(g.entries, 4);
        assert_eq!(g.surface_entries, 3);
        assert_eq!(g.segment("played"), vec!["play", "ed"]);
        assert_eq!(g.boundaries("mouthharpist"), vec![5, 9]);
        assert_eq!(g.boundaries("run"), Vec::<usize>::new());
        assert_eq!(g.boundaries("inaccuracies"), Vec::<usize>::new());
        assert_eq!(g.boundaries("unknown"), Vec::<usize>::new());
        // Looked up in lower case.
        let g = GoldSegmenter::parse("Evler\tEv @@ler\n", "t", "g".into()).unwrap();
        assert!(g.knows("evler"));
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let e = GoldSegmenter::parse("a\ta\nbroken line\n", "x.tsv", "g".into())
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "x.tsv:2: expected word<TAB>segmentation: no TAB"
        );
        let e = GoldSegmenter::parse("a\t @@ \n", "x.tsv", "g".into())
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("x.tsv:1: empty segmentation"));
        assert!(matches!(
            GoldSegmenter::parse("\n\n", "x", "g".into()),
            Err(MorphError::BadFile { .. })
        ));
    }
}
