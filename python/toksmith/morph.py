"""Morphological segmenters (Rust core, `toksmith-core/src/morph/`): word → morphs.

* `MdlSegmenter.train(word_counts, ...)`: Morfessor-Baseline-style MDL segmentation (deterministic for a seed).
* `GoldSegmenter.load(path)`: SIGMORPHON 2022 gold segmentations (`word<TAB>morph @@morph ...`); only entries whose
  morphs join back to the word give boundaries, other words are not cut — or, with the spec
  `gold:FILE,unseen=LAM` (`load_segmenter(spec, word_counts)`, or as a training segmenter), cut by Viterbi under a
  unigram lexicon of the file's morphs and the corpus's words (weight LAM), so frequent words stay whole; with
  `gold:FILE,unseen=LAM,known=lexicon` the words the file holds are cut by that lexicon too (rare ones keep their
  gold analysis, frequent ones stay whole).
* `LexiconSegmenter.load(path)`: roots + affixes (JSON, TSV, or a folder with `turkish-tokenizer`'s
  `kokler.json`/`ekler.json`/`bpe_tokenler.json`); longest root, then a chain of affixes (`compound=N`: a word
  with no complete chain may be read as up to three root + affix groups, later roots at least N chars long).
* `load_segmenter(spec, word_counts)`: by spec, `gold:FILE[,unseen=LAM[,known=lexicon]]`,
  `mdl[:weight=1.0,dampening=ones,seed=0,decode=viterbi]`, `lexicon:FILE[,compound=N]` (the specs of
  `toksmith train --algorithm morph --segmenter`).

Segmenters see words: maximal runs of letters and combining marks. The tokenizer trainer lower-cases each word
char by char before asking for its boundaries; gold and lexicon lookups lower-case too, `mdl` takes words as
trained. Bad input raises `MorphError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Union

from toksmith import _core
from toksmith.errors import MorphError, TokenizerFormatError
from toksmith.tokenizer import Tokenizer

#: Pre-tokenizer for explicit space/newline tokens: letter runs, single digits, other runs, each whitespace char alone.
WHITESPACE_TOKENS_PRETOKENIZER = r"regex:[\p{L}\p{M}]+|\p{N}|[^\s\p{L}\p{M}\p{N}]+|\s"

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
        decode: str = "viterbi",
    ) -> MdlSegmenter:
        """Learn from `word_counts` (a dict word → count, (word, count) pairs, or words, each counted once).
        `dampening`: `ones` (each word type once, Morfessor's command-line default), `log` or `none`.
        `decode`: how `segment` cuts words: `viterbi` (every word by Viterbi over the learned morphs, as a stored
        tokenizer does) or `tree` (training words by their training tree, as Morfessor's `segment`)."""
        return cls(
            _core.train_mdl(_pairs(word_counts), corpus_weight, dampening, seed, finish_threshold, max_epochs, decode)
        )

    def cost(self) -> float:
        return self._core.cost()

    def morphs(self) -> list[tuple[str, int]]:
        return self._core.morphs()

    def viterbi(self, word: str) -> list[str]:
        """Viterbi segmentation over the learned morphs (what words unseen in training get)."""
        return self._core.viterbi(word)

    def analysis(self, word: str) -> list[str]:
        """A training word's training tree (Morfessor's `segment`; `cost()` is the cost of these), or Viterbi
        for other words."""
        return self._core.analysis(word)


class GoldSegmenter(Segmenter):
    @classmethod
    def load(cls, path: str | os.PathLike) -> GoldSegmenter:
        return cls(_core.load_segmenter(f"gold:{os.fspath(path)}"))


class LexiconSegmenter(Segmenter):
    @classmethod
    def load(cls, path: str | os.PathLike, compound: int = 0) -> LexiconSegmenter:
        """`compound=N` (N > 0): a word with no complete root + affix chain may be read as up to three such
        groups, each root after the first at least N characters long (`lexicon:FILE,compound=N`)."""
        if isinstance(compound, bool) or not isinstance(compound, int) or compound < 0:
            raise MorphError(f"compound must be a whole number of characters (0: off), not {compound!r}")
        spec = f"lexicon:{os.fspath(path)}" + (f",compound={compound}" if compound else "")
        return cls(_core.load_segmenter(spec))

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


class MorphTokenizer(Tokenizer):
    """A `toksmith-morph` tokenizer: a plain byte-level BPE (`.plain`, loadable by HF `tokenizers`) plus a lossless
    `<uppercase>` marker and/or the segmenter applied at encode time. Its file is our own JSON format
    (`{"format": "toksmith-morph", ..., "tokenizer": {tokenizer.json}}`); `hf_note` says what HF cannot reproduce.
    Added tokens written in the text are encoded as plain text (only the encoder emits the marker)."""

    def __init__(self, core: _core.MorphTokenizer) -> None:
        super().__init__(core.plain())
        self._morph = core

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> MorphTokenizer:
        p = Path(path)
        if p.is_dir():
            p = p / "tokenizer.json"
        if not p.exists():
            raise TokenizerFormatError(f"no such tokenizer file: {p}")
        return cls(_core.MorphTokenizer.from_file(str(p)))

    @classmethod
    def from_str(cls, json_text: str) -> MorphTokenizer:
        return cls(_core.MorphTokenizer.from_str(json_text))

    @staticmethod
    def is_morph_file(path: str | os.PathLike) -> bool:
        """Whether `path` (a file, or a folder holding tokenizer.json) is a toksmith-morph file."""
        p = Path(path)
        if p.is_dir():
            p = p / "tokenizer.json"
        try:
            with open(p, "rb") as f:
                return _core.MorphTokenizer.sniff(f.read(200))
        except OSError:
            return False

    @property
    def plain(self) -> Tokenizer:
        """The plain BPE part (what HF `tokenizers` reproduces)."""
        return Tokenizer(self._morph.plain())

    @property
    def uppercase(self) -> tuple[str, int, str] | None:
        """(marker token, id, case map) or None."""
        return self._morph.uppercase

    @property
    def segmenter(self) -> str | None:
        """Name of the segmenter applied at encode time, or None."""
        return self._morph.segmenter

    @property
    def hf_note(self) -> str:
        return self._morph.hf_note

    @property
    def allomorphs(self) -> list[tuple[str, int, list[tuple[str, str]]]]:
        """Shared allomorph classes: (class token, id, [(context feature, form)])."""
        return self._morph.allomorphs

    def encode(self, text: str, added_tokens: bool = True) -> list[int]:
        return self._morph.encode(text)

    def encode_batch(
        self, texts: Sequence[str], added_tokens: bool = True, threads: int | None = None
    ) -> list[list[int]]:
        return self._morph.encode_batch(list(texts), threads)

    def count_batch(self, texts: Sequence[str], added_tokens: bool = False, threads: int | None = None) -> list[int]:
        return [len(x) for x in self.encode_batch(texts, threads=threads)]

    def spans_batch(self, texts: Sequence[str], threads: int | None = None) -> list[list[tuple[int, int, int]]]:
        """Per text, (id, start byte, end byte) of each token in the original text; the marker's range is empty
        (where its word's piece starts)."""
        return self._morph.encode_spans_batch(list(texts), threads)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Text of `ids`; each marker upper-cases the next letter."""
        return self._morph.decode(list(ids))

    def decode_bytes(self, ids: Iterable[int], skip_special_tokens: bool = False) -> bytes:
        return self.decode(ids).encode("utf-8")

    def to_json(self) -> str:
        return self._morph.to_json()

    def save(self, path: str | os.PathLike) -> None:
        """Write the toksmith-morph file (atomically)."""
        from toksmith.atomic import write_text

        write_text(path, self.to_json())

    def save_tiktoken(self, path: str | os.PathLike) -> None:
        raise TokenizerFormatError("a toksmith-morph tokenizer has no tiktoken form; save .plain instead")

    def __repr__(self) -> str:
        return (
            f"MorphTokenizer(vocab_size={self.vocab_size}, merges={self.n_merges}, uppercase={self.uppercase}, "
            f"segmenter={self.segmenter!r})"
        )


__all__ = [
    "WHITESPACE_TOKENS_PRETOKENIZER",
    "MorphTokenizer",
    "GoldSegmenter",
    "LexiconSegmenter",
    "MdlSegmenter",
    "MorphError",
    "Segmenter",
    "load_segmenter",
    "mdl_cost",
]
