"""The `Tokenizer` class: a byte-level BPE tokenizer backed by the Rust encoder."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from toksmith import _core
from toksmith.errors import TokenizerFormatError

# Special tokens of the public tiktoken encodings, by file stem.
TIKTOKEN_SPECIALS: dict[str, dict[str, int]] = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    "gpt2": {"<|endoftext|>": 50256},
    "r50k_base": {"<|endoftext|>": 50256},
}
# The split pattern of each public tiktoken encoding, by file stem.
TIKTOKEN_PATTERNS: dict[str, str] = {
    "cl100k_base": "cl100k",
    "o200k_base": "o200k",
    "gpt2": "gpt2",
    "r50k_base": "gpt2",
    "p50k_base": "gpt2",
}


class Tokenizer:
    """Byte-level BPE tokenizer: encode, decode, save as `tokenizer.json`, tiktoken or vocab/merges."""

    def __init__(self, core: _core.Tokenizer):
        self._core = core
        self.stats = None  # set by `train`

    # ----- loading -------------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Tokenizer:
        """Load a Hugging Face `tokenizer.json` (a file, or a folder holding one)."""
        p = Path(path)
        if p.is_dir():
            p = p / "tokenizer.json"
        if not p.exists():
            raise TokenizerFormatError(f"no such tokenizer file: {p}")
        return cls(_core.Tokenizer.from_file(str(p)))

    @classmethod
    def from_str(cls, json_text: str) -> Tokenizer:
        return cls(_core.Tokenizer.from_str(json_text))

    @classmethod
    def from_tiktoken(
        cls,
        path: str | os.PathLike,
        pattern: str | None = None,
        special_tokens: dict[str, int] | None = None,
    ) -> Tokenizer:
        """Load a tiktoken rank file. `pattern` is a pre-tokenizer preset (`cl100k`, `gpt2`, ...) or
        `regex:...`; for the public encodings (by file name) it and the special tokens default to theirs."""
        p = Path(path)
        if not p.exists():
            raise TokenizerFormatError(f"no such tiktoken file: {p}")
        stem = p.name.split(".")[0]
        if pattern is None:
            pattern = TIKTOKEN_PATTERNS.get(stem)
            if pattern is None:
                raise TokenizerFormatError(f"{p}: unknown encoding, pass pattern= (one of {', '.join(_core.PRESETS)})")
        if special_tokens is None:
            special_tokens = TIKTOKEN_SPECIALS.get(stem, {})
        return cls(_core.Tokenizer.from_tiktoken(str(p), pattern, dict(special_tokens)))

    # ----- encoding ------------------------------------------------------------------------------------
    def encode(self, text: str, added_tokens: bool = True) -> list[int]:
        """Token ids of `text`. Added/special tokens written in the text become their ids unless
        `added_tokens=False`."""
        return self._core.encode(text, added_tokens)

    def encode_batch(
        self, texts: Sequence[str], added_tokens: bool = True, threads: int | None = None
    ) -> list[list[int]]:
        """Encode many texts in parallel (order kept)."""
        return self._core.encode_batch(list(texts), added_tokens, threads)

    def count_batch(self, texts: Sequence[str], added_tokens: bool = False, threads: int | None = None) -> list[int]:
        """Number of tokens of each text, in parallel."""
        return self._core.count_batch(list(texts), added_tokens, threads)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Text of `ids` (invalid UTF-8, e.g. a cut multi-byte char, becomes U+FFFD)."""
        return self._core.decode(list(ids), skip_special_tokens)

    def decode_bytes(self, ids: Iterable[int], skip_special_tokens: bool = False) -> bytes:
        return self._core.decode_bytes(list(ids), skip_special_tokens)

    def pre_tokenize(self, text: str) -> list[str]:
        return self._core.pre_tokenize(text)

    # ----- saving --------------------------------------------------------------------------------------
    def to_json(self) -> str:
        return self._core.to_json()

    def save(self, path: str | os.PathLike) -> None:
        """Write `tokenizer.json` (atomically: a temporary file, then a rename)."""
        self._core.save(str(path))

    def save_tiktoken(self, path: str | os.PathLike) -> None:
        self._core.save_tiktoken(str(path))

    def save_vocab_merges(self, directory: str | os.PathLike) -> tuple[Path, Path]:
        """Write GPT-2 style `vocab.json` and `merges.txt` into `directory`."""
        from toksmith.atomic import write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        v, m = d / "vocab.json", d / "merges.txt"
        write_text(v, self._core.vocab_json())
        write_text(m, self._core.merges_txt())
        return v, m

    # ----- inspection ----------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._core.vocab_size

    @property
    def n_merges(self) -> int:
        return self._core.n_merges

    @property
    def pretokenizer(self) -> str:
        return self._core.pretokenizer

    @property
    def mode(self) -> str:
        """`merges` (HF semantics) or `ranks` (tiktoken semantics)."""
        return self._core.mode

    @property
    def added_tokens(self) -> list[tuple[str, int, bool]]:
        return self._core.added_tokens

    def merges(self) -> list[tuple[bytes, bytes]]:
        return self._core.merges()

    def id_to_bytes(self, i: int) -> bytes | None:
        return self._core.id_to_bytes(i)

    def token_to_id(self, token: bytes) -> int | None:
        return self._core.token_to_id(token)

    def __repr__(self) -> str:
        return (
            f"Tokenizer(vocab_size={self.vocab_size}, merges={self.n_merges}, "
            f"pretokenizer={self.pretokenizer!r}, mode={self.mode!r})"
        )
