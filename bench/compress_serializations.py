#!/usr/bin/env python3
"""How the writing of a token-id stream changes its compressed size (issue 3, compression-aware BPE).

Trains on gutenberg-en train-00 at vocabulary V with each given objective (bpe = plain frequency BPE, mdl, lz),
encodes ``heldout.txt`` and writes the ids five ways: little-endian u16, big-endian u16, LEB128 of the id, LEB128 of
the token's frequency rank in the stream (the rank table itself not counted), decimal text. Prints "vs raw" (1 -
compressed ids / compressed raw UTF-8) with gzip -9 and zstd -19, in percent.

    python bench/compress_serializations.py 1024 bpe mdl lz
"""

from __future__ import annotations

import collections
import gzip
import sys
from pathlib import Path

import zstandard

import toksmith
from toksmith.corpora import find_shared


def gz(b: bytes) -> int:
    return len(gzip.compress(b, 9))


def zs(b: bytes) -> int:
    return len(zstandard.ZstdCompressor(level=19).compress(b))


def leb128(x: int) -> bytes:
    out = bytearray()
    while True:
        b, x = x & 0x7F, x >> 7
        out.append(b | 0x80 if x else b)
        if not x:
            return bytes(out)


def main() -> None:
    corpus = find_shared() / "corpora" / "gutenberg-en"
    held = (corpus / "heldout.txt").read_text(encoding="utf-8")
    raw = held.encode("utf-8")
    ref = {"gz": gz(raw), "zs": zs(raw)}
    vocab = int(sys.argv[1])
    for method in sys.argv[2:]:
        kw: dict = {"vocab_size": vocab}
        if method != "bpe":
            kw.update(algorithm="compress", objective=method)
        tok = toksmith.train([str(Path(corpus) / "train-00.txt.zst")], **kw)
        ids = tok.encode(held, added_tokens=False)
        rank = {t: r for r, (t, _) in enumerate(collections.Counter(ids).most_common())}
        writings = {
            "u16le": b"".join(i.to_bytes(2, "little") for i in ids),
            "u16be": b"".join(i.to_bytes(2, "big") for i in ids),
            "leb_id": b"".join(leb128(i) for i in ids),
            "leb_rank": b"".join(leb128(rank[i]) for i in ids),
            "text": " ".join(map(str, ids)).encode(),
        }
        cells = " ".join(
            f"{k}: gz {100 * (1 - gz(v) / ref['gz']):.2f}% zs {100 * (1 - zs(v) / ref['zs']):.2f}%"
            for k, v in writings.items()
        )
        print(f"{method} {vocab} B/tok {len(raw) / len(ids):.3f} {cells}", flush=True)


if __name__ == "__main__":
    main()
