"""Reference data and helpers for the test suite (not a test module).

Everything here is independent of toksmith's own code: the split patterns are copied from
`shared/tokenizers/README.md` (tiktoken 0.14.0 spellings) and the brief, and the tiktoken encodings are
built with tiktoken itself. The worker functions at the bottom run in a process pool (see `conftest.py`)
so that the FLORES-200 sweeps use every core; they return mismatches, never raise.
"""

from __future__ import annotations

import functools
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import regex
import tiktoken
from tiktoken.load import load_tiktoken_bpe

import toksmith

# --------------------------------------------------------------------------------------------------------
# Reference split patterns
# --------------------------------------------------------------------------------------------------------
GPT2_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
LLAMA3_PAT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+"
)
WHITESPACE_PAT = r" ?\S+|\s+(?!\S)|\s+"
# Whisper's pattern (README); the classic GPT-2 spelling, same meaning as GPT2_PAT.
WHISPER_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# Preset name -> reference regex (None: no split).
PRESET_PATTERNS: dict[str, Optional[str]] = {
    "gpt2": GPT2_PAT,
    "cl100k": CL100K_PAT,
    "o200k": O200K_PAT,
    "llama3": LLAMA3_PAT,
    "whitespace": WHITESPACE_PAT,
    "none": None,
}
SPLIT_PRESETS = [p for p, pat in PRESET_PATTERNS.items() if pat is not None]


@functools.cache
def compiled(pattern: str) -> regex.Pattern:
    return regex.compile(pattern)


def _is_digit_char(c: str) -> bool:
    # HF `Digits(individual_digits=True)` splits on Rust's `char::is_numeric`: categories Nd, Nl, No.
    return unicodedata.category(c) in ("Nd", "Nl", "No")


def reference_split(spec: str, text: str) -> list[str]:
    """What a pre-tokenizer spec (`preset`, `digits+preset`, `regex:PAT`) should produce, computed with
    Python's `regex` module."""
    digits = spec.startswith("digits+")
    base = spec[len("digits+") :] if digits else spec
    pattern = base[len("regex:") :] if base.startswith("regex:") else PRESET_PATTERNS[base]

    def split_base(s: str) -> list[str]:
        if not s:
            return []
        if pattern is None:
            return [s]
        return [m for m in compiled(pattern).findall(s) if m]

    if not digits:
        return split_base(text)
    out: list[str] = []
    seg = 0
    for i, c in enumerate(text):
        if _is_digit_char(c):
            out += split_base(text[seg:i])
            out.append(c)
            seg = i + 1
    out += split_base(text[seg:])
    return out


# --------------------------------------------------------------------------------------------------------
# tiktoken encodings, exactly as in shared/tokenizers/README.md
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TiktokenSpec:
    file: str
    pattern: str
    special_tokens: dict[str, int]
    explicit_n_vocab: Optional[int] = None

    def __hash__(self) -> int:
        return hash(self.file)


TIKTOKEN_SPECS: dict[str, TiktokenSpec] = {
    "cl100k_base": TiktokenSpec(
        "cl100k_base.tiktoken",
        CL100K_PAT,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": TiktokenSpec("o200k_base.tiktoken", O200K_PAT, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
    "gpt2": TiktokenSpec("gpt2.tiktoken", GPT2_PAT, {"<|endoftext|>": 50256}, 50257),
}


@functools.cache
def tiktoken_encoding(tokenizers_dir: str, name: str) -> tiktoken.Encoding:
    spec = TIKTOKEN_SPECS[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=spec.pattern,
        mergeable_ranks=load_tiktoken_bpe(str(Path(tokenizers_dir) / spec.file)),
        special_tokens=dict(spec.special_tokens),
        explicit_n_vocab=spec.explicit_n_vocab,
    )


@functools.cache
def toksmith_tiktoken(tokenizers_dir: str, name: str) -> toksmith.Tokenizer:
    return toksmith.Tokenizer.from_tiktoken(Path(tokenizers_dir) / TIKTOKEN_SPECS[name].file)


# --------------------------------------------------------------------------------------------------------
# FLORES-200
# --------------------------------------------------------------------------------------------------------
FLORES_LANGS = 204
FLORES_LINES = {"dev": 997, "devtest": 1012}
# ~20 languages covering many scripts and segmentation styles (no spaces, marks, RTL, ...).
DIVERSE_LANGS = [
    "eng_Latn", "fra_Latn", "deu_Latn", "vie_Latn", "tur_Latn", "rus_Cyrl", "ell_Grek", "heb_Hebr",
    "arb_Arab", "hin_Deva", "ben_Beng", "tam_Taml", "tha_Thai", "mya_Mymr", "khm_Khmr", "kat_Geor",
    "amh_Ethi", "zho_Hans", "jpn_Jpan", "kor_Hang", "yue_Hant", "bod_Tibt", "sat_Olck",
]  # fmt: skip


def flores_members(zip_path: str | Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as z:
        return sorted(n for n in z.namelist() if not n.endswith("/"))


def read_member(z: zipfile.ZipFile, name: str) -> str:
    return z.read(name).decode("utf-8")


def member_lines(text: str) -> list[str]:
    """Lines of a FLORES file (each ends in a newline; the README guarantees no other line breaks)."""
    assert text.endswith("\n")
    return text[:-1].split("\n")


def iter_flores(zip_path: str | Path, members: Sequence[str]) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(zip_path) as z:
        for m in members:
            yield m, read_member(z, m)


def chunked(seq: Sequence[str], n: int) -> list[list[str]]:
    return [list(seq[i : i + n]) for i in range(0, len(seq), n)]


# --------------------------------------------------------------------------------------------------------
# Pool workers (module-level so that spawned processes can import them)
# --------------------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    files: int = 0
    lines: int = 0
    mismatches: list[tuple[str, str, str]] = field(default_factory=list)  # (member, where, detail)


def _first_diff(a: Sequence[object], b: Sequence[object]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _describe(ref: Sequence[object], got: Sequence[object]) -> str:
    i = _first_diff(ref, got)
    lo, hi = max(0, i - 2), i + 3
    return f"first difference at {i}: reference {list(ref[lo:hi])!r} vs ours {list(got[lo:hi])!r}"


def pretok_sweep(zip_path: str, members: list[str], preset: str) -> SweepResult:
    """Compare `toksmith.Pretokenizer(preset).split` with the reference regex on every line of the given
    FLORES files and on each whole file (its lines joined by newlines)."""
    pt = toksmith.Pretokenizer(preset)
    pattern = PRESET_PATTERNS[preset]
    assert pattern is not None
    findall = compiled(pattern).findall  # no preset pattern can match the empty string
    res = SweepResult()
    for m, text in iter_flores(zip_path, members):
        res.files += 1
        lines = member_lines(text)
        whole = "\n".join(lines)
        ref, got = findall(whole), pt.split(whole)
        if ref != got:
            res.mismatches.append((m, "whole file", _describe(ref, got)))
        for i, (line, ref, got) in enumerate(zip(lines, map(findall, lines), map(pt.split, lines))):
            res.lines += 1
            if ref != got:
                res.mismatches.append((m, f"line {i + 1}", f"{line!r}: {_describe(ref, got)}"))
    return res


def tiktoken_sweep(zip_path: str, members: list[str], tokenizers_dir: str, name: str) -> SweepResult:
    """Compare toksmith's ids with tiktoken's on every line of the given FLORES files, and check that
    decoding gives the line back."""
    enc = tiktoken_encoding(tokenizers_dir, name)
    tok = toksmith_tiktoken(tokenizers_dir, name)
    res = SweepResult()
    for m, text in iter_flores(zip_path, members):
        res.files += 1
        lines = member_lines(text)
        res.lines += len(lines)
        ref = enc.encode_ordinary_batch(lines, num_threads=1)
        got = tok.encode_batch(lines, threads=1)
        counts = tok.count_batch(lines, threads=1)
        for i, (line, r, g, c) in enumerate(zip(lines, ref, got, counts)):
            if r != g:
                res.mismatches.append((m, f"line {i + 1}", f"{line!r}: {_describe(r, g)}"))
            elif c != len(r):
                res.mismatches.append((m, f"line {i + 1}", f"count_batch {c} != {len(r)}"))
            elif tok.decode(g) != line:
                res.mismatches.append((m, f"line {i + 1}", "decode(encode(line)) != line"))
    return res


def run_sweep(
    pool: Executor,
    fn: Callable[..., SweepResult],
    zip_path: Path,
    members: Sequence[str],
    *args: object,
    per_task: int = 8,
) -> SweepResult:
    """Run `fn(zip_path, members_chunk, *args)` over all members in the pool and merge the results."""
    futures = [pool.submit(fn, str(zip_path), part, *args) for part in chunked(members, per_task)]
    total = SweepResult()
    for f in futures:
        r = f.result()
        total.files += r.files
        total.lines += r.lines
        total.mismatches += r.mismatches
    return total


def format_mismatches(res: SweepResult, limit: int = 8) -> str:
    head = "\n".join(f"  {m} {where}: {detail}" for m, where, detail in res.mismatches[:limit])
    return f"{len(res.mismatches)} mismatches, first ones:\n{head}"
