//! Bindings of the byte-level covering structure (`toksmith_core::bytelm`). Errors become
//! `toksmith.errors.BytelmError`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};
use toksmith_core::bytelm::{ByteCover as CoreCover, BytelmError, CoverConfig};

fn bytelm_err(py: Python<'_>, e: BytelmError) -> PyErr {
    let msg = e.to_string();
    match py
        .import("toksmith.errors")
        .and_then(|m| m.getattr("BytelmError"))
        .and_then(|c| c.downcast_into::<PyType>().map_err(PyErr::from))
    {
        Ok(t) => PyErr::from_type(t, msg),
        Err(_) => crate::ToksmithError::new_err(msg),
    }
}

/// The exact valid-covering structure of a byte prefix for one tokenizer (see `toksmith.bytelm`).
#[pyclass(module = "toksmith._core", unsendable)]
pub struct ByteCover {
    inner: CoreCover,
}

#[pymethods]
impl ByteCover {
    #[new]
    #[pyo3(signature = (tokenizer, eos=None, canonical=true, beam=16, prune=0.0))]
    fn new(
        py: Python<'_>,
        tokenizer: &crate::Tokenizer,
        eos: Option<u32>,
        canonical: bool,
        beam: usize,
        prune: f64,
    ) -> PyResult<Self> {
        let cfg = CoverConfig {
            eos,
            canonical,
            beam,
            prune,
        };
        let enc = tokenizer.enc.clone();
        let inner = py
            .allow_threads(|| CoreCover::new(enc, cfg))
            .map_err(|e| bytelm_err(py, e))?;
        Ok(ByteCover { inner })
    }
    /// Forget the text (the root state then waits for its distribution). `tail`: the text continues a stable
    /// head given to the model as fixed tokens (see `stable_start`).
    #[pyo3(signature = (tail=false))]
    fn reset(&mut self, tail: bool) {
        if tail {
            self.inner.reset_tail()
        } else {
            self.inner.reset()
        }
    }
    /// Bytes every token sequence spells before the text (SentencePiece's dummy-prefix space, else empty):
    /// push them first.
    #[getter]
    fn stream_prefix<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.stream_prefix())
    }
    /// Token ids of a byte stream (the stream prefix included; no dummy prefix is added).
    fn encode_stream(&mut self, stream: &str) -> Vec<u32> {
        self.inner.encode_stream(stream)
    }
    /// Live states waiting for a next-token distribution.
    fn pending(&self) -> Vec<u32> {
        self.inner.pending()
    }
    /// Token sequence of a state.
    fn tokens(&self, sid: u32) -> Vec<u32> {
        self.inner.tokens(sid)
    }
    fn parent(&self, sid: u32) -> Option<u32> {
        self.inner.parent(sid)
    }
    fn last_token(&self, sid: u32) -> Option<u32> {
        self.inner.last_token(sid)
    }
    /// Give a state its next-token probabilities: native-endian float64 values as bytes (numpy
    /// `probs.astype(np.float64).tobytes()`), indexed by token id; unnormalised is fine.
    fn provide(&mut self, py: Python<'_>, sid: u32, probs: &[u8]) -> PyResult<()> {
        if !probs.len().is_multiple_of(8) {
            return Err(bytelm_err(
                py,
                BytelmError::Unsupported("probabilities must be float64 bytes".into()),
            ));
        }
        self.inner
            .provide_bytes(sid, probs)
            .map_err(|e| bytelm_err(py, e))
    }
    /// P(next byte | text) for the 256 bytes, then end of text.
    fn next_byte(&mut self, py: Python<'_>) -> PyResult<Vec<f64>> {
        self.inner
            .next_byte()
            .map(|a| a.to_vec())
            .map_err(|e| bytelm_err(py, e))
    }
    /// Append a byte; returns log P(byte | text so far).
    fn push(&mut self, py: Python<'_>, byte: u8) -> PyResult<f64> {
        self.inner.push(byte).map_err(|e| bytelm_err(py, e))
    }
    /// Token ids that may follow a live state (its validity mask).
    fn valid_next(&mut self, sid: u32) -> Vec<u32> {
        self.inner.valid_next(sid)
    }
    /// Relative probability mass of a state.
    fn mass(&self, sid: u32) -> f64 {
        self.inner.mass(sid)
    }
    fn live(&self) -> Vec<u32> {
        self.inner.live().to_vec()
    }
    fn state_end(&self, sid: u32) -> usize {
        self.inner.state_end(sid)
    }
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.text())
    }
    /// log P(the text so far is a prefix).
    #[getter]
    fn log_prefix_prob(&self) -> f64 {
        self.inner.log_prefix_prob()
    }
    #[getter]
    fn n_live(&self) -> usize {
        self.inner.n_live()
    }
    /// Rows must have at least this many entries.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    /// The largest offset of the stream `text` before which the tokens are the same in every continuation (0
    /// when there is none): the last pre-token chunk start that stays one, or for SentencePiece-style models
    /// the end of the last character spelled by fallback bytes.
    fn stable_start(&self, text: &str) -> usize {
        self.inner.stable_start(text)
    }
    /// Work and time counters.
    fn stats<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.inner.stats;
        let d = PyDict::new(py);
        d.set_item("provided", s.provided)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("states", s.states)?;
        d.set_item("mask_seconds", s.mask_seconds)?;
        d.set_item("row_seconds", s.row_seconds)?;
        d.set_item("byte_seconds", s.byte_seconds)?;
        let (kb, ks, ns) = {
            let c = self.inner.chunk_ctx();
            (c.keys_built, c.key_seconds, c.n_signatures())
        };
        d.set_item("context_tables", kb)?;
        d.set_item("context_table_seconds", ks)?;
        d.set_item("token_signatures", ns)?;
        d.set_item("pair_lists", self.inner.validity().cached())?;
        d.set_item("monotone_merges", self.inner.validity().monotone)?;
        Ok(d)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ByteCover>()
}
