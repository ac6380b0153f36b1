"""Training API: count chunks (streaming, parallel, in Rust), then learn BPE merges."""

from __future__ import annotations

import os
import resource
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toksmith import _core
from toksmith.corpora import expand_inputs, feed_counter, feed_dataset, resolve
from toksmith.errors import CorpusError, TrainingError
from toksmith.tokenizer import Tokenizer

# progress(phase, done, total): phase is "count" (bytes) or "merge" (merges); return False to cancel merging.
ProgressFn = Callable[[str, int, int], object]


@dataclass
class TrainStats:
    files: int = 0
    documents: int = 0
    bytes: int = 0
    unique_chunks: int = 0
    invalid_utf8_sequences: int = 0
    forced_cuts: int = 0
    seconds_count: float = 0.0
    seconds_merge: float = 0.0
    vocab_size: int = 0
    merges: int = 0
    peak_rss_mb: float = 0.0
    stopped_early: str | None = None
    inputs: list[str] = field(default_factory=list)
    algorithm: str = "bpe"
    # superbpe / objectives: transition, stage sizes and timings, objective details (see `train_ext`).
    details: dict = field(default_factory=dict)
    engine: str = "local"
    shards: int = 0  # engine="ray": counting tasks
    workers: int = 0  # engine="ray": CPUs in the cluster
    spill_runs: int = 0  # sorted runs written under a memory budget (local counter)

    def to_dict(self) -> dict:
        return asdict(self)


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def _file_sizes(files: Sequence[Path]) -> int:
    total = 0
    for f in files:
        try:
            total += f.stat().st_size
        except OSError:
            pass
    return total


SMALL_FILE = 1 << 20
SMALL_BATCH = 64 << 20


def _is_plain(p: Path) -> bool:
    suffixes = [x.lower() for x in p.suffixes]
    return not any(x in (".gz", ".zst", ".zstd", ".xz", ".lzma", ".jsonl", ".parquet") for x in suffixes)


def _feed_small(counter: _core.Counter, files: list[Path], tick: Callable[[int], None]) -> None:
    datas = []
    for f in files:
        try:
            datas.append(f.read_bytes())
        except OSError as e:
            raise CorpusError(f"cannot read {f}: {e}") from None
    counter.add_documents_bytes(datas)
    tick(sum(len(d) for d in datas))


def _input_files(
    inputs: Sequence[str | os.PathLike] | None, corpus: str | None, texts: object, dataset: object, st: TrainStats
) -> list[Path]:
    """The files to count (inputs, then the named corpus), recorded in `st`; CorpusError when nothing is given."""
    files: list[Path] = []
    if inputs:
        files += expand_inputs(inputs)
        st.inputs += [str(i) for i in inputs]
    if corpus:
        files += resolve(corpus)
        st.inputs.append(f"corpus:{corpus}")
    if not files and texts is None and dataset is None:
        raise CorpusError("no input: give files, texts, a corpus name or a dataset")
    return files


def count(
    inputs: Sequence[str | os.PathLike] | None = None,
    *,
    texts: Iterable[str] | None = None,
    corpus: str | None = None,
    dataset: str | None = None,
    dataset_config: str | None = None,
    split: str = "train",
    text_field: str = "text",
    pretokenizer: str = "cl100k",
    threads: int | None = None,
    progress: ProgressFn | None = None,
    stats: TrainStats | None = None,
    engine: str = "local",
    address: str | None = None,
    memory_budget: int | str | None = None,
) -> _core.Counter:
    """Count pre-tokenized chunks of a corpus. Inputs: files/globs/folders, in-memory `texts` (documents),
    a named `corpus`, or a `datasets` `dataset`. Returns the Rust counter.

    `engine="ray"` counts shards as Ray tasks on the cluster at `address` (see `toksmith.distributed`);
    `memory_budget` (bytes or "4GB") bounds each counter's count maps by spilling sorted runs to disk. Neither
    changes the counts."""
    from toksmith.distributed import parse_size

    budget = parse_size(memory_budget)
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r} (known: local, ray)")
    if engine == "ray":
        return _count_ray(
            inputs, texts, corpus, dataset, dataset_config, split, text_field, pretokenizer, threads, progress,
            stats, address, budget,
        )  # fmt: skip
    counter = _core.Counter(pretokenizer, threads, budget)
    st = stats if stats is not None else TrainStats()
    files = _input_files(inputs, corpus, texts, dataset, st)
    total = _file_sizes(files)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("count", done, max(total, done))

    small: list[Path] = []
    small_bytes = 0
    for f in files:
        size = f.stat().st_size if f.exists() else 0
        if size <= SMALL_FILE and _is_plain(f):
            # Many small files: read a batch and count them in parallel, each file one document.
            small.append(f)
            small_bytes += size
            if small_bytes >= SMALL_BATCH:
                _feed_small(counter, small, tick)
                small, small_bytes = [], 0
        else:
            feed_counter(counter, f, text_field=text_field, progress=tick)
    if small:
        _feed_small(counter, small, tick)
    if texts is not None:
        batch: list[str] = []
        for t in texts:
            batch.append(t)
            if len(batch) >= 4096:
                counter.add_documents(batch)
                tick(sum(len(x) for x in batch))
                batch = []
        if batch:
            counter.add_documents(batch)
            tick(sum(len(x) for x in batch))
        st.inputs.append("<texts>")
    if dataset is not None:
        feed_dataset(counter, dataset, dataset_config, split, text_field, progress=tick)
        st.inputs.append(f"dataset:{dataset}")
    st.files += len(files)
    st.documents = counter.documents
    st.bytes = counter.bytes_seen
    st.unique_chunks = counter.unique
    st.invalid_utf8_sequences = counter.invalid_sequences
    st.forced_cuts = counter.forced_cuts
    st.spill_runs = counter.spill_runs
    return counter


def _count_ray(
    inputs: Sequence[str | os.PathLike] | None,
    texts: Iterable[str] | None,
    corpus: str | None,
    dataset: str | None,
    dataset_config: str | None,
    split: str,
    text_field: str,
    pretokenizer: str,
    threads: int | None,
    progress: ProgressFn | None,
    stats: TrainStats | None,
    address: str | None,
    budget: int | None,
) -> _core.Counter:
    from toksmith.distributed import count_ray

    st = stats if stats is not None else TrainStats()
    files = _input_files(inputs, corpus, texts, dataset, st)
    res = count_ray(
        files,
        texts=texts,
        dataset=dataset,
        dataset_config=dataset_config,
        split=split,
        text_field=text_field,
        pretokenizer=pretokenizer,
        threads=threads,
        address=address,
        memory_budget=budget,
        progress=progress,
    )
    if texts is not None:
        st.inputs.append("<texts>")
    if dataset is not None:
        st.inputs.append(f"dataset:{dataset}")
    counter = res.counter
    st.engine = "ray"
    st.shards = res.shards
    st.workers = res.workers
    st.files += len(files)
    # A file cut into byte ranges is still one document.
    st.documents = counter.documents - res.extra_documents
    st.bytes = counter.bytes_seen
    st.unique_chunks = counter.unique
    st.invalid_utf8_sequences = counter.invalid_sequences
    st.forced_cuts = counter.forced_cuts
    st.spill_runs = sum(r["spill_runs"] for r in res.reports)
    return counter


def train(
    inputs: Sequence[str | os.PathLike] | None = None,
    *,
    texts: Iterable[str] | None = None,
    corpus: str | None = None,
    dataset: str | None = None,
    dataset_config: str | None = None,
    split: str = "train",
    text_field: str = "text",
    vocab_size: int = 32000,
    pretokenizer: str = "cl100k",
    min_frequency: int = 1,
    special_tokens: Sequence[str] = (),
    max_token_length: int | None = None,
    initial_merges: Sequence[tuple[bytes, bytes]] = (),
    threads: int | None = None,
    progress: ProgressFn | None = None,
    algorithm: str = "bpe",
    objective: str | None = None,
    transition: int | str | None = None,
    max_words: int | None = 4,
    stage2_pretokenizer: str | None = None,
    stop_when_no_gain: bool = False,
    lz_candidates: int = 8,
    lz_codec: str = "zstd",
    lz_sample: str | None = None,
    lz_sample_bytes: int = 1 << 17,
    engine: str = "local",
    address: str | None = None,
    memory_budget: int | str | None = None,
    segmenter: object = None,
    boundary_penalty: float = 0.0,
    uppercase: bool | str = False,
    segment_at_encode: bool = False,
    whitespace_tokens: bool = False,
    allomorphs: str | os.PathLike | None = None,
) -> Tokenizer:
    """Train a byte-level BPE tokenizer. The result's `.stats` holds counts, timings and peak RSS.

    `vocab_size` counts special tokens and the 256 byte tokens. Training stops early (with a warning) only when
    no pair occurs `min_frequency` times any more (default 1: the requested size unless pairs run out).
    Ids: special tokens first, then bytes, then
    merges. The same inputs and options give the same tokenizer for any `threads`.

    `algorithm`: `bpe` (default), `superbpe` (supertokens: stage 1 with `pretokenizer` up to `transition`
    tokens, None or "auto" to choose it from the data; stage 2 with `stage2_pretokenizer`, default `superword`,
    tokens of at most `max_words` words) or `compress` (BPE with `objective` `lz` by default). `objective`:
    `frequency`, `mdl` (order-0 code length + dictionary; `stop_when_no_gain` lets the data choose the size) or
    `lz` (compressed size of the token-id stream of a sample: `lz_sample` text, else `lz_sample_bytes` taken from
    the inputs; `lz_candidates` most frequent pairs re-scored per merge with `lz_codec`). See `toksmith.train_ext`.
    `engine="ray"` counts on a Ray cluster (`address`, $RAY_ADDRESS, or a private local instance) and trains on
    the driver; `memory_budget` (bytes or "4GB") bounds each counter by spilling sorted runs to disk. The
    tokenizer is byte-identical to `engine="local"` without a budget.
    `algorithm="morph"`: boundary-respecting BPE; `segmenter` is a spec (`gold:FILE`, `mdl`,
    `lexicon:FILE[,compound=N]`) or a `toksmith.morph.Segmenter`, and pair counts across its boundaries are
    multiplied by `boundary_penalty` (0: merges never cross a boundary, 1: plain BPE). See `toksmith.morph_train`.
    With `uppercase` (True or a case map, "unicode" or "turkish": a lossless `<uppercase>` marker instead of
    capitals) or `segment_at_encode` (the segmenter cuts words at encode time too) the result is a
    `toksmith.morph.MorphTokenizer`, saved in our own format. `whitespace_tokens` replaces the pre-tokenizer by
    one that makes each space/newline its own chunk.
    `allomorphs`: a JSON file `{"features": {NAME: CHARS}, "classes": {CLASS: {FEATURE: FORM}}}`; a token whose
    text is the form its class's rule picks after the preceding letters gets the shared class id (lossless).
    """
    specials = list(dict.fromkeys(special_tokens))
    if len(specials) != len(special_tokens):
        raise TrainingError("special tokens must be distinct")
    if vocab_size < 256 + len(specials):
        raise TrainingError(
            f"vocab_size {vocab_size} is too small: it must be at least 256 bytes + "
            f"{len(specials)} special tokens = {256 + len(specials)}"
        )
    if min_frequency < 1:
        raise TrainingError("min_frequency must be at least 1")
    if max_token_length is not None and max_token_length < 1:
        raise TrainingError("max_token_length must be at least 1")
    _core.Pretokenizer(pretokenizer)  # fail fast on an unknown spec (ValueError)
    from toksmith import train_ext

    obj, t = train_ext.check_options(
        algorithm, objective, vocab_size, len(specials), transition, max_words, lz_candidates, initial_merges
    )
    if algorithm != "morph" and (
        segmenter is not None or uppercase or segment_at_encode or whitespace_tokens or allomorphs is not None
    ):
        raise TrainingError(
            "segmenter, uppercase, segment_at_encode, whitespace_tokens and allomorphs need algorithm='morph'"
        )
    if whitespace_tokens:
        from toksmith.morph import WHITESPACE_TOKENS_PRETOKENIZER

        pretokenizer = WHITESPACE_TOKENS_PRETOKENIZER
    st = TrainStats()
    if (algorithm != "bpe" or obj != "frequency") and (engine != "local" or memory_budget is not None):
        raise TrainingError("engine='ray' and memory_budget work with algorithm='bpe' (frequency objective) only")
    if algorithm == "morph":
        from toksmith.morph_train import train_morph

        core, details = train_morph(
            count_fn=count,
            count_kwargs=dict(
                inputs=inputs,
                corpus=corpus,
                dataset=dataset,
                dataset_config=dataset_config,
                split=split,
                text_field=text_field,
            ),
            texts=texts,
            segmenter=segmenter,
            boundary_penalty=boundary_penalty,
            vocab_size=vocab_size,
            pretokenizer=pretokenizer,
            min_frequency=min_frequency,
            specials=specials,
            max_token_length=max_token_length,
            threads=threads,
            progress=progress,
            stats=st,
            uppercase=uppercase,
            segment_at_encode=segment_at_encode,
            allomorphs=allomorphs,
        )
        st.algorithm = algorithm
        st.details = details
        if isinstance(core, _core.MorphTokenizer):
            from toksmith.morph import MorphTokenizer

            return _finish(MorphTokenizer(core), st, vocab_size, min_frequency, False)
        return _finish(Tokenizer(core), st, vocab_size, min_frequency, False)
    if algorithm != "bpe" or obj != "frequency":
        from toksmith.corpora import expand_inputs, resolve

        sample_files = (expand_inputs(inputs) if inputs else []) + (resolve(corpus) if corpus else [])
        core, details = train_ext.train_extended(
            count_fn=count,
            count_kwargs=dict(
                inputs=inputs,
                corpus=corpus,
                dataset=dataset,
                dataset_config=dataset_config,
                split=split,
                text_field=text_field,
            ),
            files_for_sample=sample_files if obj == "lz" and lz_sample is None else [],
            texts=texts,
            algorithm=algorithm,
            objective=obj,
            transition=t,
            vocab_size=vocab_size,
            pretokenizer=pretokenizer,
            stage2_pretokenizer=stage2_pretokenizer,
            max_words=max_words,
            min_frequency=min_frequency,
            specials=specials,
            max_token_length=max_token_length,
            stop_when_no_gain=stop_when_no_gain,
            lz_candidates=lz_candidates,
            lz_codec=lz_codec,
            lz_sample=lz_sample,
            lz_sample_bytes=lz_sample_bytes,
            threads=threads,
            progress=progress,
            stats=st,
        )
        st.algorithm = algorithm
        st.details = details
        return _finish(Tokenizer(core), st, vocab_size, min_frequency, stop_when_no_gain and obj == "mdl")
    t0 = time.perf_counter()
    counter = count(
        inputs,
        texts=texts,
        corpus=corpus,
        dataset=dataset,
        dataset_config=dataset_config,
        split=split,
        text_field=text_field,
        pretokenizer=pretokenizer,
        threads=threads,
        progress=progress,
        stats=st,
        engine=engine,
        address=address,
        memory_budget=memory_budget,
    )
    st.seconds_count = time.perf_counter() - t0
    if st.bytes == 0 or st.unique_chunks == 0:
        raise TrainingError("the corpus is empty: no text to learn from")
    t1 = time.perf_counter()

    def on_merge(done: int, total: int) -> object:
        return progress("merge", done, total) if progress else True

    core = _core.train_bpe(
        counter,
        vocab_size,
        min_frequency,
        specials,
        max_token_length,
        [(bytes(a), bytes(b)) for a, b in initial_merges],
        threads,
        on_merge if progress else None,
    )
    st.seconds_merge = time.perf_counter() - t1
    return _finish(Tokenizer(core), st, vocab_size, min_frequency, False)


def _finish(tok: Tokenizer, st: TrainStats, vocab_size: int, min_frequency: int, by_objective: bool) -> Tokenizer:
    st.vocab_size = tok.vocab_size
    if tok.vocab_size < vocab_size and by_objective:
        st.stopped_early = f"vocabulary has {tok.vocab_size} tokens: no merge shortens the description any more"
    elif tok.vocab_size < vocab_size:
        st.stopped_early = (
            f"vocabulary has {tok.vocab_size} tokens, not {vocab_size}: no pair occurs at least "
            f"{min_frequency} time(s) any more (a larger corpus or a smaller --min-frequency gives more)"
        )
        warnings.warn(st.stopped_early, stacklevel=3)
    st.merges = tok.n_merges
    st.peak_rss_mb = peak_rss_mb()
    tok.stats = st
    return tok
