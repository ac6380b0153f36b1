"""General-purpose compressors as information estimates: `gzip`, `xz`, `zstd`, each with an optional level
(`zstd:19`, `xz:9`, `gzip:6`)."""

from __future__ import annotations

import gzip
import lzma
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from toksmith.errors import AnalysisError

DEFAULT_LEVELS = {"gzip": 9, "xz": 6, "zstd": 19}
LEVEL_RANGES = {"gzip": (0, 9), "xz": (0, 9), "zstd": (1, 22)}


@dataclass(frozen=True)
class Compressor:
    name: str
    level: int

    @property
    def label(self) -> str:
        return f"{self.name}-{self.level}"

    def function(self) -> Callable[[bytes], int]:
        lvl = self.level
        if self.name == "gzip":
            return lambda b: len(gzip.compress(b, compresslevel=lvl, mtime=0))
        if self.name == "xz":
            return lambda b: len(lzma.compress(b, format=lzma.FORMAT_XZ, preset=lvl))
        if self.name == "zstd":
            import zstandard

            # a ZstdCompressor is not thread-safe: one per call (cheap)
            return lambda b: len(zstandard.ZstdCompressor(level=lvl).compress(b))
        raise AnalysisError(f"unknown compressor {self.name!r}")

    def sizes(self, blobs: Sequence[bytes], threads: int | None = None) -> list[int]:
        """Compressed sizes of each blob (blobs compressed independently, in parallel threads)."""
        f = self.function()
        n = threads or os.cpu_count() or 1
        if n <= 1 or len(blobs) <= 1:
            return [f(b) for b in blobs]
        with ThreadPoolExecutor(max_workers=n) as ex:
            return list(ex.map(f, blobs))


def parse_compressors(
    spec: str | Sequence[str] | None, default_levels: dict[str, int] | None = None
) -> list[Compressor]:
    """`zstd,xz:9` → [Compressor('zstd', 19), Compressor('xz', 9)]; `none` or empty → []."""
    levels = dict(DEFAULT_LEVELS, **(default_levels or {}))
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[Compressor] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip().lower()
            if not part or part == "none":
                continue
            name, _, lvl = part.partition(":")
            if name == "gz":
                name = "gzip"
            if name not in DEFAULT_LEVELS:
                raise AnalysisError(f"unknown compressor {name!r} (gzip, xz, zstd, or none)")
            try:
                level = int(lvl) if lvl else levels[name]
            except ValueError:
                raise AnalysisError(f"compressor level must be an integer: {part!r}") from None
            lo, hi = LEVEL_RANGES[name]
            if not lo <= level <= hi:
                raise AnalysisError(f"{name} level must be in {lo}..{hi}: {part!r}")
            c = Compressor(name, level)
            if c not in out:
                out.append(c)
    return out
