"""Loading OpenAI's `.tiktoken` files gives exactly tiktoken's ids."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken.load import load_tiktoken_bpe

import toksmith
from reference import (
    FLORES_LANGS,
    FLORES_LINES,
    TIKTOKEN_SPECS,
    WHISPER_PAT,
    format_mismatches,
    run_sweep,
    tiktoken_encoding,
    tiktoken_sweep,
    toksmith_tiktoken,
)
from strategies import texts

NAMES = list(TIKTOKEN_SPECS)


@pytest.fixture(scope="module", params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def enc(tokenizers_dir: Path, name: str) -> tiktoken.Encoding:
    return tiktoken_encoding(str(tokenizers_dir), name)


@pytest.fixture(scope="module")
def tok(tokenizers_dir: Path, name: str) -> toksmith.Tokenizer:
    return toksmith_tiktoken(str(tokenizers_dir), name)


# Vectors from shared/tokenizers/README.md (checked there against tiktoken's own tests).
README_VECTORS: dict[str, list[tuple[str, list[int]]]] = {
    "gpt2": [
        ("hello world", [31373, 995]),
        ("tiktoken is great!", [83, 1134, 30001, 318, 1049, 0]),
    ],
    "cl100k_base": [
        ("hello world", [15339, 1917]),
        ("rer", [38149]),
        ("'rer", [2351, 81]),
        (" \x85" + "0", [220, 126, 227, 15]),
        ("👍", [9468, 239, 235]),
        ("tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
    ],
    "o200k_base": [("hello world", [24912, 2375])],
}
# Cases from tiktoken's tests whose ids the README does not list: compared with tiktoken at run time.
MORE_CASES = [
    *("0" * n for n in range(1, 18)),
    "today\n ",
    "today\n \n",
    "today\n  \n",
    "hello  world\n\n  ",
    "x \n\n ",
    "a\tb\t\tc\t",
    "line1\r\nline2\r\n",
    "I'll  DON'T it's \u017f's 'S",
    "<|endoftext|",
    "<|endoftext|>",
]


def test_sizes(tok: toksmith.Tokenizer, enc: tiktoken.Encoding) -> None:
    assert tok.vocab_size == enc.n_vocab
    assert tok.mode == "ranks"


def test_readme_vectors(name: str, tok: toksmith.Tokenizer, enc: tiktoken.Encoding) -> None:
    for text, ids in README_VECTORS[name]:
        assert enc.encode(text) == ids, "the reference itself disagrees with the README"
        assert tok.encode(text) == ids, text
        assert tok.decode(ids) == text


def test_more_cases(tok: toksmith.Tokenizer, enc: tiktoken.Encoding) -> None:
    for text in MORE_CASES:
        assert tok.encode(text, added_tokens=False) == enc.encode_ordinary(text), repr(text)
        assert tok.encode(text) == enc.encode(text, allowed_special="all"), repr(text)


def test_special_tokens(name: str, tok: toksmith.Tokenizer, enc: tiktoken.Encoding) -> None:
    specials = TIKTOKEN_SPECS[name].special_tokens
    for s, i in specials.items():
        for text in [f"hello {s}", f"a{s}b", f"{s}{s}", f" {s} x", f"{s}\n"]:
            expected = enc.encode(text, allowed_special="all")
            assert i in expected
            assert tok.encode(text) == expected, text
            assert tok.encode(text, added_tokens=False) == enc.encode_ordinary(text), text
            assert tok.decode(expected) == text
            assert tok.decode(expected, skip_special_tokens=True) == text.replace(s, "")
    assert sorted((c, i) for c, i, _ in tok.added_tokens) == sorted(specials.items())


def test_gpt2_endoftext_readme(tokenizers_dir: Path) -> None:
    """README: gpt2 `hello <|endoftext|>` -> [31373, 220, 50256]; as ordinary text it is not one token."""
    tok = toksmith.Tokenizer.from_tiktoken(tokenizers_dir / "gpt2.tiktoken")
    assert tok.encode("hello <|endoftext|>") == [31373, 220, 50256]
    assert 50256 not in tok.encode("hello <|endoftext|>", added_tokens=False)


def test_cl100k_single_token_bytes(tokenizers_dir: Path) -> None:
    """README: cl100k bytes b" \\xec\\x8b\\xa4\\xed" are one token, 62085."""
    tok = toksmith_tiktoken(str(tokenizers_dir), "cl100k_base")
    assert tok.token_to_id(b" \xec\x8b\xa4\xed") == 62085
    assert tok.decode_bytes([62085]) == b" \xec\x8b\xa4\xed"


def test_every_token_decodes_like_tiktoken(name: str, tok: toksmith.Tokenizer, enc: tiktoken.Encoding) -> None:
    n = enc.n_vocab
    specials = set(TIKTOKEN_SPECS[name].special_tokens.values())
    for i in range(n):
        try:
            expected = enc.decode_single_token_bytes(i)
        except KeyError:
            # ids with no token (cl100k: 100256 and 100261..100275)
            assert tok.id_to_bytes(i) is None, i
            continue
        assert tok.decode_bytes([i]) == expected, i
    # and invalid UTF-8 becomes U+FFFD exactly as tiktoken (Python's errors="replace") does
    partial = [i for i in range(0, n, 97) if i not in specials]
    for k in range(0, len(partial) - 3, 3):
        ids = partial[k : k + 3]
        try:
            expected_text = enc.decode(ids)
        except KeyError:
            continue
        assert tok.decode(ids) == expected_text, ids


@settings(max_examples=200)
@given(text=texts(max_size=50, special=("<|endoftext|>", "<|endofprompt|>", "<|endoftext|")))
def test_random_text(tok: toksmith.Tokenizer, enc: tiktoken.Encoding, text: str) -> None:
    assert tok.encode(text, added_tokens=False) == enc.encode_ordinary(text)
    # tiktoken refuses special tokens it does not know; only those of this encoding are allowed
    assert tok.encode(text) == enc.encode(text, allowed_special="all")
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=100)
@given(ids=st.lists(st.integers(min_value=0, max_value=50255), max_size=12))
def test_random_ids_decode(tokenizers_dir: Path, ids: list[int]) -> None:
    """Any id sequence (cut multi-byte characters included) decodes like tiktoken."""
    enc = tiktoken_encoding(str(tokenizers_dir), "gpt2")
    tok = toksmith_tiktoken(str(tokenizers_dir), "gpt2")
    assert tok.decode_bytes(ids) == enc.decode_bytes(ids)
    assert tok.decode(ids) == enc.decode(ids)


@pytest.mark.slow
def test_flores_all_languages(
    name: str, pool: ProcessPoolExecutor, flores_zip: Path, flores_all_members: list[str], tokenizers_dir: Path
) -> None:
    """Every line of every FLORES-200 language: same ids as tiktoken, count_batch agrees, decode round trip."""
    res = run_sweep(pool, tiktoken_sweep, flores_zip, flores_all_members, str(tokenizers_dir), name)
    assert res.files == 2 * FLORES_LANGS
    assert res.lines == FLORES_LANGS * sum(FLORES_LINES.values())
    assert not res.mismatches, format_mismatches(res)


def test_whole_documents(tok: toksmith.Tokenizer, enc: tiktoken.Encoding, flores_diverse_lines: list[str]) -> None:
    """Multi-line documents (newlines, blank lines, indentation between sentences)."""
    seps = ["\n", "\n\n", " \n", "\n  ", "\r\n", "\t", "  "]
    docs = [seps[k % len(seps)].join(flores_diverse_lines[k : k + 40]) for k in range(0, len(flores_diverse_lines), 40)]
    assert tok.encode_batch(docs, added_tokens=False) == enc.encode_ordinary_batch(docs)


def test_whisper_multilingual(tokenizers_dir: Path, flores_diverse_lines: list[str]) -> None:
    """Whisper's file (with its empty-token quirk) and its classic GPT-2 pattern."""
    path = tokenizers_dir / "whisper-multilingual.tiktoken"
    specials = {"<|endoftext|>": 50257, "<|startoftranscript|>": 50258}
    enc = tiktoken.Encoding(
        name="multilingual",
        pat_str=WHISPER_PAT,
        mergeable_ranks=load_tiktoken_bpe(str(path)),
        special_tokens=specials,
    )
    tok = toksmith.Tokenizer.from_tiktoken(path, pattern="gpt2", special_tokens=specials)
    lines = flores_diverse_lines[::3]
    assert tok.encode_batch(lines) == enc.encode_ordinary_batch(lines)
    # README vectors: ids 8404, 871, 287, 6, 246, 526, 3210, 20378
    expected = [b" elle", b" est", b" l", b"'", b"\x98", "é".encode(), b"rit", b"oire"]
    assert [tok.decode_bytes([i]) for i in [8404, 871, 287, 6, 246, 526, 3210, 20378]] == expected
    s = "<|startoftranscript|>hello<|endoftext|>"
    assert tok.encode(s) == enc.encode(s, allowed_special="all")
