//! Thin PyO3 bindings: conversions, GIL release around long work, errors mapped to Python exceptions.
//! No algorithm lives here.

mod bytelm;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use toksmith_core::bpe::{self, TrainConfig};
use toksmith_core::count::Counter as CoreCounter;
use toksmith_core::encode::Encoder;
use toksmith_core::formats::{self, hf_json, merges_txt, tiktoken};
use toksmith_core::model::MergeMode;
use toksmith_core::pretok::Pretokenizer as CorePretok;

create_exception!(
    _core,
    ToksmithError,
    PyException,
    "Base class of toksmith errors."
);
create_exception!(
    _core,
    TokenizerFormatError,
    ToksmithError,
    "A tokenizer file is missing, malformed or unsupported."
);
create_exception!(
    _core,
    TrainingError,
    ToksmithError,
    "Training cannot run with these inputs."
);
create_exception!(
    _core,
    CorpusError,
    ToksmithError,
    "A corpus cannot be read."
);
create_exception!(
    _core,
    EncodingError,
    ToksmithError,
    "Encoding or decoding failed."
);

fn fmt_err(e: formats::FormatError) -> PyErr {
    TokenizerFormatError::new_err(e.to_string())
}
fn pretok_err(e: toksmith_core::pretok::PretokError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    match threads {
        None | Some(0) => Ok(f()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok(pool.install(f))
        }
    }
}

/// A pre-tokenizer (split pattern) by spec: a preset name, `regex:PATTERN`, optionally `digits+` in front.
#[pyclass(module = "toksmith._core", frozen)]
struct Pretokenizer {
    inner: CorePretok,
}

#[pymethods]
impl Pretokenizer {
    #[new]
    fn new(spec: &str) -> PyResult<Self> {
        Ok(Pretokenizer {
            inner: CorePretok::from_spec(spec).map_err(pretok_err)?,
        })
    }
    /// The chunks of `text`, in order.
    fn split(&self, text: &str) -> Vec<String> {
        self.inner
            .split_to_vec(text)
            .into_iter()
            .map(String::from)
            .collect()
    }
    #[getter]
    fn spec(&self) -> String {
        self.inner.spec()
    }
    #[getter]
    fn pattern(&self) -> Option<String> {
        self.inner.pattern().map(String::from)
    }
    fn __repr__(&self) -> String {
        format!("Pretokenizer({:?})", self.inner.spec())
    }
}

/// Streaming, parallel chunk counter (the first half of training).
#[pyclass(module = "toksmith._core")]
struct Counter {
    inner: Option<CoreCounter>,
    threads: Option<usize>,
}

impl Counter {
    fn get(&mut self) -> PyResult<&mut CoreCounter> {
        self.inner
            .as_mut()
            .ok_or_else(|| ToksmithError::new_err("this Counter was consumed by training"))
    }
}

#[pymethods]
impl Counter {
    #[new]
    #[pyo3(signature = (pretokenizer, threads=None))]
    fn new(pretokenizer: &str, threads: Option<usize>) -> PyResult<Self> {
        let pt = CorePretok::from_spec(pretokenizer).map_err(pretok_err)?;
        let inner = with_threads(threads, || CoreCounter::new(pt))?;
        Ok(Counter {
            inner: Some(inner),
            threads,
        })
    }
    /// Count a plain, `.gz` or `.zst` text file as one stream.
    fn feed_file(&mut self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        py.allow_threads(|| with_threads(threads, || c.feed_file(&path)))?
            .map_err(|e| CorpusError::new_err(e.to_string()))
    }
    /// Feed the next bytes of a stream (cut only where cutting cannot change the chunks).
    fn feed(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        py.allow_threads(|| with_threads(threads, || c.feed(data)))
    }
    /// End the current stream.
    fn end_stream(&mut self, py: Python<'_>) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        py.allow_threads(|| with_threads(threads, || c.end_stream()))
    }
    /// Count whole documents (each pre-tokenized on its own).
    fn add_documents(&mut self, py: Python<'_>, docs: Vec<String>) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        py.allow_threads(|| with_threads(threads, || c.add_documents(&refs)))
    }
    /// Count documents given as bytes (invalid UTF-8 replaced by U+FFFD and counted).
    fn add_documents_bytes(&mut self, py: Python<'_>, docs: Vec<Vec<u8>>) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        let refs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
        py.allow_threads(|| with_threads(threads, || c.add_documents_bytes(&refs)))
    }
    #[getter]
    fn bytes_seen(&mut self) -> PyResult<u64> {
        Ok(self.get()?.bytes_seen)
    }
    #[getter]
    fn documents(&mut self) -> PyResult<u64> {
        Ok(self.get()?.documents)
    }
    #[getter]
    fn invalid_sequences(&mut self) -> PyResult<u64> {
        Ok(self.get()?.invalid_sequences)
    }
    #[getter]
    fn forced_cuts(&mut self) -> PyResult<u64> {
        Ok(self.get()?.forced_cuts)
    }
    #[getter]
    fn unique(&mut self) -> PyResult<usize> {
        Ok(self.get()?.unique())
    }
    /// The counts as a dict {chunk: count} (for inspection and tests; large for big corpora).
    fn as_dict<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.get()?.counts() {
            d.set_item(k.as_ref(), *v)?;
        }
        Ok(d)
    }
}

/// Train byte-level BPE from a Counter (consumed). `progress(done, total)` is called from time to time;
/// returning False cancels.
#[pyfunction]
#[pyo3(signature = (counter, vocab_size, min_frequency=2, special_tokens=vec![], max_token_length=None,
                    initial_merges=vec![], threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn train_bpe(
    py: Python<'_>,
    counter: &mut Counter,
    vocab_size: usize,
    min_frequency: u64,
    special_tokens: Vec<String>,
    max_token_length: Option<usize>,
    initial_merges: Vec<(Vec<u8>, Vec<u8>)>,
    threads: Option<usize>,
    progress: Option<PyObject>,
) -> PyResult<Tokenizer> {
    let c = counter
        .inner
        .take()
        .ok_or_else(|| ToksmithError::new_err("this Counter was consumed by training"))?;
    let pretok = c.pretok().clone();
    let cfg = TrainConfig {
        vocab_size,
        min_frequency,
        special_tokens,
        max_token_length,
        initial_merges,
    };
    let py_err: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
    let err2 = py_err.clone();
    let result = py.allow_threads(move || {
        with_threads(threads, move || {
            let chunks = c.into_chunks();
            let mut cb = |done: usize, total: usize| -> bool {
                match &progress {
                    None => true,
                    Some(f) => Python::with_gil(|py| match f.call1(py, (done, total)) {
                        // Only an explicit False cancels; None and other values go on.
                        Ok(v) => !matches!(v.extract::<bool>(py), Ok(false)),
                        Err(e) => {
                            *err2.lock().unwrap() = Some(e);
                            false
                        }
                    }),
                }
            };
            bpe::train(&chunks, pretok, &cfg, None, &mut cb)
        })
    })?;
    if let Some(e) = py_err.lock().unwrap().take() {
        return Err(e);
    }
    let model = result.map_err(|e| TrainingError::new_err(e.to_string()))?;
    let enc = Encoder::new(model).map_err(|e| TrainingError::new_err(e.to_string()))?;
    Ok(Tokenizer { enc: Arc::new(enc) })
}

/// A byte-level BPE tokenizer (the Rust encoder).
#[pyclass(module = "toksmith._core", frozen)]
struct Tokenizer {
    enc: Arc<Encoder>,
}

fn make(model: toksmith_core::model::BpeModel) -> PyResult<Tokenizer> {
    Ok(Tokenizer {
        enc: Arc::new(
            Encoder::new(model).map_err(|e| TokenizerFormatError::new_err(e.to_string()))?,
        ),
    })
}

#[pymethods]
impl Tokenizer {
    /// Load a Hugging Face `tokenizer.json` (byte-level BPE).
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<Tokenizer> {
        let data = formats::read_file(&path).map_err(fmt_err)?;
        make(hf_json::parse(&data, &path.display().to_string()).map_err(fmt_err)?)
    }
    /// Parse `tokenizer.json` text.
    #[staticmethod]
    fn from_str(json: &str) -> PyResult<Tokenizer> {
        make(hf_json::parse(json.as_bytes(), "<string>").map_err(fmt_err)?)
    }
    /// Load a tiktoken rank file with a pre-tokenizer spec and special tokens {content: id}.
    #[staticmethod]
    #[pyo3(signature = (path, pattern, special_tokens=None))]
    fn from_tiktoken(
        path: PathBuf,
        pattern: &str,
        special_tokens: Option<std::collections::BTreeMap<String, u32>>,
    ) -> PyResult<Tokenizer> {
        let data = formats::read_file(&path).map_err(fmt_err)?;
        let pt = CorePretok::from_spec(pattern).map_err(pretok_err)?;
        let specials: Vec<(String, u32)> = special_tokens.unwrap_or_default().into_iter().collect();
        make(tiktoken::parse(&data, pt, &specials).map_err(fmt_err)?)
    }

    #[pyo3(signature = (text, added_tokens=true))]
    fn encode(&self, py: Python<'_>, text: &str, added_tokens: bool) -> Vec<u32> {
        let enc = &self.enc;
        py.allow_threads(|| enc.encode(text, added_tokens))
    }
    #[pyo3(signature = (texts, added_tokens=true, threads=None))]
    fn encode_batch(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        added_tokens: bool,
        threads: Option<usize>,
    ) -> PyResult<Vec<Vec<u32>>> {
        let enc = &self.enc;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        py.allow_threads(|| with_threads(threads, || enc.encode_batch(&refs, added_tokens)))
    }
    /// Token counts of many texts, in parallel.
    #[pyo3(signature = (texts, added_tokens=false, threads=None))]
    fn count_batch(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        added_tokens: bool,
        threads: Option<usize>,
    ) -> PyResult<Vec<usize>> {
        let enc = &self.enc;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        py.allow_threads(|| with_threads(threads, || enc.count_batch(&refs, added_tokens)))
    }
    #[pyo3(signature = (ids, skip_special_tokens=false))]
    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<u32>,
        skip_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let b = self
            .enc
            .decode_bytes(&ids, skip_special_tokens)
            .map_err(|e| EncodingError::new_err(e.to_string()))?;
        Ok(PyBytes::new(py, &b))
    }
    #[pyo3(signature = (ids, skip_special_tokens=false))]
    fn decode(&self, ids: Vec<u32>, skip_special_tokens: bool) -> PyResult<String> {
        let b = self
            .enc
            .decode_bytes(&ids, skip_special_tokens)
            .map_err(|e| EncodingError::new_err(e.to_string()))?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }
    /// `tokenizer.json` text.
    fn to_json(&self) -> PyResult<String> {
        let m = self.enc.model();
        if m.mode == MergeMode::Ranks {
            let mut m = m.clone();
            hf_json::derive_merges(&mut m);
            return hf_json::to_string(&m).map_err(fmt_err);
        }
        hf_json::to_string(m).map_err(fmt_err)
    }
    /// Write `tokenizer.json` atomically.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        let s = self.to_json()?;
        formats::write_atomic(&path, s.as_bytes()).map_err(fmt_err)
    }
    /// Write a tiktoken rank file atomically.
    fn save_tiktoken(&self, path: PathBuf) -> PyResult<()> {
        formats::write_atomic(&path, tiktoken::write(self.enc.model()).as_bytes()).map_err(fmt_err)
    }
    /// GPT-2 style `vocab.json` text.
    fn vocab_json(&self) -> String {
        merges_txt::vocab_json(self.enc.model())
    }
    /// GPT-2 style `merges.txt` text.
    fn merges_txt(&self) -> PyResult<String> {
        let m = self.enc.model();
        if m.mode == MergeMode::Ranks {
            let mut m = m.clone();
            hf_json::derive_merges(&mut m);
            return Ok(merges_txt::merges_txt(&m));
        }
        Ok(merges_txt::merges_txt(m))
    }
    #[getter]
    fn vocab_size(&self) -> usize {
        self.enc.model().vocab_size()
    }
    #[getter]
    fn n_tokens(&self) -> usize {
        self.enc.model().n_tokens()
    }
    #[getter]
    fn n_merges(&self) -> usize {
        self.enc.model().merges.len()
    }
    #[getter]
    fn pretokenizer(&self) -> String {
        self.enc.model().pretok.spec()
    }
    #[getter]
    fn mode(&self) -> &'static str {
        match self.enc.model().mode {
            MergeMode::Pairs => "merges",
            MergeMode::Ranks => "ranks",
        }
    }
    /// [(content, id, special)] of added tokens.
    #[getter]
    fn added_tokens(&self) -> Vec<(String, u32, bool)> {
        self.enc
            .model()
            .added
            .iter()
            .map(|a| (a.content.clone(), a.id, a.special))
            .collect()
    }
    /// The merges as (left bytes, right bytes).
    fn merges<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let m = self.enc.model();
        m.merges
            .iter()
            .map(|&(a, b)| {
                (
                    PyBytes::new(py, m.vocab[a as usize].as_deref().unwrap_or_default()),
                    PyBytes::new(py, m.vocab[b as usize].as_deref().unwrap_or_default()),
                )
            })
            .collect()
    }
    /// Bytes of token `id` (None for an unused id).
    fn id_to_bytes<'py>(&self, py: Python<'py>, id: usize) -> Option<Bound<'py, PyBytes>> {
        self.enc
            .model()
            .vocab
            .get(id)
            .and_then(|t| t.as_deref())
            .map(|b| PyBytes::new(py, b))
    }
    fn token_to_id(&self, token: &[u8]) -> Option<u32> {
        self.enc.token_to_id(token)
    }
    /// Split text with this tokenizer's pre-tokenizer.
    fn pre_tokenize(&self, text: &str) -> Vec<String> {
        self.enc
            .model()
            .pretok
            .split_to_vec(text)
            .into_iter()
            .map(String::from)
            .collect()
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Pretokenizer>()?;
    m.add_class::<Counter>()?;
    m.add_class::<Tokenizer>()?;
    m.add_function(wrap_pyfunction!(train_bpe, m)?)?;
    bytelm::register(m)?;
    m.add("ToksmithError", py.get_type::<ToksmithError>())?;
    m.add(
        "TokenizerFormatError",
        py.get_type::<TokenizerFormatError>(),
    )?;
    m.add("TrainingError", py.get_type::<TrainingError>())?;
    m.add("CorpusError", py.get_type::<CorpusError>())?;
    m.add("EncodingError", py.get_type::<EncodingError>())?;
    m.add(
        "PRESETS",
        toksmith_core::pretok::Preset::ALL
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>(),
    )?;
    Ok(())
}
