"""`toksmith.train(algorithm="morph", segmenter=..., boundary_penalty=...)`: boundary-respecting BPE.

Words of each pre-tokenized chunk are cut by a segmenter (`toksmith.morph`); a pair of symbols across a cut counts
`boundary_penalty` times (0: merges never cross a cut in the training words; 1: plain BPE). The result is a plain
byte-level BPE: its tokenizer.json encodes the same in HF `tokenizers`.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from toksmith import _core
from toksmith.errors import MorphError, TrainingError
from toksmith.morph import Segmenter, load_segmenter


def check_penalty(p: float) -> float:
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise MorphError(f"boundary penalty must be a number between 0 and 1, not {p!r}") from None
    if not math.isfinite(p) or not 0.0 <= p <= 1.0:
        raise MorphError(
            f"boundary penalty must be between 0 (merges never cross a boundary) and 1 (plain BPE), not {p}"
        )
    return p


def resolve_segmenter(segmenter: str | Segmenter | None) -> Any:
    """What `_core.train_morph` takes: a core segmenter, or a spec learned from the corpus (`mdl[:...]`,
    `gold:FILE,unseen=LAM`)."""
    if segmenter is None:
        raise MorphError("algorithm='morph' needs a segmenter: gold:FILE, mdl or lexicon:FILE")
    if isinstance(segmenter, Segmenter):
        return segmenter._core
    if not isinstance(segmenter, str):
        raise MorphError(f"segmenter must be a spec string or a toksmith.morph.Segmenter, not {type(segmenter)}")
    if _core.segmenter_learns_from_corpus(segmenter):
        # `mdl[:...]`, `gold:FILE,unseen=LAM`: checked now, built by the core from the corpus's words after counting.
        _core.load_segmenter(segmenter, [("a", 1)])
        return segmenter
    return load_segmenter(segmenter)._core


def train_morph(
    *,
    count_fn: Any,
    count_kwargs: dict,
    texts: Any,
    segmenter: str | Segmenter | None,
    boundary_penalty: float,
    vocab_size: int,
    pretokenizer: str,
    min_frequency: int,
    specials: list[str],
    max_token_length: int | None,
    threads: int | None,
    progress: Any,
    stats: Any,
    uppercase: bool | str = False,
    segment_at_encode: bool = False,
    allomorphs: str | os.PathLike | None = None,
) -> tuple[Any, dict]:
    """Count, then `_core.train_morph`. Returns (core tokenizer, report): a `_core.Tokenizer`, or a
    `_core.MorphTokenizer` when `uppercase` (True: Unicode case map, or "unicode"/"turkish") or
    `segment_at_encode` or `allomorphs` (a JSON file of shared allomorph classes and their context rules) ask for
    our own format."""
    p = check_penalty(boundary_penalty)
    case_map = ("unicode" if uppercase is True else uppercase) or None
    if case_map is not None and case_map not in ("unicode", "turkish"):
        raise MorphError(f"unknown case map {case_map!r} for the uppercase marker (known: unicode, turkish)")
    seg = resolve_segmenter(segmenter)
    t0 = time.perf_counter()
    counter = count_fn(
        texts=texts, pretokenizer=pretokenizer, threads=threads, progress=progress, stats=stats, **count_kwargs
    )
    stats.seconds_count = time.perf_counter() - t0
    if stats.bytes == 0 or stats.unique_chunks == 0:
        raise TrainingError("the corpus is empty: no text to learn from")

    def on_merge(done: int, total: int) -> object:
        return progress("merge", done, total) if progress else True

    t1 = time.perf_counter()
    core, rep = _core.train_morph(
        counter,
        seg,
        vocab_size,
        p,
        min_frequency,
        specials,
        max_token_length,
        threads,
        on_merge if progress else None,
        case_map,
        segment_at_encode,
        None if allomorphs is None else os.fspath(allomorphs),
    )
    stats.seconds_merge = time.perf_counter() - t1
    rep = dict(rep)
    rep["algorithm"] = "morph"
    return core, rep


__all__ = ["check_penalty", "resolve_segmenter", "train_morph"]
