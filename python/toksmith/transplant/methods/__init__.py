"""Initialisation methods for the rows of new tokens that the old vocabulary lacks.

Each method is `init(ctx, ids, which) -> Tensor[len(ids), d]`: `which` is `input` (the input embeddings) or
`head` (an untied output head); `ctx` is the `Context` with both vocabularies, the anchors and the old rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toksmith.transplant.methods.baselines import init_mean, init_subword_mean, init_zero
from toksmith.transplant.methods.hybrid import init_hybrid
from toksmith.transplant.methods.omp import init_omp

METHODS: dict[str, Callable[..., Any]] = {
    "omp": init_omp,
    "hybrid": init_hybrid,
    "subword-mean": init_subword_mean,
    "mean": init_mean,
    "zero": init_zero,
}

__all__ = ["METHODS", "init_hybrid", "init_mean", "init_omp", "init_subword_mean", "init_zero"]
