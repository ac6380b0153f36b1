"""Morphology metrics of tokenizers (`toksmith analyze --morph-gold/--dictionary`).

Definitions (also written into every report, see `MORPH_DEFINITIONS`):

- **How a word is tokenized.** Each word (or each orthographic component of a multi-word gold entry) is
  tokenized on its own with `prefix` (default one space) in front, as a word in the middle of running text is:
  `" unhappiness"`. Token ranges are UTF-8 byte ranges; the prefix is then cut off: a token that lies wholly in the
  prefix (a lone space token such as `Ġ` or `▁`) is dropped, a token that straddles it (`Ġun`) is kept and starts
  at offset 0 of the word. So the space marker never makes a word-internal boundary. Zero-width tokens (markers
  such as `<uppercase>`) are dropped.
- **Boundaries** are byte offsets strictly inside the word where one kept token ends or another starts. A tokenizer
  that splits a multi-byte character makes a boundary inside it, which no gold boundary matches (a false positive).
- **Boundary precision/recall/F1** (micro-averaged): TP = Σ|G ∩ P|, FP = Σ|P \\ G|, FN = Σ|G \\ P| over the
  words of the *surface* gold entries (morphs that concatenate back to the word); G are the offsets between
  consecutive morphs, P the token boundaries. Words without gold boundaries still count their false positives.
- **Morphological consistency F1** (MorphBPE, Asgari et al. 2025, arXiv 2502.00894: "the consistency between
  morpheme sharing and token sharing"; the pair-sharing idea of the Morpho Challenge evaluation): over all
  unordered pairs of distinct gold words, a pair is a gold positive when the words share a morph (same morph
  string, canonical morphs allowed, so *all* entries are used) and a predicted positive when their tokenizations
  share a token (same token id). Precision = TP/(TP+FP), recall = TP/(TP+FN), F1 their harmonic mean. All pairs are
  counted exactly (bitsets); only when there are more than `max_words` words (default 20,000) is a uniformly
  random, seeded sample of `max_words` words taken and all pairs among them counted. Only the paper's abstract
  and summaries could be read here, not its formula; this is our reading of it, stated so it can be checked.
- **Morphological edit distance**: per surface word, the Levenshtein distance between the sequence of token
  pieces (the word cut at the token boundaries) and the sequence of morphs, a unit (token vs morph) being
  inserted, deleted or substituted at cost 1; the mean over words (0 = the tokens are exactly the morphs).
- **Tokens per word**: kept tokens per gold word (the word list, each word once); morphs per word for reference.
- **Dictionary-token share** (Turkish, an *offline stand-in* for TR%/Pure% of Bayram et al. 2025, which also accept
  tokens an online morphological analyser recognises): a token occurrence on the corpus counts when its text,
  stripped of surrounding white space and lower-cased with Turkish rules (I→ı, İ→i), is a root (`kokler.json`) or
  an affix (`ekler.json`) of the `turkish-tokenizer` package; tokens whose stripped text is empty (spaces,
  markers) are left out of numerator and denominator. The type share does the same over distinct token ids.
"""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from toksmith.corpora.morphseg import MorphEntry
from toksmith.errors import AnalysisError

MORPH_DEFINITIONS = [
    (
        "word tokenization",
        "each gold word tokenized on its own after one space, as mid-sentence; the space (e.g. Ġ, ▁) is cut off: "
        "tokens wholly inside it are dropped, so it never makes a word-internal boundary",
    ),
    ("boundary P/R/F1", "token vs gold morph boundaries inside words (byte offsets), micro-averaged, surface entries"),
    (
        "consistency F1",
        "MorphBPE μ_c: pairs of words; gold = share a morph, predicted = share a token id; all pairs (a seeded "
        "sample of words above max_words), all entries",
    ),
    ("edit distance", "MorphBPE μ_e: mean Levenshtein distance between token pieces and morphs per surface word"),
    ("tokens per word", "tokens per gold word (each word once)"),
    (
        "dictionary share",
        "token occurrences/types whose text (stripped, Turkish-lower-cased) is a turkish-tokenizer root or affix; "
        "offline stand-in for TR%/Pure% (no online analyser)",
    ),
]

SpansFn = Callable[[list[str]], list[list[tuple[int, int, int]]]]


# ----------------------------------------------------------------------------------------------------------------
# words as tokens


@dataclass(frozen=True)
class WordTokens:
    """A word's tokenization: ids of the kept tokens and the word-internal boundaries (byte offsets)."""

    ids: tuple[int, ...]
    bounds: tuple[int, ...]
    nbytes: int

    def pieces(self, word: str) -> list[bytes]:
        b = word.encode("utf-8", "surrogatepass")
        cuts = [0, *self.bounds, len(b)]
        return [b[i:j] for i, j in zip(cuts, cuts[1:])]


def word_tokens_from_spans(spans: Iterable[tuple[int, int, int]], prefix_len: int, nbytes: int) -> WordTokens:
    """Cut the prefix off a tokenization of `prefix + word` (see the module doc)."""
    ids: list[int] = []
    bounds: set[int] = set()
    for tid, s, e in spans:
        s, e = s - prefix_len, e - prefix_len
        if e <= 0 or e <= s:  # wholly in the prefix, or zero-width
            continue
        ids.append(int(tid))
        for x in (s, e):
            if 0 < x < nbytes:
                bounds.add(x)
    return WordTokens(tuple(ids), tuple(sorted(bounds)), nbytes)


def tokenize_words(spans_fn: SpansFn, words: Sequence[str], prefix: str = " ") -> list[WordTokens]:
    """Tokenize each word after `prefix` and cut the prefix off (the module doc's convention)."""
    plen = len(prefix.encode("utf-8"))
    out = []
    for w, sp in zip(words, spans_fn([prefix + w for w in words])):
        out.append(word_tokens_from_spans(sp, plen, len(w.encode("utf-8", "surrogatepass"))))
    return out


def gold_bounds(morphs: Sequence[str]) -> tuple[int, ...]:
    """Byte offsets between consecutive morphs of a surface word."""
    out, pos = [], 0
    for m in morphs[:-1]:
        pos += len(m.encode("utf-8", "surrogatepass"))
        out.append(pos)
    return tuple(out)


# ----------------------------------------------------------------------------------------------------------------
# metrics on plain data (testable by hand)


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def boundary_prf(gold: Iterable[Iterable[int]], pred: Iterable[Iterable[int]]) -> PRF:
    """Micro-averaged boundary precision/recall/F1 of predicted vs gold boundary sets, word by word."""
    r = PRF()
    for g, p in zip(gold, pred):
        gs, ps = set(g), set(p)
        r.tp += len(gs & ps)
        r.fp += len(ps - gs)
        r.fn += len(gs - ps)
    return r


def levenshtein(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Unit edit distance between two sequences (insert, delete, substitute: cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _popcount(a: np.ndarray) -> int:
    bc = getattr(np, "bitwise_count", None)
    if bc is not None:
        return int(bc(a).sum())
    return int(np.unpackbits(a.view(np.uint8)).sum())


def _posting_bitsets(sets: Sequence[frozenset], n: int) -> dict[Any, np.ndarray]:
    """For each item shared by ≥ 2 sets: a bitset (uint64 words) of the sets holding it."""
    where: dict[Any, list[int]] = {}
    for i, s in enumerate(sets):
        for x in s:
            where.setdefault(x, []).append(i)
    nw = (n + 63) // 64
    out = {}
    for x, idx in where.items():
        if len(idx) < 2:
            continue
        bits = np.zeros(nw, dtype=np.uint64)
        ii = np.asarray(idx, dtype=np.int64)
        np.bitwise_or.at(bits, ii >> 6, np.left_shift(np.uint64(1), (ii & 63).astype(np.uint64)))
        out[x] = bits
    return out


@dataclass
class ConsistencyResult(PRF):
    words: int = 0
    pairs: int = 0
    sampled: bool = False


def consistency_f1(
    morph_sets: Sequence[Iterable[Any]],
    token_sets: Sequence[Iterable[Any]],
    max_words: Optional[int] = 20000,
    seed: int = 0,
) -> ConsistencyResult:
    """Morphological consistency over all unordered pairs of distinct words (see the module doc): TP = pairs that
    share a morph and a token, FP = a token but no morph, FN = a morph but no token. Exact, with bitsets:
    O(words² / 64) per shared item."""
    if len(morph_sets) != len(token_sets):
        raise AnalysisError("consistency: morph and token lists differ in length")
    n_all = len(morph_sets)
    idx = list(range(n_all))
    sampled = max_words is not None and n_all > max_words
    if sampled:
        idx = sorted(random.Random(seed).sample(idx, int(max_words)))  # type: ignore[arg-type]
    ms = [frozenset(morph_sets[i]) for i in idx]
    ts = [frozenset(token_sets[i]) for i in idx]
    n = len(idx)
    mb, tb = _posting_bitsets(ms, n), _posting_bitsets(ts, n)
    nw = (n + 63) // 64
    zero = np.zeros(nw, dtype=np.uint64)
    gold = pred = both = 0
    for i in range(n):
        a = zero.copy()
        for x in ms[i]:
            b = mb.get(x)
            if b is not None:
                a |= b
        d = zero.copy()
        for x in ts[i]:
            b = tb.get(x)
            if b is not None:
                d |= b
        # the word itself is in its own sets only through shared items; clear it
        a[i >> 6] &= ~np.uint64(1 << (i & 63))
        d[i >> 6] &= ~np.uint64(1 << (i & 63))
        gold += _popcount(a)
        pred += _popcount(d)
        both += _popcount(a & d)
    tp, g, p = both // 2, gold // 2, pred // 2
    return ConsistencyResult(tp=tp, fp=p - tp, fn=g - tp, words=n, pairs=n * (n - 1) // 2, sampled=sampled)


# ----------------------------------------------------------------------------------------------------------------
# Turkish dictionary


def turkish_lower(s: str) -> str:
    return s.replace("İ", "i").replace("I", "ı").lower()


@dataclass(frozen=True)
class TurkishDictionary:
    """Roots and affix surface forms (stripped, Turkish-lower-cased), and the ids the package gives them."""

    roots: frozenset[str]
    affixes: frozenset[str]
    root_ids: frozenset[int] = frozenset()
    affix_ids: frozenset[int] = frozenset()
    source: str = ""

    def kind(self, text: str) -> Optional[str]:
        """'root', 'affix' or None for a token's text."""
        t = turkish_lower(text.strip())
        if not t:
            return None
        if t in self.roots:
            return "root"
        if t in self.affixes:
            return "affix"
        return None


def _is_special(key: str) -> bool:
    k = key.strip()
    return not k or (k.startswith("<") and k.endswith(">")) or k.startswith("special_")


def _read_member(path: Path, name: str) -> Optional[bytes]:
    """`name` (kokler.json / ekler.json) from a folder (searched recursively), an sdist (.tar.gz) or a wheel."""
    if path.is_dir():
        hits = sorted(path.rglob(name))
        return hits[0].read_bytes() if hits else None
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                if m.isfile() and m.name.endswith("/" + name):
                    f = tf.extractfile(m)
                    return f.read() if f is not None else None
        return None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for m in z.namelist():
                if m == name or m.endswith("/" + name):
                    return z.read(m)
        return None
    return None


def load_turkish_dictionary(path: str | os.PathLike) -> TurkishDictionary:
    """Roots (`kokler.json`) and affixes (`ekler.json`): JSON objects surface → id, as in the `turkish-tokenizer`
    package. `path` is a folder holding them (searched recursively), the package's sdist (`pip download --no-deps
    turkish-tokenizer`) or a wheel. Special entries (`<uppercase>`, `<pad>`, white space, `special_N`) are left
    out. `AnalysisError` when they cannot be found or read."""
    p = Path(path)
    if not p.exists():
        raise AnalysisError(f"dictionary: no such file or folder: {p}")
    parts: dict[str, dict[str, int]] = {}
    for name in ("kokler.json", "ekler.json"):
        try:
            raw = _read_member(p, name)
        except (OSError, tarfile.TarError, zipfile.BadZipFile) as e:
            raise AnalysisError(f"dictionary: cannot read {p}: {e}") from None
        if raw is None:
            raise AnalysisError(
                f"dictionary: {p} holds no {name} (want turkish-tokenizer's kokler.json and ekler.json)"
            )
        try:
            data = json.load(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AnalysisError(f"dictionary: {name} in {p} is not JSON: {e}") from None
        if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
            raise AnalysisError(f"dictionary: {name} in {p} is not an object of surface → integer id")
        parts[name] = data
    roots = {k: v for k, v in parts["kokler.json"].items() if not _is_special(k)}
    affixes = {k: v for k, v in parts["ekler.json"].items() if not _is_special(k)}
    return TurkishDictionary(
        roots=frozenset(turkish_lower(k.strip()) for k in roots),
        affixes=frozenset(turkish_lower(k.strip()) for k in affixes),
        root_ids=frozenset(roots.values()),
        affix_ids=frozenset(affixes.values()),
        source=str(p),
    )


@dataclass
class DictionaryShare:
    occurrences: int = 0
    root_occurrences: int = 0
    affix_occurrences: int = 0
    types: int = 0
    root_types: int = 0
    affix_types: int = 0

    def to_dict(self) -> dict[str, Any]:
        occ, ty = self.occurrences, self.types
        return {
            "dict_occurrence_share": (self.root_occurrences + self.affix_occurrences) / occ if occ else float("nan"),
            "dict_root_occurrence_share": self.root_occurrences / occ if occ else float("nan"),
            "dict_affix_occurrence_share": self.affix_occurrences / occ if occ else float("nan"),
            "dict_type_share": (self.root_types + self.affix_types) / ty if ty else float("nan"),
            "dict_root_type_share": self.root_types / ty if ty else float("nan"),
            "dict_affix_type_share": self.affix_types / ty if ty else float("nan"),
            "dict_counted_occurrences": occ,
            "dict_counted_types": ty,
        }


def dictionary_share(tokens: Iterable[tuple[int, str]], dictionary: TurkishDictionary) -> DictionaryShare:
    """Share of token occurrences and of token types (ids) that are dictionary roots/affixes; `tokens` are
    (id, text) per occurrence. Tokens whose stripped text is empty are not counted. A type's kind is that of its
    first occurrence."""
    r = DictionaryShare()
    seen: dict[int, Optional[str]] = {}
    for tid, text in tokens:
        if not text.strip():
            continue
        k = dictionary.kind(text)
        r.occurrences += 1
        r.root_occurrences += k == "root"
        r.affix_occurrences += k == "affix"
        if tid not in seen:
            seen[tid] = k
    r.types = len(seen)
    r.root_types = sum(1 for k in seen.values() if k == "root")
    r.affix_types = sum(1 for k in seen.values() if k == "affix")
    return r


def token_texts(spans_fn: SpansFn, texts: Sequence[str]) -> Iterable[tuple[int, str]]:
    """(id, text) of every token of `texts` (a piece that is not valid UTF-8 by itself decodes with U+FFFD)."""
    for t, sp in zip(texts, spans_fn(list(texts))):
        b = t.encode("utf-8", "surrogatepass")
        for tid, s, e in sp:
            yield tid, b[s:e].decode("utf-8", "replace")


# ----------------------------------------------------------------------------------------------------------------
# the report


@dataclass
class MorphResult:
    values: dict[str, Any] = field(default_factory=dict)


def morph_metrics(
    spans_fn: SpansFn,
    entries: Sequence[MorphEntry],
    prefix: str = " ",
    max_pairs_words: Optional[int] = 20000,
    seed: int = 0,
) -> dict[str, Any]:
    """Boundary P/R/F1, edit distance and tokens per word on the surface entries, consistency F1 on all entries."""
    if not entries:
        raise AnalysisError("no gold segmentations")
    # surface components, each its own word
    comp_words: list[str] = []
    comp_morphs: list[tuple[str, ...]] = []
    for e in entries:
        for w, ms in e.surface_parts():
            comp_words.append(w)
            comp_morphs.append(ms)
    vals: dict[str, Any] = {
        "gold_entries": len(entries),
        "gold_surface_entries": sum(1 for e in entries if e.surface),
        "gold_surface_words": len(comp_words),
    }
    if comp_words:
        wt = tokenize_words(spans_fn, comp_words, prefix)
        # a word with no token at all (an adapter that could not align its tokens) is left out, and counted
        keep = [i for i, w in enumerate(wt) if w.ids]
        vals["unaligned_words"] = len(wt) - len(keep)
        wt = [wt[i] for i in keep]
        comp_words = [comp_words[i] for i in keep]
        comp_morphs = [comp_morphs[i] for i in keep]
    if comp_words:
        prf = boundary_prf((gold_bounds(m) for m in comp_morphs), (w.bounds for w in wt))
        vals.update({f"boundary_{k}": v for k, v in prf.to_dict().items()})
        eds = [
            levenshtein(w.pieces(word), [m.encode("utf-8", "surrogatepass") for m in ms])
            for w, word, ms in zip(wt, comp_words, comp_morphs)
        ]
        vals["morph_edit_distance"] = float(np.mean(eds))
        vals["morph_tokens_per_word"] = float(np.mean([len(w.ids) for w in wt]))
        vals["gold_morphs_per_word"] = float(np.mean([len(m) for m in comp_morphs]))
    else:
        vals.update({f"boundary_{k}": v for k, v in PRF().to_dict().items()})
        vals.update(
            morph_edit_distance=float("nan"), morph_tokens_per_word=float("nan"), gold_morphs_per_word=float("nan")
        )
    vals.setdefault("unaligned_words", 0)
    whole = tokenize_words(spans_fn, [e.word for e in entries], prefix)
    c = consistency_f1([e.morphs for e in entries], [w.ids for w in whole], max_words=max_pairs_words, seed=seed)
    vals.update(
        consistency_precision=c.precision,
        consistency_recall=c.recall,
        consistency_f1=c.f1,
        consistency_words=c.words,
        consistency_pairs=c.pairs,
        consistency_sampled=c.sampled,
        consistency_tp=c.tp,
        consistency_fp=c.fp,
        consistency_fn=c.fn,
    )
    return vals


# ----------------------------------------------------------------------------------------------------------------
# `toksmith analyze` integration


def gold_label(path: str) -> str:
    """`.../eng.word.dev.tsv` → `eng`; `LABEL=PATH` keeps LABEL."""
    if "=" in path and not Path(path).exists():
        return path.split("=", 1)[0]
    return Path(path).name.split(".")[0]


def resolve_gold(spec: str) -> tuple[str, Path]:
    """`LABEL=PATH`, a path, or a three-letter language code of the shared SIGMORPHON data (`eng`)."""
    from toksmith.corpora.morphseg import shared_morphseg

    label, path = spec.split("=", 1) if "=" in spec and not Path(spec).exists() else (None, spec)
    p = Path(path)
    if not p.exists() and len(path) == 3 and path.isalpha():
        p = shared_morphseg(path)
    if not p.is_file():
        raise AnalysisError(f"morph gold: no such file: {path}")
    return label or gold_label(str(p)), p


def add_morph_metrics(
    rep: Any,
    tokenizers: Sequence[Any],
    golds: Sequence[tuple[str, Sequence[MorphEntry]]] = (),
    dictionary: Optional[TurkishDictionary] = None,
    segments: Sequence[str] = (),
    prefix: str = " ",
    max_pairs_words: Optional[int] = 20000,
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> None:
    """Add `morph:<label>` (one per gold file) and `dictionary` value groups to each tokenizer of an
    `AnalysisReport` (tokenizers in the report's order), and the definitions of these metrics."""
    import time

    t0 = time.perf_counter()
    segs = [s for s in segments if s]
    for i, (res, tok) in enumerate(zip(rep.tokenizers, tokenizers)):
        if progress:
            progress(f"morphology {tok.name}", i, len(tokenizers))
        for label, entries in golds:
            res.values[f"morph:{label}"] = morph_metrics(tok.spans, entries, prefix, max_pairs_words)
        if dictionary is not None:
            res.values["dictionary"] = dictionary_share(token_texts(tok.spans, segs), dictionary).to_dict()
    if golds or dictionary is not None:
        rep.extra_definitions.extend(MORPH_DEFINITIONS)
        rep.timings["morphology"] = time.perf_counter() - t0
