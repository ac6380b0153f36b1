//! Bindings of the trainers beyond plain BPE: supertokens (`train_superbpe`) and BPE with a pluggable merge
//! objective (`train_objective`). Conversions and GIL handling only.

use crate::{with_threads, Counter, Tokenizer, ToksmithError, TrainingError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Arc, Mutex};
use toksmith_core::bpe::driver::ExtError;
use toksmith_core::bpe::objectives::{self, lz::Codec, ObjectiveConfig};
use toksmith_core::bpe::supertok::{self, SuperConfig, Transition};
use toksmith_core::bpe::TrainConfig;
use toksmith_core::encode::Encoder;
use toksmith_core::pretok::Pretokenizer as CorePretok;

fn ext_err(e: ExtError) -> PyErr {
    TrainingError::new_err(e.to_string())
}

#[allow(clippy::too_many_arguments)]
fn objective_config(
    name: &str,
    min_frequency: u64,
    stop_when_no_gain: bool,
    lz_candidates: usize,
    lz_codec: &str,
    lz_sample: Option<String>,
    vocab_size: usize,
) -> PyResult<ObjectiveConfig> {
    objectives::check_name(name).map_err(ext_err)?;
    let codec = Codec::parse(lz_codec).ok_or_else(|| {
        TrainingError::new_err(format!(
            "unknown lz codec '{lz_codec}' (known: zstd[:LEVEL], deflate[:LEVEL])"
        ))
    })?;
    Ok(ObjectiveConfig {
        name: name.to_string(),
        min_frequency,
        stop_when_no_gain,
        lz_candidates,
        lz_codec: codec,
        lz_sample,
        final_vocab_size: vocab_size,
    })
}

/// Calls `progress(done, total)` with the GIL; only an explicit False cancels. Python errors are kept.
pub(crate) fn progress_cb(
    progress: Option<PyObject>,
    err: Arc<Mutex<Option<PyErr>>>,
) -> impl FnMut(usize, usize) -> bool {
    move |done, total| match &progress {
        None => true,
        Some(f) => Python::with_gil(|py| match f.call1(py, (done, total)) {
            Ok(v) => !matches!(v.extract::<bool>(py), Ok(false)),
            Err(e) => {
                *err.lock().unwrap() = Some(e);
                false
            }
        }),
    }
}

pub(crate) fn take_counter(counter: &mut Counter) -> PyResult<toksmith_core::count::Counter> {
    counter
        .inner
        .take()
        .ok_or_else(|| ToksmithError::new_err("this Counter was consumed by training"))
}

/// Supertoken (SuperBPE) training from a Counter of stage-2 chunks (consumed). `transition` is the vocabulary
/// size after stage 1 (None: chosen from the data); `stage1_pretokenizer` splits each stage-2 chunk for stage 1.
/// Returns (Tokenizer, report dict).
#[pyfunction]
#[pyo3(signature = (counter, stage1_pretokenizer, vocab_size, transition=None, max_words=Some(4), min_frequency=2,
                    special_tokens=vec![], max_token_length=None, objective=None, stop_when_no_gain=false,
                    lz_candidates=8, lz_codec="zstd", lz_sample=None, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_superbpe<'py>(
    py: Python<'py>,
    counter: &mut Counter,
    stage1_pretokenizer: &str,
    vocab_size: usize,
    transition: Option<usize>,
    max_words: Option<usize>,
    min_frequency: u64,
    special_tokens: Vec<String>,
    max_token_length: Option<usize>,
    objective: Option<String>,
    stop_when_no_gain: bool,
    lz_candidates: usize,
    lz_codec: &str,
    lz_sample: Option<String>,
    threads: Option<usize>,
    progress: Option<PyObject>,
) -> PyResult<(Tokenizer, Bound<'py, PyDict>)> {
    let pretok1 = CorePretok::from_spec(stage1_pretokenizer)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    let objective = match objective.as_deref() {
        None | Some("frequency") => None,
        Some(name) => Some(objective_config(
            name,
            min_frequency,
            stop_when_no_gain,
            lz_candidates,
            lz_codec,
            lz_sample,
            vocab_size,
        )?),
    };
    let cfg = SuperConfig {
        vocab_size,
        transition: transition.map_or(Transition::Auto, Transition::Fixed),
        max_words,
        min_frequency,
        special_tokens,
        max_token_length,
        objective,
        ..Default::default()
    };
    let c = take_counter(counter)?;
    let pretok2 = c.pretok().clone();
    let py_err: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
    let mut cb = progress_cb(progress, py_err.clone());
    let result = py.allow_threads(move || {
        with_threads(threads, move || {
            let chunks = c.into_chunks();
            supertok::train(chunks, &pretok1, pretok2, &cfg, &mut cb)
        })
    })?;
    if let Some(e) = py_err.lock().unwrap().take() {
        return Err(e);
    }
    let (model, rep) = result.map_err(ext_err)?;
    let enc = Encoder::new(model).map_err(|e| TrainingError::new_err(e.to_string()))?;
    let d = PyDict::new(py);
    d.set_item("transition", rep.transition)?;
    d.set_item("auto_transition", rep.auto)?;
    d.set_item("stage1_merges", rep.stage1_merges)?;
    d.set_item("stage2_merges", rep.stage2_merges)?;
    d.set_item("stage1_chunks", rep.stage1_chunks)?;
    d.set_item("stage2_chunks", rep.stage2_chunks)?;
    d.set_item("stage2_words", rep.stage2_words)?;
    d.set_item("reencoded_chunks", rep.reencoded)?;
    d.set_item("refused_pairs", rep.refused)?;
    d.set_item("stage2_fragments", rep.stage2_fragments)?;
    d.set_item("stage2_cut_below", rep.theta)?;
    d.set_item("stage2_redone", rep.stage2_redone)?;
    d.set_item("auto_curve", rep.auto_curve)?;
    d.set_item("seconds_stage1", rep.seconds_stage1)?;
    d.set_item("seconds_encode", rep.seconds_encode)?;
    d.set_item("seconds_stage2", rep.seconds_stage2)?;
    d.set_item("stage1_merge_counts", rep.stage1_log.counts)?;
    Ok((Tokenizer { enc: Arc::new(enc) }, d))
}

/// Byte-level BPE whose merges are chosen by a named objective (`frequency`, `mdl`, `lz`), from a Counter
/// (consumed). Returns (Tokenizer, report dict).
#[pyfunction]
#[pyo3(signature = (counter, vocab_size, objective="frequency", min_frequency=2, special_tokens=vec![],
                    max_token_length=None, stop_when_no_gain=false, lz_candidates=8, lz_codec="zstd",
                    lz_sample=None, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_objective<'py>(
    py: Python<'py>,
    counter: &mut Counter,
    vocab_size: usize,
    objective: &str,
    min_frequency: u64,
    special_tokens: Vec<String>,
    max_token_length: Option<usize>,
    stop_when_no_gain: bool,
    lz_candidates: usize,
    lz_codec: &str,
    lz_sample: Option<String>,
    threads: Option<usize>,
    progress: Option<PyObject>,
) -> PyResult<(Tokenizer, Bound<'py, PyDict>)> {
    let obj = objective_config(
        objective,
        min_frequency,
        stop_when_no_gain,
        lz_candidates,
        lz_codec,
        lz_sample,
        vocab_size,
    )?;
    let cfg = TrainConfig {
        vocab_size,
        min_frequency,
        special_tokens,
        max_token_length,
        initial_merges: Vec::new(),
    };
    let c = take_counter(counter)?;
    let pretok = c.pretok().clone();
    let py_err: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
    let mut cb = progress_cb(progress, py_err.clone());
    let t0 = std::time::Instant::now();
    let result = py.allow_threads(move || {
        with_threads(threads, move || {
            let chunks = c.into_chunks();
            objectives::train(&chunks, pretok, &cfg, &obj, &mut cb)
        })
    })?;
    let secs = t0.elapsed().as_secs_f64();
    if let Some(e) = py_err.lock().unwrap().take() {
        return Err(e);
    }
    let (model, rep) = result.map_err(ext_err)?;
    let enc = Encoder::new(model).map_err(|e| TrainingError::new_err(e.to_string()))?;
    let d = PyDict::new(py);
    let merges = rep.log.counts.len();
    d.set_item("objective", objective)?;
    d.set_item("stopped_early", rep.stopped_early)?;
    d.set_item("merges", merges)?;
    d.set_item("refused_pairs", rep.log.refused)?;
    d.set_item("ms_per_merge", 1000.0 * secs / merges.max(1) as f64)?;
    d.set_item("merge_counts", rep.log.counts)?;
    Ok((Tokenizer { enc: Arc::new(enc) }, d))
}

/// Size of `data` compressed with an `lz` objective codec (`zstd[:LEVEL]`, `deflate[:LEVEL]`): the score the
/// objective minimises, for checking it from Python.
#[pyfunction]
pub(crate) fn lz_compressed_size(data: &[u8], codec: &str) -> PyResult<usize> {
    let c = Codec::parse(codec)
        .ok_or_else(|| TrainingError::new_err(format!("unknown lz codec '{codec}'")))?;
    Ok(c.size(data))
}
