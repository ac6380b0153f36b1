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
use toksmith_core::count_table::{self, Spill, TableError, TableMeta, TableReader};
use toksmith_core::encode::Encoder;
use toksmith_core::formats::{self, hf_json, merges_txt, tiktoken};
use toksmith_core::model::MergeMode;
use toksmith_core::pretok::Pretokenizer as CorePretok;

mod morph;
mod train_ext;

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
impl Tokenizer {
    /// Byte-level formats cannot hold a SentencePiece-style (byte fallback) model: its encoding would change.
    fn byte_level_only(&self, what: &str) -> PyResult<()> {
        if self.enc.model().sp.is_some() {
            return Err(fmt_err(formats::FormatError::Unsupported(format!(
                "writing a SentencePiece-style (byte fallback) model as {what}"
            ))));
        }
        Ok(())
    }
}

fn pretok_err(e: toksmith_core::pretok::PretokError) -> PyErr {
    PyValueError::new_err(e.to_string())
}
fn table_err(e: TableError) -> PyErr {
    CorpusError::new_err(e.to_string())
}

/// Thread pools by size, built once and reused (building a pool per call costs more than small batches).
static POOLS: std::sync::OnceLock<Mutex<std::collections::HashMap<usize, Arc<rayon::ThreadPool>>>> =
    std::sync::OnceLock::new();

fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    match threads {
        None | Some(0) => Ok(f()),
        Some(n) => {
            let pool = {
                let mut pools = POOLS
                    .get_or_init(Default::default)
                    .lock()
                    .map_err(|_| ToksmithError::new_err("thread pool registry poisoned"))?;
                match pools.get(&n) {
                    Some(p) => p.clone(),
                    None => {
                        let p = Arc::new(
                            rayon::ThreadPoolBuilder::new()
                                .num_threads(n)
                                .build()
                                .map_err(|e| PyValueError::new_err(e.to_string()))?,
                        );
                        pools.insert(n, p.clone());
                        p
                    }
                }
            };
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
    /// A byte offset in (0, limit] where `data` may be cut so that both halves split exactly as the whole
    /// (`None` if there is none): how files are cut into shards.
    fn safe_cut(&self, data: &[u8], limit: usize) -> Option<usize> {
        self.inner.safe_cut(data, limit)
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
    /// Memory budget: sorted runs spilled to disk (`count_table::Spill`).
    spill: Option<Spill>,
    /// Chunks dropped by `merge_tables(prune_below=...)`.
    pruned: u64,
}

impl Counter {
    fn get(&mut self) -> PyResult<&mut CoreCounter> {
        self.inner
            .as_mut()
            .ok_or_else(|| ToksmithError::new_err("this Counter was consumed by training"))
    }

    /// Spill a sorted run if the counts passed the memory budget.
    fn check_spill(&mut self, py: Python<'_>) -> PyResult<()> {
        let threads = self.threads;
        let (Some(c), Some(sp)) = (self.inner.as_mut(), self.spill.as_mut()) else {
            return Ok(());
        };
        py.allow_threads(|| with_threads(threads, || sp.check(c)))?
            .map_err(table_err)?;
        Ok(())
    }

    /// Stream all counts (spilled runs and memory), sorted, into `sink`.
    fn with_sorted(&mut self, py: Python<'_>, sink: &mut TableSink) -> PyResult<TableMeta> {
        let threads = self.threads;
        let c = self
            .inner
            .as_mut()
            .ok_or_else(|| ToksmithError::new_err("this Counter was consumed by training"))?;
        let sp = self.spill.as_mut();
        py.allow_threads(|| {
            with_threads(threads, || match sp {
                Some(sp) => sp.merge_all(c, sink),
                None => {
                    c.flush_pending();
                    let mut meta = TableMeta::of_counter(c);
                    for (k, v) in c.sorted_counts() {
                        sink(k.as_bytes(), v)?;
                        meta.entries += 1;
                        meta.total += v;
                    }
                    Ok(meta)
                }
            })
        })?
        .map_err(table_err)
    }
}

/// Receives sorted (chunk, count) entries.
type TableSink<'s> = dyn FnMut(&[u8], u64) -> Result<(), TableError> + Send + 's;

/// A count table given as `bytes` or as a path.
enum TableSource {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

impl<'py> FromPyObject<'py> for TableSource {
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(b) = ob.downcast::<PyBytes>() {
            return Ok(TableSource::Bytes(b.as_bytes().to_vec()));
        }
        Ok(TableSource::Path(ob.extract::<PathBuf>()?))
    }
}

type DynReader<'a> = TableReader<Box<dyn std::io::BufRead + Send + 'a>>;

/// Open table sources, naming each error after `names[i]` (or the path, or "table #i").
fn open_sources<'a>(
    sources: &'a [TableSource],
    names: &Option<Vec<String>>,
) -> Result<Vec<DynReader<'a>>, TableError> {
    let mut out = Vec::with_capacity(sources.len());
    for (i, s) in sources.iter().enumerate() {
        let name = source_name(sources, names, i);
        let r: Box<dyn std::io::BufRead + Send> = match s {
            TableSource::Bytes(b) => Box::new(b.as_slice()),
            TableSource::Path(p) => {
                let f = std::fs::File::open(p).map_err(|e| TableError::Io(e).named(&name))?;
                Box::new(std::io::BufReader::with_capacity(1 << 16, f))
            }
        };
        out.push(TableReader::new(r).map_err(|e| e.named(&name))?);
    }
    count_table::check_specs(out.iter().map(|r| r.spec()))?;
    Ok(out)
}

fn source_name(sources: &[TableSource], names: &Option<Vec<String>>, i: usize) -> String {
    if let Some(n) = names.as_ref().and_then(|n| n.get(i)) {
        return n.clone();
    }
    match &sources[i] {
        TableSource::Path(p) => p.display().to_string(),
        TableSource::Bytes(_) => format!("count table #{i}"),
    }
}

/// Merge readers with errors named after their source.
fn merge_sources(
    readers: &mut [DynReader<'_>],
    sources: &[TableSource],
    names: &Option<Vec<String>>,
    mut sink: impl FnMut(&[u8], u64) -> Result<(), TableError>,
) -> Result<TableMeta, TableError> {
    struct Named<'r, 'a> {
        r: &'r mut DynReader<'a>,
        name: String,
    }
    impl count_table::SortedRun for Named<'_, '_> {
        fn advance(&mut self) -> Result<bool, TableError> {
            self.r.advance().map_err(|e| e.named(&self.name))
        }
        fn key(&self) -> &[u8] {
            self.r.key()
        }
        fn count(&self) -> u64 {
            self.r.count()
        }
        fn stats(&self) -> TableMeta {
            self.r.meta().unwrap_or_default()
        }
    }
    let mut runs: Vec<Box<dyn count_table::SortedRun + '_>> = readers
        .iter_mut()
        .enumerate()
        .map(|(i, r)| {
            Box::new(Named {
                r,
                name: source_name(sources, names, i),
            }) as Box<dyn count_table::SortedRun>
        })
        .collect();
    count_table::merge_runs(&mut runs, &mut sink)
}

/// Merge count tables (bytes or paths) into one Counter (what the merge loop trains on). Chunks whose summed
/// count is below `prune_below` are dropped (`Counter.pruned_chunks` says how many): exact only for
/// `prune_below <= 1` (see docs/DISTRIBUTED.md). Every table's checksum is verified; `names` name the tables in
/// errors.
#[pyfunction]
#[pyo3(signature = (sources, names=None, threads=None, prune_below=0))]
fn merge_tables(
    py: Python<'_>,
    sources: Vec<TableSource>,
    names: Option<Vec<String>>,
    threads: Option<usize>,
    prune_below: u64,
) -> PyResult<Counter> {
    if sources.is_empty() {
        return Err(CorpusError::new_err("no count tables to merge"));
    }
    let (counter, pruned) = py
        .allow_threads(|| {
            let mut readers = open_sources(&sources, &names)?;
            let spec = readers[0].spec().to_string();
            let pt = CorePretok::from_spec(&spec)
                .map_err(|e| TableError::Corrupt(format!("pre-tokenizer {spec:?}: {e}")))?;
            let mut counts = toksmith_core::count::Counts::default();
            let mut pruned = 0u64;
            let meta = merge_sources(&mut readers, &sources, &names, |k, v| {
                if v < prune_below {
                    pruned += 1;
                    return Ok(());
                }
                let s = std::str::from_utf8(k)
                    .map_err(|_| TableError::Corrupt("chunk is not UTF-8".into()))?;
                counts.insert(s.into(), v);
                Ok(())
            })?;
            let mut c = with_threads(threads, || CoreCounter::new(pt))
                .map_err(|e| TableError::Corrupt(e.to_string()))?;
            c.add_counts(counts);
            c.bytes_seen = meta.bytes_seen;
            c.documents = meta.documents;
            c.invalid_sequences = meta.invalid_sequences;
            c.forced_cuts = meta.forced_cuts;
            Ok::<_, TableError>((c, pruned))
        })
        .map_err(table_err)?;
    Ok(Counter {
        inner: Some(counter),
        threads,
        spill: None,
        pruned,
    })
}

/// Merge count tables (bytes or paths) into one table, streaming (memory: the inputs and the output).
#[pyfunction]
#[pyo3(signature = (sources, names=None))]
fn merge_tables_to_bytes<'py>(
    py: Python<'py>,
    sources: Vec<TableSource>,
    names: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let out = py
        .allow_threads(|| {
            let mut readers = open_sources(&sources, &names)?;
            let spec = readers
                .first()
                .map(|r| r.spec().to_string())
                .unwrap_or_default();
            let mut w = count_table::TableWriter::new(Vec::new(), &spec)?;
            let meta = merge_sources(&mut readers, &sources, &names, |k, v| w.push(k, v))?;
            Ok::<_, TableError>(w.finish(&meta)?.0)
        })
        .map_err(table_err)?;
    Ok(PyBytes::new(py, &out))
}

/// What a count table holds: pre-tokenizer spec, entries, total, bytes, documents... (reads it through,
/// verifying the checksum).
#[pyfunction]
fn table_info<'py>(py: Python<'py>, source: TableSource) -> PyResult<Bound<'py, PyDict>> {
    let sources = [source];
    let (spec, meta) = py
        .allow_threads(|| {
            let mut readers = open_sources(&sources, &None)?;
            let spec = readers[0].spec().to_string();
            let meta = merge_sources(&mut readers, &sources, &None, |_, _| Ok(()))?;
            Ok::<_, TableError>((spec, meta))
        })
        .map_err(table_err)?;
    let d = PyDict::new(py);
    d.set_item("pretokenizer", spec)?;
    d.set_item("entries", meta.entries)?;
    d.set_item("total", meta.total)?;
    d.set_item("bytes", meta.bytes_seen)?;
    d.set_item("documents", meta.documents)?;
    d.set_item("invalid_sequences", meta.invalid_sequences)?;
    d.set_item("forced_cuts", meta.forced_cuts)?;
    Ok(d)
}

#[pymethods]
impl Counter {
    /// `memory_budget` (bytes): when the count maps pass it, they are written as a sorted run to a private
    /// folder under `spill_dir` (default: the system temporary folder) and emptied; the runs are merged at
    /// the end. The counts are exactly those without a budget.
    #[new]
    #[pyo3(signature = (pretokenizer, threads=None, memory_budget=None, spill_dir=None))]
    fn new(
        pretokenizer: &str,
        threads: Option<usize>,
        memory_budget: Option<usize>,
        spill_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let pt = CorePretok::from_spec(pretokenizer).map_err(pretok_err)?;
        let inner = with_threads(threads, || CoreCounter::new(pt))?;
        let spill = match memory_budget {
            None => None,
            Some(b) => Some(Spill::new(b, spill_dir.as_deref()).map_err(table_err)?),
        };
        Ok(Counter {
            inner: Some(inner),
            threads,
            spill,
            pruned: 0,
        })
    }
    /// Count a plain, `.gz` or `.zst` text file as one stream.
    fn feed_file(&mut self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let threads = self.threads;
        if self.spill.is_some() {
            let (Some(c), Some(sp)) = (self.inner.as_mut(), self.spill.as_mut()) else {
                return Err(ToksmithError::new_err(
                    "this Counter was consumed by training",
                ));
            };
            return py
                .allow_threads(|| {
                    with_threads(threads, || {
                        count_table::feed_file_with(c, &path, &mut |c| sp.check(c).map(|_| ()))
                    })
                })?
                .map_err(table_err);
        }
        let c = self.get()?;
        py.allow_threads(|| with_threads(threads, || c.feed_file(&path)))?
            .map_err(|e| CorpusError::new_err(e.to_string()))
    }
    /// Feed the next bytes of a stream (cut only where cutting cannot change the chunks).
    fn feed(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        py.allow_threads(|| with_threads(threads, || c.feed(data)))?;
        self.check_spill(py)
    }
    /// End the current stream.
    fn end_stream(&mut self, py: Python<'_>) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        py.allow_threads(|| with_threads(threads, || c.end_stream()))?;
        self.check_spill(py)
    }
    /// Count whole documents (each pre-tokenized on its own).
    fn add_documents(&mut self, py: Python<'_>, docs: Vec<String>) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        py.allow_threads(|| with_threads(threads, || c.add_documents(&refs)))?;
        self.check_spill(py)
    }
    /// Count documents given as bytes (invalid UTF-8 replaced by U+FFFD and counted).
    fn add_documents_bytes(&mut self, py: Python<'_>, docs: Vec<Vec<u8>>) -> PyResult<()> {
        let threads = self.threads;
        let c = self.get()?;
        let refs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
        py.allow_threads(|| with_threads(threads, || c.add_documents_bytes(&refs)))?;
        self.check_spill(py)
    }
    /// All counts as one sorted count table (`bytes`); the counter keeps its counts.
    #[allow(clippy::wrong_self_convention)]
    fn to_table_bytes<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let spec = self.get()?.pretok().spec();
        let mut w = count_table::TableWriter::new(Vec::new(), &spec).map_err(table_err)?;
        let meta = self.with_sorted(py, &mut |k, v| w.push(k, v))?;
        let (out, _) = w.finish(&meta).map_err(table_err)?;
        Ok(PyBytes::new(py, &out))
    }
    /// Write all counts as one sorted count table file (streaming from the spilled runs); returns its
    /// entries. The counter keeps its counts.
    fn write_table(&mut self, py: Python<'_>, path: PathBuf) -> PyResult<u64> {
        let spec = self.get()?.pretok().spec();
        let name = path.display().to_string();
        let f =
            std::fs::File::create(&path).map_err(|e| table_err(TableError::Io(e).named(&name)))?;
        let mut w =
            count_table::TableWriter::new(std::io::BufWriter::with_capacity(1 << 20, f), &spec)
                .map_err(table_err)?;
        let meta = self.with_sorted(py, &mut |k, v| w.push(k, v))?;
        w.finish(&meta).map_err(|e| table_err(e.named(&name)))?;
        Ok(meta.entries)
    }
    /// Write the in-memory counts as a sorted run now (needs a memory budget); returns the number of runs.
    fn spill(&mut self, py: Python<'_>) -> PyResult<usize> {
        let threads = self.threads;
        let (Some(c), Some(sp)) = (self.inner.as_mut(), self.spill.as_mut()) else {
            return Err(ToksmithError::new_err(
                "this Counter has no memory budget (or was consumed)",
            ));
        };
        py.allow_threads(|| with_threads(threads, || sp.spill(c)))?
            .map_err(table_err)?;
        Ok(sp.runs().len())
    }
    /// Chunks dropped by `merge_tables(prune_below=...)` (0 otherwise).
    #[getter]
    fn pruned_chunks(&self) -> u64 {
        self.pruned
    }
    /// The memory budget in bytes (None without one).
    #[getter]
    fn memory_budget(&self) -> Option<usize> {
        self.spill.as_ref().map(|s| s.budget())
    }
    /// Sorted runs spilled to disk so far.
    #[getter]
    fn spill_runs(&self) -> usize {
        self.spill.as_ref().map(|s| s.runs().len()).unwrap_or(0)
    }
    /// Bytes written to spilled runs so far.
    #[getter]
    fn spilled_bytes(&self) -> u64 {
        self.spill.as_ref().map(|s| s.run_bytes).unwrap_or(0)
    }
    /// Largest estimate of the in-memory count maps seen at a budget check (bytes).
    #[getter]
    fn peak_table_estimate(&self) -> usize {
        self.spill.as_ref().map(|s| s.peak_estimate).unwrap_or(0)
    }
    /// Estimated heap bytes of the in-memory count maps now.
    #[getter]
    fn table_bytes_estimate(&mut self) -> PyResult<usize> {
        Ok(self.get()?.count_maps_bytes())
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
    fn unique(&mut self, py: Python<'_>) -> PyResult<usize> {
        if self.spill.as_ref().is_some_and(|s| !s.runs().is_empty()) {
            let meta = self.with_sorted(py, &mut |_, _| Ok(()))?;
            return Ok(meta.entries as usize);
        }
        Ok(self.get()?.unique())
    }
    /// The counts as a dict {chunk: count} (for inspection and tests; large for big corpora).
    fn as_dict<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut items: Vec<(String, u64)> = Vec::new();
        self.with_sorted(py, &mut |k, v| {
            items.push((String::from_utf8_lossy(k).into_owned(), v));
            Ok(())
        })?;
        let d = PyDict::new(py);
        for (k, v) in items {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}

enum TrainingOrTable {
    Train(bpe::TrainError),
    Table(TableError),
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
    let spill = counter.spill.take();
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
            let chunks = match spill {
                None => c.into_chunks(),
                // Under a memory budget: merge the sorted runs straight into the trainer's input.
                Some(sp) => match sp.into_chunks(c) {
                    Ok(v) => v,
                    Err(e) => return Err(TrainingOrTable::Table(e)),
                },
            };
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
            bpe::train(&chunks, pretok, &cfg, None, &mut cb).map_err(TrainingOrTable::Train)
        })
    })?;
    if let Some(e) = py_err.lock().unwrap().take() {
        return Err(e);
    }
    let model = result.map_err(|e| match e {
        TrainingOrTable::Train(e) => TrainingError::new_err(e.to_string()),
        TrainingOrTable::Table(e) => table_err(e),
    })?;
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
        self.byte_level_only("a tiktoken file")?;
        formats::write_atomic(&path, tiktoken::write(self.enc.model()).as_bytes()).map_err(fmt_err)
    }
    /// GPT-2 style `vocab.json` text.
    fn vocab_json(&self) -> PyResult<String> {
        self.byte_level_only("vocab.json")?;
        Ok(merges_txt::vocab_json(self.enc.model()))
    }
    /// GPT-2 style `merges.txt` text.
    fn merges_txt(&self) -> PyResult<String> {
        self.byte_level_only("merges.txt")?;
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

/// A WordPiece (BERT) `tokenizer.json` for counting: `BertNormalizer` + `BertPreTokenizer` + WordPiece.
#[pyclass(module = "toksmith._core", frozen)]
struct WordPiece {
    inner: toksmith_core::wordpiece::WordPiece,
}

#[pymethods]
impl WordPiece {
    #[staticmethod]
    fn from_str(json_text: &str) -> PyResult<Self> {
        Ok(WordPiece {
            inner: toksmith_core::wordpiece::WordPiece::from_json(json_text.as_bytes(), "<str>")
                .map_err(fmt_err)?,
        })
    }
    fn normalize(&self, text: &str) -> String {
        self.inner.normalize(text)
    }
    fn encode(&self, py: Python<'_>, text: &str) -> Vec<u32> {
        let inner = &self.inner;
        py.allow_threads(|| inner.encode(text))
    }
    #[pyo3(signature = (texts, threads=None))]
    fn encode_batch(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        threads: Option<usize>,
    ) -> PyResult<Vec<Vec<u32>>> {
        let inner = &self.inner;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        py.allow_threads(|| with_threads(threads, || inner.encode_batch(&refs)))
    }
    /// Token counts of many texts, in parallel (no special tokens added).
    #[pyo3(signature = (texts, threads=None))]
    fn count_batch(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        threads: Option<usize>,
    ) -> PyResult<Vec<usize>> {
        let inner = &self.inner;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        py.allow_threads(|| with_threads(threads, || inner.count_batch(&refs)))
    }
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    #[getter]
    fn added_tokens(&self) -> Vec<String> {
        self.inner.added.clone()
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Pretokenizer>()?;
    m.add_class::<Counter>()?;
    m.add_class::<Tokenizer>()?;
    m.add_class::<WordPiece>()?;
    m.add_function(wrap_pyfunction!(train_bpe, m)?)?;
    m.add_function(wrap_pyfunction!(train_ext::train_superbpe, m)?)?;
    m.add_function(wrap_pyfunction!(train_ext::train_objective, m)?)?;
    m.add_function(wrap_pyfunction!(train_ext::lz_compressed_size, m)?)?;
    m.add_function(wrap_pyfunction!(merge_tables, m)?)?;
    m.add_function(wrap_pyfunction!(merge_tables_to_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(table_info, m)?)?;
    bytelm::register(m)?;
    morph::register(m)?;
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
