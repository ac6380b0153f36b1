//! Gold segmentations from a SIGMORPHON 2022 word-level file: `word<TAB>morph @@morph ...[<TAB>more columns]`.
//!
//! `@@` marks a morph that continues the word; a morph without it after a space starts a new component (both
//! count as boundaries). Only entries whose morphs join back to the word (surface segmentations) give
//! boundaries; canonical ones (`inaccuracies → in @@accurate @@cy @@s`) are counted and skipped. Words are
//! looked up in lower case; the first entry of a word wins.

use super::{boundaries_of, lower_word, read_text, MorphError, Segmenter};
use rustc_hash::FxHashMap;
use std::path::Path;

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
            entries,
            surface_entries: surface,
        })
    }

    /// A segmenter from a map (lower-case word → char-offset boundaries), e.g. as a tokenizer file stores it.
    pub fn from_map(name: String, map: FxHashMap<String, Vec<usize>>) -> Self {
        let n = map.len();
        GoldSegmenter {
            name,
            map,
            entries: n,
            surface_entries: n,
        }
    }

    /// The words with boundaries and their boundaries.
    pub fn entries_iter(&self) -> impl Iterator<Item = (&String, &Vec<usize>)> {
        self.map.iter().filter(|(_, b)| !b.is_empty())
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
        match self.map.get(word) {
            Some(b) => b.clone(),
            None => self.map.get(&lower_word(word)).cloned().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
