"""Token premiums across languages on a parallel corpus (Petrov et al. 2023, "Language Model Tokenizers Introduce
Unfairness Between Languages").

Definitions (also written into every report, see `DEFINITIONS`):

- corpus token count CTC_L = Σ over the lines of language L of |T(line)|, without special tokens;
- premium π_L = CTC_L / CTC_ref (the reference language is chosen by the user, English by default);
- per-sentence ratio r_i = |T(line_i in L)| / |T(line_i in ref)|, summarised by its median and quartiles;
- confidence interval of π_L: percentile bootstrap over sentences (the same resamples for every language);
- byte premium: UTF-8 bytes of L / UTF-8 bytes of ref; compressor premium: compressed size of L's text / that of
  ref's text; π_L divided by the compressor premium is the part of the premium the tokenizer adds beyond the
  language's own information content (as a compressor measures it);
- joined mode (`joined=True`): one text per language, the lines of all selected splits joined with single spaces
  exactly as in Petrov et al.'s code, so the published per-language totals come out exactly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from toksmith.analysis.compress import Compressor, parse_compressors
from toksmith.analysis.corpus import ParallelCorpus, open_parallel
from toksmith.analysis.tokenizers import LoadedTokenizer, load_all
from toksmith.errors import AnalysisError

DEFINITIONS = [
    ("CTC_L", "corpus token count: Σ over the lines of language L of |T(line)|, no special tokens added"),
    ("premium π_L", "CTC_L / CTC_ref"),
    ("ratio r_i", "|T(line i in L)| / |T(line i in ref)|; median and quartiles (IQR) over sentences"),
    ("CI", "percentile bootstrap confidence interval of π_L, resampling sentences (same resamples for all L)"),
    ("byte premium", "UTF-8 bytes of L / UTF-8 bytes of ref (the language's own length)"),
    (
        "compressor premium",
        "compressed size of L's text / that of ref's text (the language's information content); by default on "
        "every 4th line (the same lines in every language), zstd level 19",
    ),
    ("excess", "π_L / compressor premium: what the tokenizer adds beyond the compressor's measure"),
    (
        "joined",
        "one text per language: each split file's text split at \\n and all pieces joined with single spaces "
        "(Petrov et al. 2023's protocol; reproduces their published totals)",
    ),
]

Progress = Callable[[str, int, int], None]


@dataclass
class TokenizerResult:
    name: str
    backend: str
    vocab_size: int
    spec: str
    ctc: np.ndarray  # (L,)
    premium: np.ndarray  # (L,)
    seconds: float
    # per-sentence statistics (lines mode only)
    ratio_median: Optional[np.ndarray] = None
    ratio_q1: Optional[np.ndarray] = None
    ratio_q3: Optional[np.ndarray] = None
    ratio_lo: Optional[np.ndarray] = None  # Tukey whiskers (1.5 IQR, clipped to the data)
    ratio_hi: Optional[np.ndarray] = None
    ratio_min: Optional[np.ndarray] = None
    ratio_max: Optional[np.ndarray] = None
    ci_low: Optional[np.ndarray] = None
    ci_high: Optional[np.ndarray] = None
    price: Optional[float] = None  # per 1M input tokens

    def cost(self) -> Optional[np.ndarray]:
        return None if self.price is None else self.ctc * (self.price / 1e6)


@dataclass
class PremiumReport:
    corpus: str
    source: str
    splits: list[str]
    mode: str  # "lines" or "joined"
    ref: str
    langs: list[str]
    n_lines: int
    bytes: np.ndarray
    chars: np.ndarray
    compressors: list[str]
    compressed: dict[str, np.ndarray]
    compress_every: int
    tokenizers: list[TokenizerResult]
    bootstrap: int
    ci: float
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    per_line: Optional[dict[str, np.ndarray]] = None  # kept only when asked (keep_counts=True)

    @property
    def ref_index(self) -> int:
        return self.langs.index(self.ref)

    @property
    def byte_premium(self) -> np.ndarray:
        return self.bytes / self.bytes[self.ref_index]

    def compressor_premium(self, name: str) -> np.ndarray:
        s = self.compressed[name]
        return s / s[self.ref_index]

    def order(self, sort: str = "lang") -> list[int]:
        """Row order: `lang` (code), `premium` (first tokenizer's premium, descending) or a tokenizer name."""
        idx = list(range(len(self.langs)))
        if sort == "lang":
            return sorted(idx, key=lambda i: self.langs[i])
        names = [t.name for t in self.tokenizers]
        if sort == "premium":
            if not self.tokenizers:
                return idx
            key = self.tokenizers[0].premium
        elif sort in names:
            key = self.tokenizers[names.index(sort)].premium
        elif sort == "bytes":
            key = self.byte_premium
        else:
            raise AnalysisError(f"unknown sort key {sort!r} (lang, premium, bytes or a tokenizer name)")
        return sorted(idx, key=lambda i: (-float(key[i]), self.langs[i]))

    def rows(self, sort: str = "lang") -> list[dict[str, Any]]:
        """Long format: one row per (language, tokenizer)."""
        out = []
        bp = self.byte_premium
        cps = {c: self.compressor_premium(c) for c in self.compressors}
        for i in self.order(sort):
            for t in self.tokenizers:
                r: dict[str, Any] = {
                    "lang": self.langs[i],
                    "tokenizer": t.name,
                    "ctc": int(t.ctc[i]),
                    "premium": float(t.premium[i]),
                }
                if t.ci_low is not None:
                    r["ci_low"] = float(t.ci_low[i])
                    r["ci_high"] = float(t.ci_high[i])  # type: ignore[index]
                    r["ratio_median"] = float(t.ratio_median[i])  # type: ignore[index]
                    r["ratio_q1"] = float(t.ratio_q1[i])  # type: ignore[index]
                    r["ratio_q3"] = float(t.ratio_q3[i])  # type: ignore[index]
                    r["ratio_iqr"] = float(t.ratio_q3[i] - t.ratio_q1[i])  # type: ignore[index]
                r["bytes"] = int(self.bytes[i])
                r["byte_premium"] = float(bp[i])
                for c, v in cps.items():
                    r[f"{c}_premium"] = float(v[i])
                    r[f"excess_{c}"] = float(t.premium[i] / v[i]) if v[i] else float("nan")
                cost = t.cost()
                if cost is not None:
                    r["price_per_1m"] = t.price
                    r["cost"] = float(cost[i])
                out.append(r)
        return out

    def to_dict(self, sort: str = "lang") -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "source": self.source,
            "splits": self.splits,
            "mode": self.mode,
            "ref": self.ref,
            "languages": len(self.langs),
            "lines_per_language": self.n_lines,
            "bootstrap": self.bootstrap if self.mode == "lines" else None,
            "ci": self.ci if self.mode == "lines" else None,
            "seed": self.seed,
            "compressors": self.compressors,
            "compress_every": self.compress_every,
            "tokenizers": [
                {
                    "name": t.name,
                    "spec": t.spec,
                    "backend": t.backend,
                    "vocab_size": t.vocab_size,
                    "price_per_1m": t.price,
                    "ref_ctc": int(t.ctc[self.ref_index]),
                    "seconds": round(t.seconds, 3),
                }
                for t in self.tokenizers
            ],
            "definitions": dict(DEFINITIONS),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "rows": self.rows(sort),
        }


def load_prices(path: str | Path) -> dict[str, float]:
    """Prices per 1M input tokens by tokenizer name: a JSON object `{"name": price}` or a CSV/TSV file of
    `name,price` lines (an optional header line is skipped)."""
    import csv
    import json

    p = Path(path)
    if not p.is_file():
        raise AnalysisError(f"no such price file: {p}")
    text = p.read_text(encoding="utf-8", errors="replace")
    prices: dict[str, float] = {}
    from_json = p.suffix.lower() == ".json" or text.lstrip().startswith("{")
    if from_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise AnalysisError(f"{p}: not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise AnalysisError(f'{p}: a price file holds a JSON object {{"tokenizer": price per 1M tokens}}')
        items = list(data.items())
    else:
        delim = "\t" if "\t" in text and "," not in text else ","
        items = [tuple(c.strip() for c in row[:2]) for row in csv.reader(text.splitlines(), delimiter=delim) if row]
    for n, item in enumerate(items):
        if len(item) != 2:
            raise AnalysisError(f"{p}: line {n + 1}: expected tokenizer,price")
        name, val = item
        try:
            prices[str(name)] = float(val)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            if n == 0 and not from_json:
                continue  # header line
            raise AnalysisError(f"{p}: price of {name!r} is not a number: {val!r}") from None
    if not prices:
        raise AnalysisError(f"{p}: no prices")
    return prices


def _box_stats(r: np.ndarray) -> dict[str, np.ndarray]:
    """Quartiles and Tukey whiskers of each row of per-sentence ratios (NaNs = sentences with a 0-token ref)."""
    has_nan = bool(np.isnan(r).any())
    pct = np.nanpercentile if has_nan else np.percentile
    q1, med, q3 = pct(r, [25, 50, 75], axis=1)
    iqr = q3 - q1
    lo_lim = (q1 - 1.5 * iqr)[:, None]
    hi_lim = (q3 + 1.5 * iqr)[:, None]
    big = np.where(np.isnan(r), np.inf, r)
    small = np.where(np.isnan(r), -np.inf, r)
    lo = np.where(r >= lo_lim, big, np.inf).min(axis=1)
    hi = np.where(r <= hi_lim, small, -np.inf).max(axis=1)
    return {
        "q1": q1,
        "median": med,
        "q3": q3,
        "lo": lo,
        "hi": hi,
        "min": big.min(axis=1),
        "max": small.max(axis=1),
    }


def compute_premium(
    tokenizers: Sequence[str | LoadedTokenizer],
    corpus: str | ParallelCorpus = "flores200",
    ref: str = "eng_Latn",
    langs: Optional[Sequence[str]] = None,
    split: str = "both",
    joined: bool = False,
    bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    compressors: str | Sequence[str] | None = "zstd:19",
    compress_every: int = 4,
    prices: Optional[dict[str, float]] = None,
    threads: Optional[int] = None,
    progress: Optional[Progress] = None,
    keep_counts: bool = False,
) -> PremiumReport:
    """Token premiums of each language against `ref` for each tokenizer. `tokenizers` are spec strings (see
    `toksmith.analysis.tokenizers`) or loaded tokenizers; `corpus` is `flores200`, a path, or an opened corpus."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if not 0 < ci < 1:
        raise AnalysisError(f"confidence level must be between 0 and 1: {ci}")
    if compress_every < 1:
        raise AnalysisError(f"--compress-every must be ≥ 1: {compress_every}")
    if bootstrap < 0:
        raise AnalysisError(f"bootstrap resamples must be ≥ 0: {bootstrap}")
    comps: list[Compressor] = parse_compressors(compressors)
    corp = corpus if isinstance(corpus, ParallelCorpus) else open_parallel(corpus, split)
    available = corp.langs
    if not available:
        raise AnalysisError(f"{corp.name}: empty corpus")
    if ref not in available:
        raise AnalysisError(f"{corp.name}: no file for the reference language {ref!r}")
    if langs:
        wanted = []
        for lang in langs:
            if lang == "all":
                wanted.extend(available)
                continue
            if lang not in available:
                raise AnalysisError(f"{corp.name}: no file for language {lang!r}")
            wanted.append(lang)
        if ref not in wanted:
            wanted.insert(0, ref)
        sel = list(dict.fromkeys(wanted))
    else:
        sel = list(available)
    # load tokenizers first: a bad spec fails before any corpus work
    loaded = [t for t in tokenizers if isinstance(t, LoadedTokenizer)]
    specs = [t for t in tokenizers if not isinstance(t, LoadedTokenizer)]
    if not tokenizers:
        raise AnalysisError("no tokenizer given")
    if specs:
        by_spec = iter(load_all([str(s) for s in specs], threads=threads))
        loaded = [t if isinstance(t, LoadedTokenizer) else next(by_spec) for t in tokenizers]
    timings["load tokenizers"] = time.perf_counter() - t0

    # read and check alignment
    t1 = time.perf_counter()
    ref_counts = {s: len(_lines_of(corp, ref, s)) for s in corp.splits}
    if sum(ref_counts.values()) == 0:
        raise AnalysisError(f"{corp.name}: empty corpus (the reference {ref} has no lines)")
    for lang in sel:
        for s in corp.splits:
            n = len(_lines_of(corp, lang, s))
            if n != ref_counts[s]:
                raise AnalysisError(
                    f"{corp.path_of(lang, s)}: {n} lines but {corp.path_of(ref, s)} has {ref_counts[s]}: "
                    "the corpus is not line-aligned"
                )
    n_lines = sum(ref_counts.values())
    if joined:
        units = [corp.joined(lang) for lang in sel]
    else:
        units = [line for lang in sel for line in corp.lines(lang)]
    if joined:
        nbytes = np.array([len(u.encode("utf-8")) for u in units], dtype=np.int64)
        nchars = np.array([len(u) for u in units], dtype=np.int64)
    else:  # the lines' bytes and characters: the files' minus the newlines between lines
        nbytes = np.zeros(len(sel), dtype=np.int64)
        nchars = np.zeros(len(sel), dtype=np.int64)
        for j, lang in enumerate(sel):
            for s in corp.splits:
                text = corp.text(lang, s)
                nl = ref_counts[s] if text.endswith("\n") else max(ref_counts[s] - 1, 0)
                nbytes[j] += len(text.encode("utf-8")) - nl
                nchars[j] += len(text) - nl
    timings["read corpus"] = time.perf_counter() - t1

    # count
    results: list[TokenizerResult] = []
    per_line: dict[str, np.ndarray] = {}
    ri = sel.index(ref)
    rng = np.random.default_rng(seed)
    weights = None
    if not joined and bootstrap > 0:
        weights = rng.multinomial(n_lines, np.full(n_lines, 1.0 / n_lines), size=bootstrap).astype(np.float64)
    for k, tok in enumerate(loaded):
        if progress:
            progress(tok.name, k, len(loaded))
        t2 = time.perf_counter()
        counts = tok.count(units)
        secs = time.perf_counter() - t2
        timings[f"count {tok.name}"] = secs
        if joined:
            ctc = counts
        else:
            mat = counts.reshape(len(sel), n_lines)
            ctc = mat.sum(axis=1)
            if keep_counts:
                per_line[tok.name] = mat
        if ctc[ri] == 0:
            raise AnalysisError(f"{tok.name}: the reference {ref} has no tokens")
        res = TokenizerResult(
            name=tok.name,
            backend=tok.backend,
            vocab_size=tok.vocab_size,
            spec=tok.spec.raw,
            ctc=ctc,
            premium=ctc / ctc[ri],
            seconds=secs,
        )
        if not joined:
            t3 = time.perf_counter()
            ref_row = mat[ri].astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(ref_row > 0, mat / np.where(ref_row > 0, ref_row, 1), np.nan)
            st = _box_stats(r)
            res.ratio_q1, res.ratio_median, res.ratio_q3 = st["q1"], st["median"], st["q3"]
            res.ratio_lo, res.ratio_hi, res.ratio_min, res.ratio_max = st["lo"], st["hi"], st["min"], st["max"]
            if weights is not None:
                sums = mat.astype(np.float64) @ weights.T  # (L, B)
                boot = sums / sums[ri]
                a = (1 - ci) / 2
                res.ci_low, res.ci_high = np.quantile(boot, [a, 1 - a], axis=1)
            else:
                res.ci_low, res.ci_high = res.premium.copy(), res.premium.copy()
            timings[f"statistics {tok.name}"] = time.perf_counter() - t3
        if prices is not None:
            for key in (tok.name, tok.spec.raw, tok.spec.label):
                if key in prices:
                    res.price = prices[key]
                    break
        results.append(res)
    if progress:
        progress("", len(loaded), len(loaded))

    # compressors
    compressed: dict[str, np.ndarray] = {}
    if comps:
        t4 = time.perf_counter()
        if compress_every <= 1:
            blobs = [corp.raw(lang).encode("utf-8") for lang in sel]
        else:  # the same lines in every language: 1 in `compress_every`
            blobs = ["\n".join(corp.lines(lang)[::compress_every]).encode("utf-8") for lang in sel]
        for c in comps:
            if progress:
                progress(c.label, len(loaded), len(loaded))
            compressed[c.label] = np.asarray(c.sizes(blobs, threads=threads), dtype=np.int64)
        timings["compress"] = time.perf_counter() - t4
    timings["total"] = time.perf_counter() - t0
    return PremiumReport(
        corpus=corp.name,
        source=corp.source,
        splits=list(corp.splits),
        mode="joined" if joined else "lines",
        ref=ref,
        langs=sel,
        n_lines=n_lines,
        bytes=nbytes,
        chars=nchars,
        compressors=list(compressed),
        compressed=compressed,
        compress_every=compress_every,
        tokenizers=results,
        bootstrap=bootstrap,
        ci=ci,
        seed=seed,
        timings=timings,
        per_line=per_line if keep_counts else None,
    )


def _lines_of(corp: ParallelCorpus, lang: str, split: str) -> list[str]:
    return corp.split_lines(lang, split)
