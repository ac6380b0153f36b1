"""Morphological segmenters (Rust core, `toksmith-core/src/morph/`): word → morphs.

* `MdlSegmenter.train(word_counts, ...)`: Morfessor-Baseline-style MDL segmentation (deterministic for a seed).
* `GoldSegmenter.load(path)`: SIGMORPHON 2022 gold segmentations (`word<TAB>morph @@morph ...`); only entries whose
  morphs join back to the word give boundaries, other words are not cut.
* `LexiconSegmenter.load(path)`: roots + affixes (JSON, TSV, or a folder with `turkish-tokenizer`'s
  `kokler.json`/`ekler.json`/`bpe_tokenler.json`); longest root, then a chain of affixes.
* `load_segmenter(spec, word_counts)`: by spec, `gold:FILE`, `mdl[:weight=1.0,dampening=ones,seed=0]`,
  `lexicon:FILE` (the specs of `toksmith train --algorithm morph --segmenter`).

Segmenters see words: maximal runs of letters and combining marks. The tokenizer trainer lower-cases each word
char by char before asking for its boundaries; gold and lexicon lookups lower-case too, `mdl` takes words as
trained. Bad input raises `MorphError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

from toksmith import _core
from toksmith.errors import MorphError

WordCounts = Union[Mapping[str, int], Iterable[str], Iterable[tuple[str, int]]]


def _pairs(word_counts: WordCounts | None) -> list[tuple[str, int]]:
    if word_counts is None:
        return []
    if isinstance(word_counts, Mapping):
        items = list(word_counts.items())
    else:
        items = [(w, 1) if isinstance(w, str) else (w[0], w[1]) for w in word_counts]
    out = []
    for w, c in items:
        if not isinstance(w, str) or int(c) < 0:
            raise MorphError(f"word counts must be (str, count >= 0) pairs, not {(w, c)!r}")
        out.append((w, int(c)))
    return out


class Segmenter:
    """A segmenter built in Rust. `segment(word)` → morphs; `boundaries(word)` → char offsets of the cuts."""

    def __init__(self, core: _core.Segmenter) -> None:
        self._core = core

    @property
    def kind(self) -> str:
        return self._core.kind

    @property
    def name(self) -> str:
        return self._core.name

    def segment(self, word: str) -> list[str]:
        return self._core.segment(word)

    def boundaries(self, word: str) -> list[int]:
        return self._core.boundaries(word)

    def segment_many(self, words: Sequence[str], threads: int | None = None) -> list[list[str]]:
        """`segment` for many words, in parallel in Rust."""
        return self._core.segment_many(list(words), threads)

    def chunk_boundaries(self, chunk: str) -> list[int]:
        """Byte offsets of the morph boundaries inside a pre-tokenized chunk (what the trainer uses)."""
        return self._core.chunk_boundaries(chunk)

    def info(self) -> dict:
        return dict(self._core.info())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class MdlSegmenter(Segmenter):
    """Morfessor-Baseline-style MDL segmentation (cost in nats: lexicon + corpus, as Morfessor 2.0)."""

    @classmethod
    def train(
        cls,
        word_counts: WordCounts,
        *,
        corpus_weight: float = 1.0,
        dampening: str = "ones",
        seed: int = 0,
        finish_threshold: float = 0.005,
        max_epochs: int = 100,
    ) -> MdlSegmenter:
        """Learn from `word_counts` (a dict word → count, (word, count) pairs, or words, each counted once).
        `dampening`: `ones` (each word type once, Morfessor's command-line default), `log` or `none`."""
        return cls(_core.train_mdl(_pairs(word_counts), corpus_weight, dampening, seed, finish_threshold, max_epochs))

    def cost(self) -> float:
        return self._core.cost()

    def morphs(self) -> list[tuple[str, int]]:
        return self._core.morphs()

    def viterbi(self, word: str) -> list[str]:
        """Viterbi segmentation over the learned morphs (what words unseen in training get)."""
        return self._core.viterbi(word)


class GoldSegmenter(Segmenter):
    @classmethod
    def load(cls, path: str | os.PathLike) -> GoldSegmenter:
        return cls(_core.load_segmenter(f"gold:{os.fspath(path)}"))


class LexiconSegmenter(Segmenter):
    @classmethod
    def load(cls, path: str | os.PathLike) -> LexiconSegmenter:
        return cls(_core.load_segmenter(f"lexicon:{os.fspath(path)}"))

    def entries(self) -> tuple[list[str], list[tuple[str, str]], list[str]]:
        """(roots, (affix, allomorph class), extra units), sorted."""
        return self._core.lexicon_entries()


_CLASSES = {"mdl": MdlSegmenter, "gold": GoldSegmenter, "lexicon": LexiconSegmenter}


def load_segmenter(spec: str, word_counts: WordCounts | None = None) -> Segmenter:
    """A segmenter by spec: `gold:FILE`, `mdl[:KEY=VALUE,...]` (learned from `word_counts`), `lexicon:FILE`."""
    core = _core.load_segmenter(spec, _pairs(word_counts))
    return _CLASSES[core.kind](core)


def mdl_cost(
    segmentations: Iterable[tuple[str, int, Sequence[str]]], corpus_weight: float = 1.0
) -> tuple[float, float]:
    """(lexicon cost, corpus cost) in nats of the given (word, count, morphs), without training."""
    return _core.mdl_cost([(w, int(c), list(m)) for w, c, m in segmentations], corpus_weight)


__all__ = [
    "GoldSegmenter",
    "LexiconSegmenter",
    "MdlSegmenter",
    "MorphError",
    "Segmenter",
    "load_segmenter",
    "mdl_cost",
]
