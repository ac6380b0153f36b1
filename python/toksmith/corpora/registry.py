"""Named corpora. `python-stdlib` ships with every Python installation and is the offline default; the
others come from the project's shared data folder when it is present."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toksmith.errors import CorpusError


def find_shared() -> Path | None:
    """The shared data folder: `$TOKSMITH_SHARED`, or a `shared/` folder beside the current folder or any of
    its parents (the layout of a checkout next to the data)."""
    env = os.environ.get("TOKSMITH_SHARED")
    if env:
        return Path(env) if Path(env).is_dir() else None
    here = Path.cwd().resolve()
    for d in [here, *here.parents]:
        for cand in (d / "shared", d.parent / "shared"):
            if (cand / "corpora").is_dir():
                return cand
    return None


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files: list[Path] = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x not in ("site-packages", "__pycache__", "dist-packages")]
        files.extend(Path(d) / n for n in names if n.endswith((".py", ".txt", ".rst")))
    return sorted(files)


def _shared_files(*rel: str) -> Callable[[], list[Path]]:
    def get() -> list[Path]:
        s = find_shared()
        if s is None:
            raise CorpusError(
                "the shared data folder was not found (set TOKSMITH_SHARED to the folder holding corpora/)"
            )
        out: list[Path] = []
        for r in rel:
            matches = sorted((s / "corpora").glob(r))
            if not matches:
                raise CorpusError(f"{s / 'corpora' / r} is missing")
            out.extend(matches)
        return out

    return get


@dataclass(frozen=True)
class NamedCorpus:
    name: str
    description: str
    files: Callable[[], list[Path]]


REGISTRY: dict[str, NamedCorpus] = {
    c.name: c
    for c in [
        NamedCorpus(
            "python-stdlib",
            "the running Python's standard library source and text files (offline, always present)",
            _stdlib_files,
        ),
        NamedCorpus(
            "gutenberg-en",
            "English Project Gutenberg books, 8 zstd shards of 32 MiB (shared/corpora/gutenberg-en)",
            _shared_files("gutenberg-en/train-*.txt.zst"),
        ),
        NamedCorpus(
            "gutenberg-en-00",
            "the first 32 MiB shard of gutenberg-en",
            _shared_files("gutenberg-en/train-00.txt.zst"),
        ),
        NamedCorpus(
            "gutenberg-en-heldout",
            "4 MiB of held-out Gutenberg books (no book in the training shards)",
            _shared_files("gutenberg-en/heldout.txt"),
        ),
    ]
}


def default_corpus() -> NamedCorpus:
    return REGISTRY["python-stdlib"]


def resolve(name: str) -> list[Path]:
    """Files of a named corpus."""
    if name not in REGISTRY:
        raise CorpusError(f"unknown corpus {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[name].files()
