//! Bindings of the morphology module: segmenters (`Segmenter`) and boundary-respecting BPE (`train_morph`).
//! Conversions and GIL handling only.

use crate::train_ext::{progress_cb, take_counter};
use crate::{with_threads, Counter, Tokenizer, ToksmithError, TrainingError};
use pyo3::create_exception;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex};
use toksmith_core::encode::Encoder;
use toksmith_core::morph::bpe::{self as mbpe, MorphBpeConfig};
use toksmith_core::morph::encode::{
    self as menc, CaseMap, MdlViterbi, MorphTokenizer as CoreMorphTok, Stored,
};
use toksmith_core::morph::gold::{self, GoldSegmenter};
use toksmith_core::morph::lexicon::LexiconSegmenter;
use toksmith_core::morph::mdl::{Dampening, Decode, MdlConfig, MdlSegmenter};
use toksmith_core::morph::{self, MorphError as CoreError, Segmenter as CoreSeg};

create_exception!(
    _core,
    MorphError,
    ToksmithError,
    "A segmenter cannot be built: unknown segmenter, malformed gold or lexicon file, empty word list."
);

pub(crate) fn morph_err(e: CoreError) -> PyErr {
    match e {
        CoreError::Train(t) => TrainingError::new_err(t.to_string()),
        e => MorphError::new_err(e.to_string()),
    }
}

/// (class token, id, (feature, form) pairs).
type AlloClass = (String, u32, Vec<(String, String)>);
/// (roots, (affix, class), units).
type LexiconEntries = (Vec<String>, Vec<(String, String)>, Vec<String>);
/// (words, epochs, cost) of an mdl model learned during training.
type MdlInfo = Option<(usize, usize, f64)>;

#[derive(Clone)]
enum Inner {
    Mdl(Arc<MdlSegmenter>),
    Gold(Arc<GoldSegmenter>),
    Lexicon(Arc<LexiconSegmenter>),
}

/// A segmenter: word → morphs. Build with `load_segmenter(spec, word_counts)`, `train_mdl(...)`,
/// `load_gold(path)` or `load_lexicon(path)`.
#[pyclass(module = "toksmith._core", frozen)]
#[derive(Clone)]
pub(crate) struct Segmenter {
    inner: Inner,
}

impl Inner {
    fn core(&self) -> &dyn CoreSeg {
        match self {
            Inner::Mdl(m) => m.as_ref(),
            Inner::Gold(g) => g.as_ref(),
            Inner::Lexicon(l) => l.as_ref(),
        }
    }
    /// The segmenter as a toksmith-morph file stores it (mdl: Viterbi over its morphs).
    fn stored(&self) -> Stored {
        match self {
            Inner::Mdl(m) => Stored::Mdl(MdlViterbi::from_model(m)),
            Inner::Gold(g) => Stored::Gold(g.as_ref().clone()),
            Inner::Lexicon(l) => Stored::Lexicon(l.as_ref().clone()),
        }
    }
}

impl Segmenter {
    pub(crate) fn core(&self) -> &dyn CoreSeg {
        self.inner.core()
    }
    pub(crate) fn arc(&self) -> Arc<dyn CoreSeg> {
        match &self.inner {
            Inner::Mdl(m) => m.clone(),
            Inner::Gold(g) => g.clone(),
            Inner::Lexicon(l) => l.clone(),
        }
    }
    fn mdl(&self) -> PyResult<&MdlSegmenter> {
        match &self.inner {
            Inner::Mdl(m) => Ok(m),
            _ => Err(MorphError::new_err("this segmenter is not an mdl model")),
        }
    }
}

#[pymethods]
impl Segmenter {
    /// `gold:FILE`, `mdl` or `lexicon:FILE`.
    #[getter]
    fn name(&self) -> String {
        self.core().name()
    }
    /// `gold`, `mdl` or `lexicon`.
    #[getter]
    fn kind(&self) -> &'static str {
        match &self.inner {
            Inner::Mdl(_) => "mdl",
            Inner::Gold(_) => "gold",
            Inner::Lexicon(_) => "lexicon",
        }
    }
    /// Morphs of `word` (lower case letters: callers lower-case first).
    fn segment(&self, word: &str) -> Vec<String> {
        self.core().segment(word)
    }
    /// Internal boundaries of `word` as char offsets.
    fn boundaries(&self, word: &str) -> Vec<usize> {
        self.core().boundaries(word)
    }
    /// `segment` of many words, in parallel.
    #[pyo3(signature = (words, threads=None))]
    fn segment_many(
        &self,
        py: Python<'_>,
        words: Vec<String>,
        threads: Option<usize>,
    ) -> PyResult<Vec<Vec<String>>> {
        let s = self.arc();
        py.allow_threads(move || {
            with_threads(threads, move || {
                words.par_iter().map(|w| s.segment(w)).collect()
            })
        })
    }
    /// Byte offsets of the morph boundaries inside a pre-tokenized chunk (its words lower-cased first).
    fn chunk_boundaries(&self, chunk: &str) -> Vec<usize> {
        morph::chunk_boundaries(self.core(), chunk)
    }
    /// Facts about the model (counts, costs, epochs).
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("kind", self.kind())?;
        d.set_item("name", self.name())?;
        match &self.inner {
            Inner::Mdl(m) => {
                let (lc, cc) = m.costs();
                d.set_item("words", m.words)?;
                d.set_item("epochs", m.epochs)?;
                d.set_item("morphs", m.morphs().len())?;
                d.set_item("cost", lc + cc)?;
                d.set_item("lexicon_cost", lc)?;
                d.set_item("corpus_cost", cc)?;
            }
            Inner::Gold(g) => {
                d.set_item("entries", g.entries)?;
                d.set_item("surface_entries", g.surface_entries)?;
            }
            Inner::Lexicon(l) => {
                d.set_item("roots", l.roots.len())?;
                d.set_item("affixes", l.affixes.len())?;
                d.set_item("affix_classes", l.classes.len())?;
                d.set_item("units", l.units.len())?;
            }
        }
        Ok(d)
    }
    /// mdl: total cost in nats (lexicon + corpus).
    fn cost(&self) -> PyResult<f64> {
        Ok(self.mdl()?.cost())
    }
    /// mdl: the morph lexicon as (morph, count), sorted.
    fn morphs(&self) -> PyResult<Vec<(String, u64)>> {
        Ok(self.mdl()?.morphs())
    }
    /// mdl: a training word's training tree (Morfessor's `segment`; the model's cost is the cost of these), or
    /// Viterbi for other words.
    fn analysis(&self, word: &str) -> PyResult<Vec<String>> {
        let m = self.mdl()?;
        Ok(morph::split_at_chars(word, &m.analysis(word)))
    }
    /// mdl: Viterbi segmentation over the morph lexicon (what unseen words get), even for training words.
    fn viterbi(&self, word: &str) -> PyResult<Vec<String>> {
        let m = self.mdl()?;
        Ok(morph::split_at_chars(word, &m.viterbi(word)))
    }
    /// lexicon: roots, affixes (form → class name) and units.
    fn lexicon_entries(&self) -> PyResult<LexiconEntries> {
        match &self.inner {
            Inner::Lexicon(l) => {
                let mut roots: Vec<String> = l.roots.iter().cloned().collect();
                roots.sort();
                let mut aff: Vec<(String, String)> = l
                    .affixes
                    .iter()
                    .map(|(a, &c)| (a.clone(), l.classes[c as usize].clone()))
                    .collect();
                aff.sort();
                Ok((roots, aff, l.units.clone()))
            }
            _ => Err(MorphError::new_err("this segmenter is not a lexicon")),
        }
    }
    fn __repr__(&self) -> String {
        format!("Segmenter({:?})", self.name())
    }
}

/// `gold:FILE,unseen=LAM` (as the core's spec parser reads it): its unseen-word lexicon holds the corpus's words.
fn gold_with_unseen(spec: &str) -> bool {
    spec.strip_prefix("gold:")
        .is_some_and(|a| gold::parse_spec(a).is_ok_and(|s| s.unseen.is_some()))
}

/// Whether a segmenter spec is learned from the corpus's word counts, so training builds it after counting:
/// `mdl[:...]` and `gold:FILE,unseen=LAM`.
#[pyfunction]
pub(crate) fn segmenter_learns_from_corpus(spec: &str) -> bool {
    spec == "mdl" || spec.starts_with("mdl:") || gold_with_unseen(spec)
}

/// A segmenter by spec (`gold:FILE[,unseen=LAM]`, `mdl[:KEY=VALUE,...]`, `lexicon:FILE[,compound=N]`); `mdl` and
/// `gold` with `unseen` learn from `word_counts`.
#[pyfunction]
#[pyo3(signature = (spec, word_counts=vec![]))]
pub(crate) fn load_segmenter(
    py: Python<'_>,
    spec: &str,
    word_counts: Vec<(String, u64)>,
) -> PyResult<Segmenter> {
    let spec = spec.to_string();
    let inner = py.allow_threads(move || -> Result<Inner, CoreError> {
        let (kind, arg) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        Ok(match kind {
            "gold" if !arg.is_empty() => {
                Inner::Gold(Arc::new(GoldSegmenter::from_spec(arg, &word_counts)?))
            }
            "lexicon" if !arg.is_empty() => {
                Inner::Lexicon(Arc::new(LexiconSegmenter::load_spec(arg)?))
            }
            "mdl" => Inner::Mdl(Arc::new(MdlSegmenter::train(
                &word_counts,
                &MdlConfig::parse(arg)?,
            )?)),
            _ => {
                // The core's messages for unknown specs and missing files.
                morph::from_spec(&spec, &[])?;
                return Err(CoreError::UnknownSegmenter(spec.clone()));
            }
        })
    });
    Ok(Segmenter {
        inner: inner.map_err(morph_err)?,
    })
}

/// Train an mdl (Morfessor-Baseline-style) segmenter on (word, count) pairs.
#[pyfunction]
#[pyo3(signature = (word_counts, corpus_weight=1.0, dampening="ones", seed=0, finish_threshold=0.005,
                    max_epochs=100, decode="viterbi"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_mdl(
    py: Python<'_>,
    word_counts: Vec<(String, u64)>,
    corpus_weight: f64,
    dampening: &str,
    seed: u64,
    finish_threshold: f64,
    max_epochs: usize,
    decode: &str,
) -> PyResult<Segmenter> {
    let decode = Decode::parse(decode).ok_or_else(|| {
        MorphError::new_err(format!("unknown decode '{decode}' (known: viterbi, tree)"))
    })?;
    let damp = Dampening::parse(dampening).ok_or_else(|| {
        MorphError::new_err(format!(
            "unknown dampening '{dampening}' (known: none, log, ones)"
        ))
    })?;
    let cfg = MdlConfig {
        corpus_weight,
        dampening: damp,
        seed,
        finish_threshold,
        max_epochs,
        decode,
        ..Default::default()
    };
    let m = py
        .allow_threads(move || MdlSegmenter::train(&word_counts, &cfg))
        .map_err(morph_err)?;
    Ok(Segmenter {
        inner: Inner::Mdl(Arc::new(m)),
    })
}

/// The MDL cost (lexicon, corpus) of given segmentations `(word, count, morphs)`, without training.
#[pyfunction]
#[pyo3(signature = (items, corpus_weight=1.0))]
pub(crate) fn mdl_cost(items: Vec<(String, u64, Vec<String>)>, corpus_weight: f64) -> (f64, f64) {
    let refs: Vec<(&str, u64, Vec<&str>)> = items
        .iter()
        .map(|(w, c, m)| (w.as_str(), *c, m.iter().map(String::as_str).collect()))
        .collect();
    MdlSegmenter::from_segmentations(&refs, corpus_weight).costs()
}

/// Word counts (lower-cased words of the chunks) of a Counter, without consuming it.
#[pyfunction]
pub(crate) fn counter_word_counts(counter: &mut Counter) -> PyResult<Vec<(String, u64)>> {
    let c = counter
        .inner
        .as_mut()
        .ok_or_else(|| ToksmithError::new_err("this Counter was consumed by training"))?;
    let chunks: Vec<(Box<str>, u64)> = c
        .counts()
        .iter()
        .map(|(k, v)| (Box::from(k.as_ref()), *v))
        .collect();
    Ok(morph::word_counts(&chunks))
}

/// Boundary-respecting BPE from a Counter (consumed). `segmenter`: a `Segmenter`, or a spec string (`mdl`
/// then learns from the counter's words). Returns (Tokenizer, report dict).
#[pyfunction]
#[pyo3(signature = (counter, segmenter, vocab_size, boundary_penalty=0.0, min_frequency=2,
                    special_tokens=vec![], max_token_length=None, threads=None, progress=None,
                    uppercase=None, segment_at_encode=false, allomorphs=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_morph<'py>(
    py: Python<'py>,
    counter: &mut Counter,
    segmenter: &Bound<'py, PyAny>,
    vocab_size: usize,
    boundary_penalty: f64,
    min_frequency: u64,
    special_tokens: Vec<String>,
    max_token_length: Option<usize>,
    threads: Option<usize>,
    progress: Option<PyObject>,
    uppercase: Option<String>,
    segment_at_encode: bool,
    allomorphs: Option<String>,
) -> PyResult<(PyObject, Bound<'py, PyDict>)> {
    let allo = match &allomorphs {
        None => None,
        Some(path) => Some(menc::Allomorphs::load(Path::new(path)).map_err(morph_err)?),
    };
    let case_map = match uppercase.as_deref() {
        None => None,
        Some(name) => Some(CaseMap::parse(name).ok_or_else(|| {
            MorphError::new_err(format!(
                "unknown case map '{name}' (known: unicode, turkish)"
            ))
        })?),
    };
    let seg: Result<Segmenter, String> = if let Ok(s) = segmenter.downcast::<Segmenter>() {
        Ok(s.get().clone())
    } else {
        Err(segmenter.extract::<String>()?)
    };
    let cfg = MorphBpeConfig {
        vocab_size,
        min_frequency,
        special_tokens,
        max_token_length,
        penalty: boundary_penalty,
    };
    if !(boundary_penalty.is_finite() && (0.0..=1.0).contains(&boundary_penalty)) {
        return Err(MorphError::new_err(format!(
            "boundary penalty must be between 0 (merges never cross a boundary) and 1 (plain BPE), not {boundary_penalty}"
        )));
    }
    // Build a segmenter from its spec before consuming the counter (bad specs fail early).
    let spec_seg = match &seg {
        Ok(_) => None,
        Err(spec) if spec.starts_with("mdl") => {
            MdlConfig::parse(spec.split_once(':').map_or("", |x| x.1)).map_err(morph_err)?;
            None
        }
        // `gold:FILE,unseen=LAM` needs the corpus's words: checked now (file and option), built after counting.
        Err(spec) if gold_with_unseen(spec) => {
            load_segmenter(py, spec, vec![])?;
            None
        }
        Err(spec) => Some(load_segmenter(py, spec, vec![])?),
    };
    let c = take_counter(counter)?;
    let pretok = c.pretok().clone();
    let py_err: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
    let mut cb = progress_cb(progress, py_err.clone());
    let given: Option<Inner> = match (&seg, &spec_seg) {
        (Ok(s), _) => Some(s.inner.clone()),
        (Err(_), Some(s)) => Some(s.inner.clone()),
        _ => None,
    };
    let mdl_spec = seg.clone().err();
    let t0 = std::time::Instant::now();
    let result = py.allow_threads(move || {
        with_threads(threads, move || -> Result<_, CoreError> {
            let chunks = c.into_chunks();
            let mut seg_secs = 0.0;
            let (s, mdl_info): (Inner, MdlInfo) = match given {
                Some(s) => (s, None),
                None if mdl_spec.as_deref().is_some_and(gold_with_unseen) => {
                    let t = std::time::Instant::now();
                    let spec = mdl_spec.unwrap_or_default();
                    let words = morph::word_counts(&chunks);
                    let g =
                        GoldSegmenter::from_spec(spec.split_once(':').map_or("", |x| x.1), &words)?;
                    seg_secs = t.elapsed().as_secs_f64();
                    (Inner::Gold(Arc::new(g)), None)
                }
                None => {
                    let t = std::time::Instant::now();
                    let spec = mdl_spec.unwrap_or_default();
                    let words = morph::word_counts(&chunks);
                    let m = MdlSegmenter::train(
                        &words,
                        &MdlConfig::parse(spec.split_once(':').map_or("", |x| x.1))?,
                    )?;
                    seg_secs = t.elapsed().as_secs_f64();
                    let info = (m.words, m.epochs, m.cost());
                    (Inner::Mdl(Arc::new(m)), Some(info))
                }
            };
            if case_map.is_none() && !segment_at_encode && allo.is_none() {
                let (model, rep) = mbpe::train(&chunks, pretok, s.core(), &cfg, &mut cb)?;
                return Ok((Trained::Plain(model), rep, seg_secs, mdl_info));
            }
            let store = segment_at_encode.then(|| Arc::new(s.stored()));
            let train_seg: &dyn CoreSeg = match &store {
                Some(st) => st.as_dyn(),
                None => s.core(),
            };
            let (tok, rep) = menc::train_tokenizer(
                &chunks,
                pretok,
                train_seg,
                store.clone(),
                &cfg,
                case_map,
                allo,
                &mut cb,
            )?;
            Ok((Trained::Morph(tok), rep, seg_secs, mdl_info))
        })
    })?;
    let secs = t0.elapsed().as_secs_f64();
    if let Some(e) = py_err.lock().unwrap().take() {
        return Err(e);
    }
    let (trained, rep, seg_secs, mdl_info) = result.map_err(morph_err)?;
    let obj: PyObject = match trained {
        Trained::Plain(model) => {
            let enc = Encoder::new(model).map_err(|e| TrainingError::new_err(e.to_string()))?;
            Py::new(py, Tokenizer { enc: Arc::new(enc) })?.into_any()
        }
        Trained::Morph(t) => Py::new(py, MorphTokenizer { inner: Arc::new(t) })?.into_any(),
    };
    let d = PyDict::new(py);
    d.set_item("segmenter", rep.segmenter)?;
    d.set_item("boundary_penalty", boundary_penalty)?;
    d.set_item("chunks", rep.chunks)?;
    d.set_item("chunks_with_boundaries", rep.chunks_with_boundaries)?;
    d.set_item("boundaries", rep.boundaries)?;
    d.set_item("merges", rep.merges)?;
    d.set_item("crossing_merges", rep.crossing_merges)?;
    d.set_item("seconds_segmenter", seg_secs)?;
    d.set_item("seconds_train", secs)?;
    if let Some((w, e, cost)) = mdl_info {
        d.set_item("mdl_words", w)?;
        d.set_item("mdl_epochs", e)?;
        d.set_item("mdl_cost", cost)?;
    }
    d.set_item("uppercase", case_map.map(CaseMap::name))?;
    d.set_item("segment_at_encode", segment_at_encode)?;
    d.set_item("allomorphs", allomorphs)?;
    Ok((obj, d))
}

enum Trained {
    Plain(toksmith_core::model::BpeModel),
    Morph(CoreMorphTok),
}

/// A toksmith-morph tokenizer: a plain BPE plus the `<uppercase>` marker and/or the segmenter at encode time.
#[pyclass(module = "toksmith._core", frozen)]
pub(crate) struct MorphTokenizer {
    inner: Arc<CoreMorphTok>,
}

fn format_err(e: CoreError) -> PyErr {
    crate::TokenizerFormatError::new_err(e.to_string())
}

#[pymethods]
impl MorphTokenizer {
    #[staticmethod]
    fn from_str(json: &str) -> PyResult<Self> {
        Ok(MorphTokenizer {
            inner: Arc::new(
                CoreMorphTok::from_json(json.as_bytes(), "<string>").map_err(format_err)?,
            ),
        })
    }
    #[staticmethod]
    fn from_file(path: &str) -> PyResult<Self> {
        let data = std::fs::read(path).map_err(|e| {
            crate::TokenizerFormatError::new_err(format!("cannot read {path}: {e}"))
        })?;
        Ok(MorphTokenizer {
            inner: Arc::new(CoreMorphTok::from_json(&data, path).map_err(format_err)?),
        })
    }
    /// Whether `data` (the start of a file) is a toksmith-morph file.
    #[staticmethod]
    fn sniff(data: &[u8]) -> bool {
        CoreMorphTok::sniff(data)
    }
    fn to_json(&self) -> PyResult<String> {
        self.inner
            .to_json()
            .map_err(|e| crate::TokenizerFormatError::new_err(e.to_string()))
    }
    fn encode(&self, py: Python<'_>, text: &str) -> Vec<u32> {
        let t = self.inner.clone();
        let text = text.to_string();
        py.allow_threads(move || t.encode(&text))
    }
    #[pyo3(signature = (texts, threads=None))]
    fn encode_batch(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        threads: Option<usize>,
    ) -> PyResult<Vec<Vec<u32>>> {
        let t = self.inner.clone();
        py.allow_threads(move || {
            with_threads(threads, move || {
                texts.par_iter().map(|x| t.encode(x)).collect()
            })
        })
    }
    /// Per text, (id, start byte, end byte) of each token in the original text (the marker is empty).
    #[pyo3(signature = (texts, threads=None))]
    fn encode_spans_batch(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        threads: Option<usize>,
    ) -> PyResult<Vec<Vec<(u32, usize, usize)>>> {
        let t = self.inner.clone();
        py.allow_threads(move || {
            with_threads(threads, move || {
                texts.par_iter().map(|x| t.encode_spans(x)).collect()
            })
        })
    }
    fn decode(&self, ids: Vec<u32>) -> PyResult<String> {
        self.inner
            .decode(&ids)
            .map_err(|e| crate::EncodingError::new_err(e.to_string()))
    }
    /// The plain BPE part (what HF `tokenizers` can load).
    fn plain(&self) -> Tokenizer {
        Tokenizer {
            enc: self.inner.enc.clone(),
        }
    }
    /// (marker token, id, case map) or None.
    #[getter]
    fn uppercase(&self) -> Option<(String, u32, String)> {
        self.inner
            .upper
            .map(|(id, cm)| (menc::UPPERCASE.to_string(), id, cm.name().to_string()))
    }
    /// Name of the segmenter applied at encode time (with the options that change its cuts), or None.
    #[getter]
    fn segmenter(&self) -> Option<String> {
        self.inner.seg.as_ref().map(|s| s.describe())
    }
    #[getter]
    fn hf_note(&self) -> String {
        menc::hf_note(
            self.inner.upper.is_some(),
            self.inner.seg.is_some(),
            self.inner.allo.is_some(),
        )
    }
    /// Shared allomorph classes: (token, id, {feature: form}).
    #[getter]
    fn allomorphs(&self) -> Vec<AlloClass> {
        let Some(a) = &self.inner.allo else {
            return Vec::new();
        };
        a.token_names()
            .into_iter()
            .zip(&a.ids)
            .zip(&a.classes)
            .map(|((n, &id), (_, forms))| {
                let f = forms
                    .iter()
                    .enumerate()
                    .filter_map(|(i, x)| x.as_ref().map(|x| (a.features[i].0.clone(), x.clone())))
                    .collect();
                (n, id, f)
            })
            .collect()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Segmenter>()?;
    m.add_class::<MorphTokenizer>()?;
    m.add_function(wrap_pyfunction!(load_segmenter, m)?)?;
    m.add_function(wrap_pyfunction!(segmenter_learns_from_corpus, m)?)?;
    m.add_function(wrap_pyfunction!(train_mdl, m)?)?;
    m.add_function(wrap_pyfunction!(mdl_cost, m)?)?;
    m.add_function(wrap_pyfunction!(counter_word_counts, m)?)?;
    m.add_function(wrap_pyfunction!(train_morph, m)?)?;
    m.add("MorphError", m.py().get_type::<MorphError>())?;
    Ok(())
}
