"""Tokenizer specs and counting adapters for `premium` and `analyze`.

A spec string names a tokenizer; `TokenizerSpec.parse` understands:

- `bytes`, `chars`: pseudo-tokenizers (UTF-8 bytes, Unicode code points);
- `PATH.tiktoken` or `tiktoken:PATH[:PATTERN]`: a tiktoken rank file (the pattern preset is known for the public
  encodings by file name: cl100k_base, o200k_base, gpt2, r50k_base, p50k_base, whisper-multilingual);
- `PATH/tokenizer.json`, a folder holding one, or `json:PATH`: a toksmith / Hugging Face `tokenizer.json`
  (counted by the Rust encoder when it can load it, else by Hugging Face `tokenizers`); `hf:PATH` forces
  Hugging Face `tokenizers`;
- `PATH.model` or `sp:PATH`: a SentencePiece model (the `sentencepiece` package);
- a bare name (`cl100k_base`, `gpt2.tiktoken`, `smollm2-135m`) that is not a path here is looked up in the shared
  data folder's `tokenizers/`;
- `LABEL=SPEC` sets the name shown in reports.

`TokenizerSpec.load()` gives a `LoadedTokenizer` with `count(texts)` (tokens per text, no special tokens added,
in parallel), `encode(texts)` (token ids) and `spans(texts)` (token ids with the UTF-8 byte range of the text each
token covers; used by the morphology metrics).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from toksmith.bytelevel import bytes_to_unicode
from toksmith.errors import AnalysisError, TokenizerFormatError

KINDS = ("bytes", "chars", "tiktoken", "json", "hf", "sentencepiece")

# Pre-tokenizer preset of each public tiktoken file, by file stem. Whisper's pattern (the original GPT-2 regex)
# splits exactly as the `gpt2` preset.
TIKTOKEN_PRESETS: dict[str, str] = {
    "cl100k_base": "cl100k",
    "o200k_base": "o200k",
    "gpt2": "gpt2",
    "r50k_base": "gpt2",
    "p50k_base": "gpt2",
    "p50k_edit": "gpt2",
    "whisper-multilingual": "gpt2",
    "multilingual": "gpt2",
    "whisper-gpt2": "gpt2",
}

Spans = list[tuple[int, int, int]]  # (token id, start byte, end byte) per token of a text

_LABEL_RE = re.compile(r"^([A-Za-z0-9_.+\-]+)=(.+)$")
_TIKTOKEN_LINE = re.compile(rb"^[A-Za-z0-9+/=]* \d+\r?$")
UNICODE_CODE_POINTS = 0x110000


def _shared_tokenizers() -> Optional[Path]:
    from toksmith.corpora.registry import find_shared

    env = os.environ.get("TOKSMITH_TOKENIZERS")
    if env:
        return Path(env)
    s = find_shared()
    return s / "tokenizers" if s is not None else None


def _looks_like_tiktoken(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return False
    return bool(_TIKTOKEN_LINE.match(first.rstrip(b"\n")))


@dataclass(frozen=True)
class TokenizerSpec:
    """A parsed tokenizer spec: what kind of tokenizer, where its file is, and the name to show."""

    kind: str
    path: Optional[str] = None
    pattern: Optional[str] = None
    label: str = ""
    raw: str = ""

    @property
    def name(self) -> str:
        return self.label or self.raw

    @classmethod
    def parse(cls, spec: str) -> TokenizerSpec:
        """Parse a spec string (see the module doc); raise `AnalysisError` for one that names nothing usable."""
        raw = spec.strip()
        if not raw:
            raise AnalysisError("empty tokenizer spec")
        label = ""
        m = _LABEL_RE.match(raw)
        if m and not Path(raw).exists():
            label, rest = m.group(1), m.group(2)
        else:
            rest = raw
        s = cls._parse_body(rest, raw)
        return cls(kind=s.kind, path=s.path, pattern=s.pattern, label=label or s.label, raw=raw)

    @classmethod
    def _parse_body(cls, rest: str, raw: str) -> TokenizerSpec:
        if rest in ("bytes", "chars"):
            return cls(kind=rest, label=rest)
        low = rest.lower()
        if low.startswith("tiktoken:"):
            body = rest[len("tiktoken:") :]
            path, pattern = cls._split_path_pattern(body, raw)
            return cls(kind="tiktoken", path=str(path), pattern=pattern, label=_stem(path))
        for prefix, kind in (
            ("sp:", "sentencepiece"),
            ("sentencepiece:", "sentencepiece"),
            ("hf:", "hf"),
            ("json:", "json"),
        ):
            if low.startswith(prefix):
                p = cls._resolve(rest[len(prefix) :], raw)
                if kind == "sentencepiece":
                    p = _sp_file(p, raw)
                else:
                    p = _json_file(p, raw)
                return cls(kind=kind, path=str(p), label=_label_of(p))
        p = cls._resolve(rest, raw, must_exist=False)
        if p is None:
            raise AnalysisError(
                f"unknown tokenizer spec {raw!r}: not a file or folder here, not a known name in the shared "
                "tokenizers folder, and not bytes/chars/tiktoken:PATH:PATTERN/sp:PATH/hf:PATH"
            )
        if p.is_dir():
            if (p / "tokenizer.json").is_file():
                return cls(kind="json", path=str(p / "tokenizer.json"), label=p.name)
            models = sorted(p.glob("*.model"))
            if len(models) == 1:
                return cls(kind="sentencepiece", path=str(models[0]), label=p.name)
            raise AnalysisError(f"tokenizer spec {raw!r}: folder {p} holds no tokenizer.json or single .model file")
        suffix = p.suffix.lower()
        if suffix == ".tiktoken" or (suffix not in (".json", ".model") and _looks_like_tiktoken(p)):
            stem = _stem(p)
            if stem not in TIKTOKEN_PRESETS:
                raise AnalysisError(
                    f"tokenizer spec {raw!r}: unknown tiktoken encoding {stem!r}; give its pre-tokenizer pattern as "
                    "tiktoken:PATH:PATTERN (e.g. cl100k, gpt2, o200k, llama3, regex:...)"
                )
            return cls(kind="tiktoken", path=str(p), pattern=TIKTOKEN_PRESETS[stem], label=stem)
        if suffix == ".model":
            return cls(kind="sentencepiece", path=str(p), label=_label_of(p))
        if suffix == ".json":
            return cls(kind="json", path=str(p), label=_label_of(p))
        raise AnalysisError(f"unknown tokenizer spec {raw!r}: cannot tell what kind of tokenizer file {p} is")

    @staticmethod
    def _resolve(rest: str, raw: str, must_exist: bool = True) -> Optional[Path]:
        p = Path(rest).expanduser()
        if p.exists():
            return p
        if not p.is_absolute():
            shared = _shared_tokenizers()
            if shared is not None:
                for cand in (shared / rest, shared / f"{rest}.tiktoken", shared / f"{rest}.model"):
                    if cand.exists():
                        return cand
        if must_exist:
            raise AnalysisError(f"tokenizer spec {raw!r}: no such file or folder: {rest}")
        return None

    @classmethod
    def _split_path_pattern(cls, body: str, raw: str) -> tuple[Path, Optional[str]]:
        """`PATH` or `PATH:PATTERN`; the pattern itself may hold colons (`regex:...`)."""
        p = cls._resolve(body, raw, must_exist=False)
        if p is not None and p.is_file():
            stem = _stem(p)
            return p, TIKTOKEN_PRESETS.get(stem) or _need_pattern(raw, stem)
        for i, ch in enumerate(body):
            if ch != ":" or i == 0:
                continue
            p = cls._resolve(body[:i], raw, must_exist=False)
            if p is not None and p.is_file():
                pattern = body[i + 1 :]
                if not pattern:
                    return p, TIKTOKEN_PRESETS.get(_stem(p)) or _need_pattern(raw, _stem(p))
                return p, pattern
        raise AnalysisError(f"tokenizer spec {raw!r}: no such tiktoken file")

    def load(self, threads: Optional[int] = None) -> LoadedTokenizer:
        return load(self, threads=threads)


def _need_pattern(raw: str, stem: str) -> str:
    raise AnalysisError(
        f"tokenizer spec {raw!r}: unknown tiktoken encoding {stem!r}; give the pattern as tiktoken:PATH:PATTERN"
    )


def _stem(p: Path | str) -> str:
    return Path(p).name.split(".")[0]


def _label_of(p: Path) -> str:
    if p.name in ("tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model"):
        return p.parent.name or p.stem
    return p.stem


def _json_file(p: Path, raw: str) -> Path:
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise AnalysisError(f"tokenizer spec {raw!r}: no such tokenizer.json: {p}")
    return p


def _sp_file(p: Path, raw: str) -> Path:
    if p.is_dir():
        models = sorted(p.glob("*.model"))
        if len(models) != 1:
            raise AnalysisError(f"tokenizer spec {raw!r}: folder {p} does not hold exactly one .model file")
        p = models[0]
    return p


# ----------------------------------------------------------------------------------------------------------------
# Loaded tokenizers


@dataclass
class LoadedTokenizer:
    """A tokenizer ready to count: `count(texts)` → tokens per text (no special tokens added), `encode(texts)` →
    token ids per text. `backend` says which implementation counts."""

    name: str
    spec: TokenizerSpec
    backend: str
    vocab_size: int
    _count: Callable[[list[str]], np.ndarray] = field(repr=False)
    _encode: Callable[[list[str]], list[np.ndarray]] = field(repr=False)
    _spans: Optional[Callable[[list[str]], list[Spans]]] = field(default=None, repr=False)

    def count(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self._count(texts), dtype=np.int64)

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        texts = list(texts)
        if not texts:
            return []
        return self._encode(texts)

    def spans(self, texts: Sequence[str]) -> list[Spans]:
        """For each text, `(id, start, end)` per token: the UTF-8 byte range of the text the token stands for
        (byte-level tokens that split a character cover part of it; a token the backend reports no range for
        covers an empty range)."""
        texts = list(texts)
        if self._spans is None:
            raise AnalysisError(f"{self.name}: this backend ({self.backend}) cannot report token byte ranges")
        return self._spans(texts) if texts else []


def load(spec: TokenizerSpec | str, threads: Optional[int] = None) -> LoadedTokenizer:
    """Load a tokenizer from a spec (string or parsed)."""
    if isinstance(spec, str):
        spec = TokenizerSpec.parse(spec)
    name = spec.name
    if spec.kind == "bytes":
        return LoadedTokenizer(name, spec, "bytes", 256, _count_bytes, _encode_bytes, _spans_bytes)
    if spec.kind == "chars":
        return LoadedTokenizer(name, spec, "chars", UNICODE_CODE_POINTS, _count_chars, _encode_chars, _spans_chars)
    if spec.kind == "tiktoken":
        from toksmith.tokenizer import Tokenizer

        try:
            tok = Tokenizer.from_tiktoken(spec.path, pattern=spec.pattern)
        except ValueError as e:  # unknown pre-tokenizer preset
            raise AnalysisError(f"tokenizer spec {spec.raw!r}: {e}") from None
        return _rust(name, spec, tok, tok.vocab_size, threads)
    if spec.kind == "json":
        return _load_json(spec, threads)
    if spec.kind == "hf":
        return _hf(spec, threads)
    if spec.kind == "sentencepiece":
        return _sentencepiece(spec, threads)
    raise AnalysisError(f"unknown tokenizer kind {spec.kind!r}")


def _count_bytes(texts: list[str]) -> np.ndarray:
    return np.fromiter((len(t.encode("utf-8", "surrogatepass")) for t in texts), dtype=np.int64, count=len(texts))


def _encode_bytes(texts: list[str]) -> list[np.ndarray]:
    return [np.frombuffer(t.encode("utf-8", "surrogatepass"), dtype=np.uint8).astype(np.int64) for t in texts]


def _spans_bytes(texts: list[str]) -> list[Spans]:
    return [[(b, i, i + 1) for i, b in enumerate(t.encode("utf-8", "surrogatepass"))] for t in texts]


def _spans_chars(texts: list[str]) -> list[Spans]:
    out = []
    for t in texts:
        sp, pos = [], 0
        for ch in t:
            n = len(ch.encode("utf-8", "surrogatepass"))
            sp.append((ord(ch), pos, pos + n))
            pos += n
        out.append(sp)
    return out


def _char_to_byte(text: str) -> list[int]:
    """Byte offset of each character offset of `text` (one more entry for the end)."""
    out = [0]
    for ch in text:
        out.append(out[-1] + len(ch.encode("utf-8", "surrogatepass")))
    return out


def _count_chars(texts: list[str]) -> np.ndarray:
    return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))


def _encode_chars(texts: list[str]) -> list[np.ndarray]:
    return [np.frombuffer(t.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64) for t in texts]


class _LazyHF:
    """The Hugging Face `tokenizers` fallback for a spec, loaded on first use (most corpora never need it)."""

    def __init__(self, spec: TokenizerSpec, threads: Optional[int]):
        self.spec, self.threads = spec, threads
        self._tok: Optional[LoadedTokenizer] = None

    def get(self) -> LoadedTokenizer:
        if self._tok is None:
            tok = _hf(self.spec, self.threads, quiet=True)
            if tok is None:
                raise AnalysisError(
                    f"tokenizer spec {self.spec.raw!r}: some texts need the `tokenizers` package (pip install "
                    "tokenizers): they hold added tokens or bytes the Rust encoder does not handle like it"
                )
            self._tok = tok
        return self._tok


def _union(*finders: Optional[Callable[[list[str]], list[int]]]) -> Optional[Callable[[list[str]], list[int]]]:
    fs = [f for f in finders if f is not None]
    if not fs:
        return None
    if len(fs) == 1:
        return fs[0]
    return lambda texts: sorted(set().union(*(f(texts) for f in fs)))


def _with_fallback(
    count_fast: Callable[[list[str]], np.ndarray],
    encode_fast: Callable[[list[str]], list[np.ndarray]],
    needs: Optional[Callable[[list[str]], list[int]]],
    fallback: Optional[_LazyHF],
) -> tuple[Callable[[list[str]], np.ndarray], Callable[[list[str]], list[np.ndarray]]]:
    """Count/encode with the fast path, then redo the texts that `needs` picks with the fallback."""
    if needs is None or fallback is None:
        return count_fast, encode_fast

    def count(texts: list[str]) -> np.ndarray:
        out = count_fast(texts)
        idx = needs(texts)
        if idx:
            out[idx] = fallback.get().count([texts[i] for i in idx])
        return out

    def encode(texts: list[str]) -> list[np.ndarray]:
        out = encode_fast(texts)
        idx = needs(texts)
        if idx:
            for i, e in zip(idx, fallback.get().encode([texts[i] for i in idx])):
                out[i] = e
        return out

    return count, encode


def _spans_with_fallback(
    fast: Callable[[list[str]], list[Spans]],
    needs: Optional[Callable[[list[str]], list[int]]],
    fallback: Optional[_LazyHF],
) -> Callable[[list[str]], list[Spans]]:
    if needs is None or fallback is None:
        return fast

    def spans(texts: list[str]) -> list[Spans]:
        out = fast(texts)
        idx = needs(texts)
        if idx:
            for i, s in zip(idx, fallback.get().spans([texts[i] for i in idx])):
                out[i] = s
        return out

    return spans


def _rust(
    name: str,
    spec: TokenizerSpec,
    tok: Any,
    vocab_size: int,
    threads: Optional[int],
    needs_fallback: Optional[Callable[[list[str]], list[int]]] = None,
    fallback: Optional[_LazyHF] = None,
) -> LoadedTokenizer:
    def count_fast(texts: list[str]) -> np.ndarray:
        return np.asarray(tok.count_batch(texts, added_tokens=False, threads=threads), dtype=np.int64)

    def encode_fast(texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(x, dtype=np.int64) for x in tok.encode_batch(texts, added_tokens=False, threads=threads)]

    lengths: dict[int, int] = {}

    def spans_fast(texts: list[str]) -> list[Spans]:
        out = []
        for text, ids in zip(texts, tok.encode_batch(texts, added_tokens=False, threads=threads)):
            for i in ids:
                if i not in lengths:
                    lengths[i] = len(tok.id_to_bytes(i) or b"")
            # SentencePiece-style tokens also spell the dummy-prefix space, which the text does not hold
            pos = len(text.encode("utf-8")) - sum(lengths[i] for i in ids)
            sp = []
            for i in ids:
                n = lengths[i]
                sp.append((int(i), max(pos, 0), pos + n))
                pos += n
            out.append(sp)
        return out

    count, encode = _with_fallback(count_fast, encode_fast, needs_fallback, fallback)
    spans = _spans_with_fallback(spans_fast, needs_fallback, fallback)
    backend = "toksmith (Rust)" if needs_fallback is None else "toksmith (Rust) + HF fallback"
    return LoadedTokenizer(name, spec, backend, vocab_size, count, encode, spans)


def _added_matcher(contents: Sequence[str], ignore_case: bool = False) -> Optional[Callable[[list[str]], list[int]]]:
    """Texts that hold an added token's text: Hugging Face matches those inside the text, so they go to it."""
    added = sorted({c for c in contents if c}, key=len, reverse=True)
    if not added:
        return None
    return _matching(re.compile("|".join(re.escape(a) for a in added), re.IGNORECASE if ignore_case else 0))


def _load_json(spec: TokenizerSpec, threads: Optional[int]) -> LoadedTokenizer:
    """Rust encoder when it loads the file (byte-level BPE, SentencePiece-style BPE with byte fallback); byte-level
    BPE files that lack some byte tokens (SmolLM2 has no token for 21 bytes, most of which never occur in UTF-8
    text) load with those bytes added under fresh ids, and the rare texts that hold such a byte are counted by
    Hugging Face `tokenizers` (which drops them); anything else (WordPiece, Unigram, normalizers, ...) goes to
    `tokenizers`."""
    from toksmith.tokenizer import Tokenizer

    path = Path(spec.path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AnalysisError(f"tokenizer spec {spec.raw!r}: cannot read {path}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnalysisError(f"tokenizer spec {spec.raw!r}: {path} is not JSON: {e}") from None
    if isinstance(data, dict) and data.get("format") == "toksmith-morph":
        return _morph_tokenizer(spec, text, threads)
    added = [a.get("content", "") for a in data.get("added_tokens") or [] if isinstance(a, dict)]
    lazy = _LazyHF(spec, threads)
    try:
        tok = Tokenizer.from_str(text)
        needs = _added_matcher(added)
        if (data.get("model") or {}).get("byte_fallback") is True:
            # SentencePiece-style BPE: a literal "▁" reads as a space, so its spans go to Hugging Face
            needs = _union(needs, _matching(re.compile("\u2581")))
        return _rust(spec.name, spec, tok, _json_vocab_size(data, tok.vocab_size), threads, needs, lazy)
    except (TokenizerFormatError, ValueError) as e:
        first_error = e
    if "has no token for byte" in str(first_error):
        patched = _patch_missing_bytes(data)
        if patched is not None:
            pdata, missing = patched
            try:
                tok = Tokenizer.from_str(json.dumps(pdata))
            except (TokenizerFormatError, ValueError):
                tok = None
            if tok is not None:
                needs = _union(_byte_matcher(missing), _added_matcher(added))
                return _rust(spec.name, spec, tok, _json_vocab_size(data, None), threads, needs, lazy)
    wp = _wordpiece(spec, text, threads)
    if wp is not None:
        return wp
    fb = _hf(spec, threads, quiet=True)
    if fb is None:
        raise AnalysisError(
            f"tokenizer spec {spec.raw!r}: the Rust encoder cannot load it ({first_error}) and the `tokenizers` "
            "package is not installed"
        )
    return fb


def _morph_tokenizer(spec: TokenizerSpec, text: str, threads: Optional[int]) -> LoadedTokenizer:
    """Our toksmith-morph format (`toksmith.morph.MorphTokenizer`: case marker, segmenter at encode time)."""
    from toksmith.morph import MorphTokenizer

    try:
        tok = MorphTokenizer.from_str(text)
    except (TokenizerFormatError, ValueError) as e:
        raise AnalysisError(f"tokenizer spec {spec.raw!r}: {e}") from None

    def count(texts: list[str]) -> np.ndarray:
        return np.asarray(tok.count_batch(texts, threads=threads), dtype=np.int64)

    def encode(texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(x, dtype=np.int64) for x in tok.encode_batch(texts, threads=threads)]

    def spans(texts: list[str]) -> list[Spans]:
        return [[(int(i), int(s), int(e)) for i, s, e in sp] for sp in tok.spans_batch(texts, threads=threads)]

    return LoadedTokenizer(spec.name, spec, "toksmith-morph (Rust)", tok.vocab_size, count, encode, spans)


def _wordpiece(spec: TokenizerSpec, text: str, threads: Optional[int]) -> Optional[LoadedTokenizer]:
    """BERT-style WordPiece files (BertNormalizer + BertPreTokenizer) on the Rust WordPiece counter, which gives
    Hugging Face's ids; texts holding an added token's text (e.g. `[CLS]`, any case) go to `tokenizers`, which
    matches added tokens inside the text."""
    from toksmith import _core

    cls = getattr(_core, "WordPiece", None)
    if cls is None:
        return None
    try:
        wp = cls.from_str(text)
    except (TokenizerFormatError, ValueError):
        return None

    def count_fast(texts: list[str]) -> np.ndarray:
        return np.asarray(wp.count_batch(texts, threads), dtype=np.int64)

    def encode_fast(texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(x, dtype=np.int64) for x in wp.encode_batch(texts, threads)]

    needs = _added_matcher(wp.added_tokens, ignore_case=True)
    lazy = _LazyHF(spec, threads)
    count, encode = _with_fallback(count_fast, encode_fast, needs, lazy)
    return LoadedTokenizer(
        spec.name, spec, "toksmith WordPiece (Rust)", wp.vocab_size, count, encode, lambda t: lazy.get().spans(t)
    )


def _matching(pat: re.Pattern[str]) -> Callable[[list[str]], list[int]]:
    """Indices of the texts in which `pat` matches: one search over the texts joined with newlines (the
    pattern matches no newline), positions mapped back to texts."""

    if pat.search("\n"):
        return lambda texts: [i for i, t in enumerate(texts) if pat.search(t)]

    def find(texts: list[str]) -> list[int]:
        pos = [m.start() for m in pat.finditer("\n".join(texts))]
        if not pos:
            return []
        starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
        return sorted(set((np.searchsorted(starts, pos, side="right") - 1).tolist()))

    return find


def _byte_matcher(missing: list[int]) -> Optional[Callable[[list[str]], list[int]]]:
    """Indices of the texts whose UTF-8 holds one of the `missing` bytes; None when no text can hold one."""
    ranges: list[tuple[int, int]] = []
    for b in missing:
        if b < 0x80:
            ranges.append((b, b))
        elif 0xC2 <= b <= 0xDF:
            ranges.append(((b & 0x1F) << 6, ((b & 0x1F) << 6) | 0x3F))
        elif 0xE0 <= b <= 0xEF:
            ranges.append((max(0x800, (b & 0x0F) << 12), ((b & 0x0F) << 12) | 0xFFF))
        elif 0xF0 <= b <= 0xF4:
            ranges.append((max(0x10000, (b & 0x07) << 18), min(0x10FFFF, ((b & 0x07) << 18) | 0x3FFFF)))
        elif 0x80 <= b <= 0xBF:  # a continuation byte: no simple character class
            pat_b = re.compile(b"[" + b"".join(re.escape(bytes([x])) for x in sorted(missing)) + b"]")
            return lambda texts: [
                i for i, t in enumerate(texts) if pat_b.search(t.encode("utf-8", "surrogatepass")) is not None
            ]
        # 0xC0, 0xC1, 0xF5..0xFF never occur in UTF-8
    if not ranges:
        return None
    cls = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return _matching(re.compile(f"[{cls}]"))


def _json_vocab_size(data: dict, fallback: Optional[int]) -> int:
    vocab = (data.get("model") or {}).get("vocab")
    ids: set[int] = set()
    if isinstance(vocab, dict):
        ids.update(int(v) for v in vocab.values())
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        ids.update(range(len(vocab)))
    for a in data.get("added_tokens") or []:
        if isinstance(a, dict) and "id" in a:
            ids.add(int(a["id"]))
    if ids:
        return len(ids)
    return int(fallback or 0)


def _patch_missing_bytes(data: dict) -> Optional[tuple[dict, list[int]]]:
    model = data.get("model") or {}
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        return None
    b2u = bytes_to_unicode()
    missing = [b for b in range(256) if b2u[b] not in vocab]
    if not missing:
        return None
    used = set(int(v) for v in vocab.values())
    used.update(int(a["id"]) for a in data.get("added_tokens") or [] if isinstance(a, dict) and "id" in a)
    nxt = max(used) + 1 if used else 0
    new_vocab = dict(vocab)
    for b in missing:
        new_vocab[b2u[b]] = nxt
        nxt += 1
    pdata = dict(data)
    pdata["model"] = dict(model, vocab=new_vocab)
    return pdata, missing


def _hf(spec: TokenizerSpec, threads: Optional[int], quiet: bool = False) -> Any:
    try:
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError:
        if quiet:
            return None
        raise AnalysisError(f"tokenizer spec {spec.raw!r}: the `tokenizers` package is not installed") from None
    try:
        hf = HFTokenizer.from_file(str(spec.path))
    except Exception as e:  # tokenizers raises a plain Exception on a bad file
        raise AnalysisError(f"tokenizer spec {spec.raw!r}: Hugging Face tokenizers cannot load it: {e}") from None
    hf.no_padding()
    hf.no_truncation()
    fast = getattr(hf, "encode_batch_fast", None) or hf.encode_batch

    def count(texts: list[str]) -> np.ndarray:
        return np.fromiter((len(e) for e in fast(texts, add_special_tokens=False)), dtype=np.int64, count=len(texts))

    def encode(texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(e.ids, dtype=np.int64) for e in fast(texts, add_special_tokens=False)]

    def spans(texts: list[str]) -> list[Spans]:
        # offsets are character offsets into the text (encode_batch_fast reports none)
        out = []
        for t, e in zip(texts, hf.encode_batch(texts, add_special_tokens=False)):
            c2b = _char_to_byte(t)
            out.append([(int(i), c2b[a], c2b[b]) for i, (a, b) in zip(e.ids, e.offsets)])
        return out

    vsize = hf.get_vocab_size(with_added_tokens=True)
    return LoadedTokenizer(spec.name, spec, "tokenizers (HF)", vsize, count, encode, spans)


def _sentencepiece(spec: TokenizerSpec, threads: Optional[int]) -> LoadedTokenizer:
    try:
        import sentencepiece as spm
    except ImportError:
        raise AnalysisError(f"tokenizer spec {spec.raw!r}: the `sentencepiece` package is not installed") from None
    p = Path(spec.path)
    if not p.is_file():
        raise AnalysisError(f"tokenizer spec {spec.raw!r}: no such SentencePiece model: {p}")
    try:
        sp = spm.SentencePieceProcessor(model_file=str(p))
    except (RuntimeError, OSError) as e:
        raise AnalysisError(f"tokenizer spec {spec.raw!r}: not a SentencePiece model: {e}") from None
    nt = threads if threads else (os.cpu_count() or 1)

    def enc(texts: list[str]) -> list[list[int]]:
        try:
            return sp.encode(texts, out_type=int, num_threads=nt)
        except TypeError:  # older sentencepiece without num_threads
            return sp.encode(texts, out_type=int)

    def count(texts: list[str]) -> np.ndarray:
        return np.fromiter((len(x) for x in enc(texts)), dtype=np.int64, count=len(texts))

    def encode(texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(x, dtype=np.int64) for x in enc(texts)]

    def spans(texts: list[str]) -> list[Spans]:
        out = []
        for t in texts:
            proto = sp.encode(t, out_type="immutable_proto")
            # begin/end are byte offsets into the input text
            out.append([(int(p.id), int(p.begin), int(p.end)) for p in proto.pieces])
        return out

    return LoadedTokenizer(spec.name, spec, "sentencepiece", sp.get_piece_size(), count, encode, spans)


def load_all(specs: Sequence[str], threads: Optional[int] = None) -> list[LoadedTokenizer]:
    """Parse and load several specs; names are made unique (`name`, `name#2`, ...)."""
    if not specs:
        raise AnalysisError("no tokenizer given")
    parsed = [TokenizerSpec.parse(s) for s in specs]
    out: list[LoadedTokenizer] = []
    seen: dict[str, int] = {}
    for sp in parsed:
        t = load(sp, threads=threads)
        n = seen.get(t.name, 0) + 1
        seen[t.name] = n
        if n > 1:
            t.name = f"{t.name}#{n}"
        out.append(t)
    return out
