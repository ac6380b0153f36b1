"""Parallel corpora for `premium` (FLORES-200 zip or folders of line-aligned per-language files) and plain text
corpora for `analyze`.

Lines are the file's text split at `\\n`; only the empty string after a final newline is dropped. Nothing else is
stripped: FLORES-200 lines that start or end with whitespace keep it (the published counts need it).
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from toksmith.errors import AnalysisError

FLORES_SPLITS = ("dev", "devtest")
_FLORES_RE = re.compile(r"(?:^|/)(dev|devtest)/([^/]+)\.(dev|devtest)$")


def split_lines(text: str) -> list[str]:
    """The lines of a file's text: split at `\\n`, the empty piece after a final newline dropped, nothing stripped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def decode(data: bytes) -> str:
    """UTF-8 text; invalid sequences become U+FFFD (the project's policy for input text)."""
    return data.decode("utf-8", errors="replace")


@dataclass
class ParallelCorpus:
    """Languages × splits of line-aligned text. `files[(lang, split)]` is where each text comes from."""

    name: str
    source: str
    splits: list[str]
    files: dict[tuple[str, str], str]
    layout: str  # "flores" (dev/devtest folders) or "flat" (one file per language)
    _zip: Optional[zipfile.ZipFile] = field(default=None, repr=False)
    _cache: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _lines: dict[tuple[str, str], list[str]] = field(default_factory=dict, repr=False)

    @property
    def langs(self) -> list[str]:
        return sorted({lang for lang, _ in self.files})

    def path_of(self, lang: str, split: str) -> str:
        return self.files[(lang, split)]

    def text(self, lang: str, split: str) -> str:
        key = (lang, split)
        if key not in self._cache:
            if key not in self.files:
                raise AnalysisError(f"{self.name}: no {split} file for language {lang!r}")
            where = self.files[key]
            try:
                if self._zip is not None:
                    data = self._zip.read(where)
                else:
                    data = Path(where).read_bytes()
            except (OSError, KeyError, zipfile.BadZipFile) as e:
                raise AnalysisError(f"{self.name}: cannot read {where}: {e}") from None
            self._cache[key] = decode(data)
        return self._cache[key]

    def split_lines(self, lang: str, split: str) -> list[str]:
        key = (lang, split)
        if key not in self._lines:
            self._lines[key] = split_lines(self.text(lang, split))
        return self._lines[key]

    def lines(self, lang: str) -> list[str]:
        """All lines of a language, split after split (dev lines, then devtest lines)."""
        out: list[str] = []
        for s in self.splits:
            out.extend(self.split_lines(lang, s))
        return out

    def joined(self, lang: str) -> str:
        """One text per language, as in Petrov et al. (2023): each split's file text split at `\\n` (keeping the
        empty piece after the final newline) and all pieces joined with single spaces. With FLORES-200's trailing
        newlines this leaves two spaces between dev and devtest and one at the end; the published counts need it."""
        pieces: list[str] = []
        for s in self.splits:
            pieces.extend(self.text(lang, s).split("\n"))
        return " ".join(pieces)

    def raw(self, lang: str) -> str:
        """The language's text as stored (splits concatenated): what the compressors see."""
        return "".join(self.text(lang, s) for s in self.splits)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None


def flores_zip_path() -> Path:
    from toksmith.corpora.registry import find_shared

    env = os.environ.get("TOKSMITH_FLORES")
    if env:
        return Path(env)
    s = find_shared()
    if s is None:
        raise AnalysisError(
            "FLORES-200 was not found: the shared data folder is missing (set TOKSMITH_SHARED, or TOKSMITH_FLORES "
            "to flores200.zip, or pass --corpus PATH)"
        )
    return s / "corpora" / "flores200" / "flores200.zip"


def _pick_splits(available: list[str], split: str, name: str) -> list[str]:
    if split == "both":
        return list(available)
    if split not in available:
        raise AnalysisError(f"{name}: no {split!r} split (has {', '.join(available)})")
    return [split]


def open_parallel(corpus: str | os.PathLike = "flores200", split: str = "both") -> ParallelCorpus:
    """Open FLORES-200 (`flores200`: the shared zip), a zip or folder in the FLORES layout (`dev/<lang>.dev`,
    `devtest/<lang>.devtest`), or a folder of per-language files (`<lang>.<anything>`, one split `all`)."""
    if split not in ("dev", "devtest", "both"):
        raise AnalysisError(f"unknown split {split!r} (dev, devtest or both)")
    name = str(corpus)
    p = flores_zip_path() if name in ("flores200", "flores-200", "flores") else Path(corpus)
    if not p.exists():
        raise AnalysisError(f"no such corpus: {p}")
    if p.is_file():
        if not zipfile.is_zipfile(p):
            raise AnalysisError(f"{p}: a parallel corpus is a folder of per-language files or a FLORES-style zip")
        z = zipfile.ZipFile(p)
        files: dict[tuple[str, str], str] = {}
        for n in z.namelist():
            m = _FLORES_RE.search(n)
            if m and m.group(1) == m.group(3):
                files[(m.group(2), m.group(1))] = n
        if not files:
            z.close()
            raise AnalysisError(f"{p}: empty corpus (no dev/<lang>.dev or devtest/<lang>.devtest files in the zip)")
        avail = [s for s in FLORES_SPLITS if any(k[1] == s for k in files)]
        splits = _pick_splits(avail, split, str(p))
        files = {k: v for k, v in files.items() if k[1] in splits}
        _check_split_sets(files, splits, str(p))
        return ParallelCorpus(name, str(p), splits, files, "flores", _zip=z)
    # a folder
    sub = [s for s in FLORES_SPLITS if (p / s).is_dir()]
    if sub:
        files = {}
        for s in sub:
            for f in sorted((p / s).iterdir()):
                if f.is_file() and f.name.endswith(f".{s}") and not f.name.startswith("."):
                    files[(f.name[: -len(s) - 1], s)] = str(f)
        if not files:
            raise AnalysisError(f"{p}: empty corpus (no <lang>.dev / <lang>.devtest files)")
        splits = _pick_splits(sub, split, str(p))
        files = {k: v for k, v in files.items() if k[1] in splits}
        _check_split_sets(files, splits, str(p))
        return ParallelCorpus(name, str(p), splits, files, "flores")
    if split != "both":
        raise AnalysisError(f"{p}: --split {split} needs a FLORES-style corpus with dev/ and devtest/ folders")
    files = {}
    for f in sorted(p.iterdir()):
        if not f.is_file() or f.name.startswith("."):
            continue
        lang = f.name.split(".")[0]
        if (lang, "all") in files:
            raise AnalysisError(f"{p}: two files for language {lang!r}: {Path(files[(lang, 'all')]).name}, {f.name}")
        files[(lang, "all")] = str(f)
    if not files:
        raise AnalysisError(f"{p}: empty corpus (no files)")
    return ParallelCorpus(name, str(p), ["all"], files, "flat")


def _check_split_sets(files: dict[tuple[str, str], str], splits: list[str], name: str) -> None:
    langs = {lang for lang, _ in files}
    for s in splits:
        have = {lang for lang, sp in files if sp == s}
        missing = sorted(langs - have)
        if missing:
            raise AnalysisError(f"{name}: language {missing[0]!r} has no {s} file")


def read_segments(inputs: list[str | os.PathLike], text_field: str = "text") -> list[str]:
    """The text of `analyze` corpus inputs (files, folders, globs; plain, .gz, .zst, .xz, .jsonl, .parquet) as
    segments: every document split at `\\n`, empty lines dropped, nothing stripped."""
    from toksmith.corpora.loaders import expand_inputs, iter_documents

    if not inputs:
        raise AnalysisError("no corpus given")
    out: list[str] = []
    for f in expand_inputs(inputs):
        for doc in iter_documents(f, text_field):
            out.extend(x for x in doc.split("\n") if x)
    if not out:
        raise AnalysisError(f"empty corpus: {', '.join(map(str, inputs))} holds no text")
    return out
