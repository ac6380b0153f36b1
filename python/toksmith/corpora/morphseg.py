"""SIGMORPHON 2022 word-level morpheme segmentation files (`word<TAB>morph @@morph ...[<TAB>class]`).

A morph written `@@xyz` continues the word of the morph before it; a morph without `@@` after a space starts a new
orthographic component (`mouth harpist → mouth harp @@ist`). Most entries are *canonical*: the morphs are
underlying forms that do not concatenate back to the word (`inaccuracies → in @@accurate @@cy @@s`). An entry is
*surface* when deleting every `" @@"` from its segmentation gives back the word exactly (the shared data README's
test); only surface entries have morph boundaries at positions of the word, so only they are scored on boundaries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from toksmith.errors import CorpusError


@dataclass(frozen=True)
class MorphEntry:
    """One line: the word, its morphs (markers removed) grouped by orthographic component, the class flags."""

    word: str
    components: tuple[tuple[str, ...], ...]
    cls: Optional[str] = None

    @property
    def morphs(self) -> tuple[str, ...]:
        return tuple(m for c in self.components for m in c)

    @property
    def surface(self) -> bool:
        """True when the morphs spell the word: components joined by single spaces, morphs inside a component
        joined by nothing (the README's `seg.replace(" @@", "") == word`)."""
        return " ".join("".join(c) for c in self.components) == self.word

    def surface_parts(self) -> list[tuple[str, tuple[str, ...]]]:
        """(component, its morphs) for each orthographic component of a surface entry; [] for a canonical one."""
        if not self.surface:
            return []
        return [("".join(c), c) for c in self.components]


def parse_segmentation(seg: str) -> tuple[tuple[str, ...], ...]:
    """`"mouth harp @@ist"` → `(("mouth",), ("harp", "ist"))`. Runs of spaces count as one (`str.split()`); a
    leading `@@` morph (ten English lines do this) starts the first component; a bare `@@` is dropped."""
    comps: list[list[str]] = []
    for piece in seg.split():
        if piece.startswith("@@"):
            m = piece[2:]
            if not m:  # a bare '@@' (one Mongolian dev line): an empty morph, dropped
                continue
            if comps:
                comps[-1].append(m)
            else:
                comps.append([m])
        else:
            comps.append([piece])
    if not comps:
        raise ValueError("empty segmentation")
    return tuple(tuple(c) for c in comps)


def iter_morphseg(path: str | os.PathLike) -> Iterator[MorphEntry]:
    """Entries of a SIGMORPHON 2022 word-level file; `CorpusError` (file and line) on a malformed line."""
    p = Path(path)
    try:
        f = open(p, encoding="utf-8")
    except OSError as e:
        raise CorpusError(f"cannot read morph-segmentation file {p}: {e.strerror or e}") from None
    with f:
        try:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) < 2 or len(fields) > 3 or not fields[0]:
                    raise CorpusError(f"{p}:{n}: expected 'word<TAB>morph @@morph ...[<TAB>class]', got {line[:80]!r}")
                try:
                    comps = parse_segmentation(fields[1])
                except ValueError as e:
                    raise CorpusError(f"{p}:{n}: {e}: {line[:80]!r}") from None
                yield MorphEntry(fields[0], comps, fields[2] if len(fields) == 3 else None)
        except UnicodeDecodeError as e:
            raise CorpusError(f"{p}: not UTF-8 ({e.reason} at byte {e.start})") from None


def read_morphseg(path: str | os.PathLike, limit: Optional[int] = None) -> list[MorphEntry]:
    """All entries (the first `limit`); `CorpusError` when the file is missing, malformed or empty."""
    out: list[MorphEntry] = []
    for e in iter_morphseg(path):
        out.append(e)
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise CorpusError(f"{path}: no segmentations")
    return out


def surface_subset(entries: Sequence[MorphEntry]) -> list[MorphEntry]:
    return [e for e in entries if e.surface]


def shared_morphseg(lang: str, split: str = "dev") -> Path:
    """`<shared>/corpora/morph-seg/<lang>.word.<split>.tsv`; `CorpusError` when it is not there."""
    from toksmith.corpora.registry import find_shared

    s = find_shared()
    if s is None:
        raise CorpusError("the shared data folder was not found (set TOKSMITH_SHARED to the folder holding corpora/)")
    p = s / "corpora" / "morph-seg" / f"{lang}.word.{split}.tsv"
    if not p.is_file():
        raise CorpusError(f"{p} is missing")
    return p
