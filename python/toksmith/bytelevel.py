"""GPT-2's byte-level alphabet: the printable stand-in character of every byte in byte-level `tokenizer.json`
files (`Ġ` for the space, ...), shared by the analysis loaders, `ByteLM` and the transplant vocabularies."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[int, str], ...]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return tuple((b, chr(c)) for b, c in zip(bs, cs))


def bytes_to_unicode() -> dict[int, str]:
    """Byte -> printable character (GPT-2's `bytes_to_unicode`)."""
    return dict(_table())


def unicode_to_bytes() -> dict[str, int]:
    """Printable character -> byte (the inverse map)."""
    return {c: b for b, c in _table()}
