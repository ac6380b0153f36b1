"""Trainers beyond plain BPE, behind `toksmith.train(algorithm=..., objective=...)`.

* ``superbpe``: supertokens (SuperBPE, Liu et al. 2025). Stage 1 is plain BPE with ``pretokenizer`` up to the
  ``transition`` vocabulary size; stage 2 goes on from those merges with ``stage2_pretokenizer`` (``superword``:
  chunks that hold several words) up to ``vocab_size``, each token spanning at most ``max_words`` words. The corpus
  is read once (counted with the stage-2 pre-tokenizer). ``transition=None`` chooses it from the data.
* ``compress`` (or ``bpe`` with an ``objective``): byte-level BPE whose merges are chosen by ``frequency``,
  ``mdl`` (order-0 code length + dictionary) or ``lz`` (compressed size of a sample's token-id stream).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from toksmith import _core
from toksmith.errors import TrainingError

ALGORITHMS = ("bpe", "superbpe", "compress", "morph")
OBJECTIVES = ("frequency", "mdl", "lz")
LZ_SAMPLE_BYTES = 1 << 17


def check_options(
    algorithm: str,
    objective: str | None,
    vocab_size: int,
    n_specials: int,
    transition: int | str | None,
    max_words: int | None,
    lz_candidates: int,
    initial_merges: Sequence[Any],
) -> tuple[str, int | None]:
    """Validate the extended options; returns (objective name, transition or None for auto)."""
    if algorithm not in ALGORITHMS:
        raise TrainingError(f"unknown algorithm '{algorithm}' (known: {', '.join(ALGORITHMS)})")
    obj = objective or ("lz" if algorithm == "compress" else "frequency")
    if obj not in OBJECTIVES:
        raise TrainingError(f"unknown objective '{obj}' (known: {', '.join(OBJECTIVES)})")
    if lz_candidates < 1:
        raise TrainingError("lz_candidates must be at least 1")
    if algorithm == "morph" and obj != "frequency":
        raise TrainingError("algorithm='morph' uses the frequency objective only")
    t: int | None = None
    if algorithm == "superbpe":
        if isinstance(transition, str):
            if transition.strip().lower() != "auto":
                try:
                    transition = int(transition)
                except ValueError:
                    raise TrainingError(f"transition must be a vocabulary size or 'auto', not {transition!r}") from None
            else:
                transition = None
        if transition is not None:
            t = int(transition)
            if t >= vocab_size:
                raise TrainingError(f"transition {t} must be smaller than vocab_size {vocab_size}")
            if t < 256 + n_specials:
                raise TrainingError(
                    f"transition {t} is too small: it must be at least 256 bytes + {n_specials} special tokens"
                )
        if vocab_size < 257 + n_specials:
            raise TrainingError(f"vocab_size {vocab_size} is too small for supertokens")
        if max_words is not None and max_words < 1:
            raise TrainingError("max_words must be at least 1")
    elif transition is not None:
        raise TrainingError("transition applies to algorithm='superbpe' only")
    if algorithm != "bpe" and len(initial_merges):
        raise TrainingError(f"initial_merges is not supported with algorithm='{algorithm}'")
    return obj, t


def stage2_spec(pretokenizer: str, stage2_pretokenizer: str | None) -> str:
    """The stage-2 pre-tokenizer: given, or superword (keeping a `digits+` prefix of stage 1)."""
    if stage2_pretokenizer:
        return stage2_pretokenizer
    return "digits+superword" if pretokenizer.startswith("digits+") else "superword"


def _head(p: Path, n: int) -> str:
    from toksmith.corpora.loaders import _open_binary, _suffixes

    fmt, _ = _suffixes(p)
    if fmt in (".jsonl", ".parquet"):
        from toksmith.corpora import iter_documents

        out: list[str] = []
        got = 0
        for d in iter_documents(p):
            out.append(d[: n - got])
            got += len(out[-1])
            if got >= n:
                break
        return "\n".join(out)
    with _open_binary(p) as f:
        data = f.read(64 << 20)
    if len(data) <= n:
        return data.decode("utf-8", errors="replace")
    # Eight evenly spaced slices, cut at line ends when there is one near, else at a character boundary.
    k = 8
    step, want = len(data) // k, max(1, n // k)

    def cut(pos: int) -> int:
        nl = data.find(b"\n", pos, pos + 4096)
        if nl >= 0:
            return nl + 1
        pos = min(pos, len(data))
        while 0 < pos < len(data) and data[pos] & 0xC0 == 0x80:
            pos -= 1
        return pos

    parts = []
    for i in range(k):
        s = 0 if i == 0 else cut(i * step)
        e = cut(s + want)
        parts.append(data[s:e].decode("utf-8", errors="replace"))
    return "".join(parts)


def sample_text(files: Sequence[Path], n: int) -> str:
    """About `n` bytes of text spread over the input files (for the lz objective)."""
    files = list(files)[:32]
    if not files:
        return ""
    per = max(1, n // len(files))
    return "".join(_head(f, per) for f in files)


class _Tee:
    """Pass documents through, keeping the first `n` characters for a sample."""

    def __init__(self, it: Iterable[str], n: int) -> None:
        self.it, self.n, self.kept = it, n, []  # type: ignore[var-annotated]
        self.got = 0

    def __iter__(self) -> Iterator[str]:
        for d in self.it:
            if self.got < self.n:
                self.kept.append(d[: self.n - self.got])
                self.got += len(self.kept[-1])
            yield d


def train_extended(
    *,
    count_fn: Any,
    count_kwargs: dict,
    files_for_sample: Sequence[Path],
    texts: Iterable[str] | None,
    algorithm: str,
    objective: str,
    transition: int | None,
    vocab_size: int,
    pretokenizer: str,
    stage2_pretokenizer: str | None,
    max_words: int | None,
    min_frequency: int,
    specials: list[str],
    max_token_length: int | None,
    stop_when_no_gain: bool,
    lz_candidates: int,
    lz_codec: str,
    lz_sample: str | None,
    lz_sample_bytes: int,
    threads: int | None,
    progress: Any,
    stats: Any,
) -> tuple[Any, dict]:
    """Count, then train with `_core.train_superbpe` or `_core.train_objective`. Returns (core tokenizer, report)."""
    spec2 = stage2_spec(pretokenizer, stage2_pretokenizer) if algorithm == "superbpe" else pretokenizer
    _core.Pretokenizer(spec2)  # ValueError on a bad spec, before reading anything
    tee = None
    if objective == "lz" and lz_sample is None and texts is not None:
        tee = _Tee(texts, lz_sample_bytes)
        texts = tee
    t0 = time.perf_counter()
    counter = count_fn(texts=texts, pretokenizer=spec2, threads=threads, progress=progress, stats=stats, **count_kwargs)
    stats.seconds_count = time.perf_counter() - t0
    if stats.bytes == 0 or stats.unique_chunks == 0:
        raise TrainingError("the corpus is empty: no text to learn from")
    if objective == "lz" and lz_sample is None:
        lz_sample = sample_text(files_for_sample, lz_sample_bytes)
        if tee is not None:
            lz_sample += "".join(tee.kept)
        if not lz_sample:
            raise TrainingError("the lz objective needs a sample of text: pass lz_sample=... (e.g. with a dataset)")

    def on_merge(done: int, total: int) -> object:
        return progress("merge", done, total) if progress else True

    t1 = time.perf_counter()
    if algorithm == "superbpe":
        core, rep = _core.train_superbpe(
            counter,
            pretokenizer,
            vocab_size,
            transition,
            max_words,
            min_frequency,
            specials,
            max_token_length,
            None if objective == "frequency" else objective,
            stop_when_no_gain,
            lz_candidates,
            lz_codec,
            lz_sample,
            threads,
            on_merge if progress else None,
        )
    else:
        core, rep = _core.train_objective(
            counter,
            vocab_size,
            objective,
            min_frequency,
            specials,
            max_token_length,
            stop_when_no_gain,
            lz_candidates,
            lz_codec,
            lz_sample,
            threads,
            on_merge if progress else None,
        )
    stats.seconds_merge = time.perf_counter() - t1
    rep = dict(rep)
    rep["algorithm"] = algorithm
    rep["objective"] = objective
    if algorithm == "superbpe":
        rep["stage2_pretokenizer"] = spec2
        rep["max_words"] = max_words
    if objective == "lz":
        rep["lz_sample_bytes"] = len(lz_sample.encode("utf-8")) if lz_sample else 0
    return core, rep


__all__ = ["ALGORITHMS", "OBJECTIVES", "check_options", "sample_text", "stage2_spec", "train_extended"]
