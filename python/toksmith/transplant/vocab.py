"""Canonical bytes and word-start status of every token of a vocabulary, and anchor matching.

Every token is decoded to the exact bytes it stands for in running text:

* byte-level BPE (`ByteLevel` pre-tokenizer/decoder): the GPT-2 byte map is undone (`Ġthe` -> b" the");
* SentencePiece style (`Metaspace`, or a `▁` replace in the normaliser/decoder): `▁` -> space, `<0xNN>` byte
  fallback pieces -> that one byte;
* WordPiece: `##ing` is a continuation (b"ing"); a word-start piece that begins with a letter or digit stands
  for a word after a space (b" the"), a punctuation or CJK piece for itself;
* tiktoken rank files: the bytes themselves.

A token is a word start when its canonical bytes begin with a space. Special (control) tokens have no bytes;
they are matched by content and by role (see `specials.py`). Two vocabularies share a token when the canonical
bytes are equal (`match_anchors`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from toksmith.bytelevel import unicode_to_bytes
from toksmith.errors import TransplantError

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def gpt2_byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's `bytes_to_unicode` map (printable stand-in character -> byte)."""
    return unicode_to_bytes()


_BYTE_DEC = gpt2_byte_decoder()


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


@dataclass
class Vocab:
    """One vocabulary in canonical form. `tokens[i]` is the canonical bytes of id i (None for special tokens and
    for ids no token uses); `raw[i]` the token string as stored; `specials` maps special ids to their content."""

    kind: str  # byte-level | metaspace | wordpiece | tiktoken | other
    tokens: list[Optional[bytes]]
    raw: list[Optional[str]]
    specials: dict[int, str] = field(default_factory=dict)
    lowercase: bool = False  # the tokenizer lower-cases its input (uncased WordPiece)

    @property
    def size(self) -> int:
        return len(self.tokens)

    def word_start(self, i: int) -> bool:
        t = self.tokens[i]
        return bool(t) and t[:1] == b" "

    def ids(self) -> Iterator[int]:
        return (i for i, t in enumerate(self.tokens) if t is not None)

    def lookup(self) -> dict[bytes, int]:
        """Canonical bytes -> id (the first id when several tokens have the same bytes)."""
        out: dict[bytes, int] = {}
        for i, t in enumerate(self.tokens):
            if t is not None and t not in out:
                out[t] = i
        return out


def _components(obj: Any) -> Iterator[dict]:
    """Every component dict of a tokenizer.json pipeline part, Sequences flattened."""
    if isinstance(obj, dict):
        yield obj
        for key in ("pretokenizers", "normalizers", "decoders", "processors"):
            for sub in obj.get(key) or []:
                yield from _components(sub)


def _kind(spec: dict) -> str:
    model = spec.get("model") or {}
    parts = [spec.get(k) for k in ("normalizer", "pre_tokenizer", "decoder", "post_processor")]
    types = [c.get("type") for p in parts for c in _components(p)]
    if model.get("type") == "WordPiece":
        return "wordpiece"
    if "ByteLevel" in types:
        return "byte-level"
    if "Metaspace" in types:
        return "metaspace"
    for p in parts:
        for c in _components(p):
            if c.get("type") == "Replace" and "▁" in json.dumps(c, ensure_ascii=False):
                return "metaspace"
    return "other"


def _lowercases(spec: dict) -> bool:
    for c in _components(spec.get("normalizer")):
        if c.get("type") == "Lowercase" or (c.get("type") == "BertNormalizer" and c.get("lowercase")):
            return True
    return False


def canonical(token: str, kind: str, continuing_prefix: str = "##") -> Optional[bytes]:
    """Canonical bytes of one (non-special) token string of a vocabulary of `kind`."""
    if kind == "byte-level":
        try:
            return bytes(_BYTE_DEC[c] for c in token)
        except KeyError:  # a token outside the byte alphabet (an added plain-text token)
            return token.encode("utf-8")
    if kind == "metaspace":
        m = _BYTE_FALLBACK.match(token)
        if m:
            return bytes([int(m.group(1), 16)])
        return token.replace("▁", " ").encode("utf-8")
    if kind == "wordpiece":
        if continuing_prefix and token.startswith(continuing_prefix) and len(token) > len(continuing_prefix):
            return token[len(continuing_prefix) :].encode("utf-8")
        first = token[:1]
        if first and first.isalnum() and not _is_cjk(first):
            return b" " + token.encode("utf-8")
        return token.encode("utf-8")
    return token.encode("utf-8")


def vocab_from_json(spec: dict) -> Vocab:
    """A `Vocab` from a parsed Hugging Face `tokenizer.json`."""
    model = spec.get("model") or {}
    kind = _kind(spec)
    raw_vocab = model.get("vocab")
    if isinstance(raw_vocab, dict):
        pairs = [(int(i), t) for t, i in raw_vocab.items()]
    elif isinstance(raw_vocab, list):  # Unigram: [[piece, score], ...]
        pairs = [(i, p[0]) for i, p in enumerate(raw_vocab)]
    else:
        raise TransplantError("tokenizer.json has no model vocabulary")
    added = spec.get("added_tokens") or []
    n = max([i for i, _ in pairs] + [int(a["id"]) for a in added] + [-1]) + 1
    if n > 10_000_000:
        raise TransplantError(f"tokenizer.json uses id {n - 1}: out of range")
    tokens: list[Optional[bytes]] = [None] * n
    raw: list[Optional[str]] = [None] * n
    prefix = model.get("continuing_subword_prefix") or "##"
    for i, t in pairs:
        if i < 0:
            raise TransplantError(f"tokenizer.json has a negative id ({i}) for {t!r}")
        raw[i] = t
        tokens[i] = canonical(t, kind, prefix)
    specials: dict[int, str] = {}
    for a in added:
        i, content = int(a["id"]), a["content"]
        raw[i] = content
        if a.get("special", False):
            specials[i] = content
            tokens[i] = None
        else:
            tokens[i] = content.encode("utf-8") if tokens[i] is None else tokens[i]
    return Vocab(kind=kind, tokens=tokens, raw=raw, specials=specials, lowercase=_lowercases(spec))


def vocab_from_tiktoken_ranks(ranks: dict[bytes, int], specials: dict[str, int]) -> Vocab:
    n = max(list(ranks.values()) + list(specials.values()) + [-1]) + 1
    tokens: list[Optional[bytes]] = [None] * n
    raw: list[Optional[str]] = [None] * n
    for b, i in ranks.items():
        tokens[i] = b
        raw[i] = b.decode("utf-8", errors="backslashreplace")
    for s, i in specials.items():
        tokens[i] = None
        raw[i] = s
    return Vocab(kind="tiktoken", tokens=tokens, raw=raw, specials={i: s for s, i in specials.items()})


@dataclass
class Matching:
    """Anchors between a new and an old vocabulary: `pairs` (new id, old id) with equal canonical bytes;
    `unmatched` new ids with bytes that the old vocabulary lacks."""

    pairs: list[tuple[int, int]]
    unmatched: list[int]

    @property
    def new_ids(self) -> list[int]:
        return [a for a, _ in self.pairs]

    @property
    def old_ids(self) -> list[int]:
        return [b for _, b in self.pairs]


def match_anchors(new: Vocab, old: Vocab, old_limit: Optional[int] = None) -> Matching:
    """Match every non-special new token to the old token with the same canonical bytes. When several old
    tokens have the same bytes, the one with the same id and string wins (so a vocabulary matched against
    itself maps every id to itself), then the lowest id. Old ids >= `old_limit` (rows the model lacks) are
    never anchors."""
    by_bytes: dict[bytes, list[int]] = {}
    for i, t in enumerate(old.tokens):
        if t is None or (old_limit is not None and i >= old_limit):
            continue
        by_bytes.setdefault(t, []).append(i)
    pairs: list[tuple[int, int]] = []
    unmatched: list[int] = []
    for i, t in enumerate(new.tokens):
        if t is None:
            continue
        cands = by_bytes.get(t)
        if not cands:
            unmatched.append(i)
            continue
        best = cands[0]
        if len(cands) > 1:
            for c in cands:
                if c == i and old.raw[c] == new.raw[i]:
                    best = c
                    break
        pairs.append((i, best))
    return Matching(pairs=pairs, unmatched=unmatched)


def bert_normalize(text: str, lowercase: bool = True) -> str:
    """BERT's normaliser without the CJK spacing: control characters dropped, whitespace made spaces, then
    (uncased) lower case, NFD and combining marks removed. Keeps the byte count of the evaluated text honest
    when a model's tokenizer lower-cases."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            out.append(" ")
        elif cat.startswith("C"):
            continue
        else:
            out.append(ch)
    s = "".join(out)
    if lowercase:
        s = "".join(c for c in unicodedata.normalize("NFD", s.lower()) if unicodedata.category(c) != "Mn")
    return s
