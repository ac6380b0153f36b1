"""Our `tokenizer.json` files work in Hugging Face `tokenizers` and `transformers` with the same ids, and we
read theirs."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

import pytest
import tokenizers
from hypothesis import given, settings
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

import toksmith
from reference import DIVERSE_LANGS, TIKTOKEN_SPECS, member_lines, tiktoken_encoding, toksmith_tiktoken
from strategies import texts

PRESETS = ["gpt2", "cl100k", "o200k", "llama3", "whitespace", "none", "digits+gpt2", "digits+cl100k"]
SPECIALS = ["<|endoftext|>", "<pad>", "<|im_start|>"]

WHITESPACE_CASES = [
    "text ending in\n  ",
    "x \n\n ",
    "x \n\n",
    "   ",
    "\n",
    "\t",
    "a\tb\t\tc\t",
    "\ttab first",
    "crlf\r\nline two\r\n",
    "crlf\r\n\r\n  indented\r\n",
    "mixed \u00a0 nbsp\u3000ideo \u0085 nel",
    "  leading spaces",
    "trailing spaces   ",
    "many\n\n\n\nnewlines\n\n",
    "code:\n    def f(x):\n        return x  # done\n",
    "special <|endoftext|> in <pad>text<|im_start|>",
    "not special <|endoftext| <pad",
    "digits 0123456789 ٣٤٥ and 3.14159",
    "I'm don't WE'LL it's",
]


def _hf_decode(hf: tokenizers.Tokenizer, ids: list[int]) -> str:
    return hf.decode(ids, skip_special_tokens=False)


@pytest.fixture(scope="module")
def training_docs(heldout_text: str, flores_zip: Path) -> list[str]:
    """~1.5 MB of English paragraphs plus FLORES dev lines of the diverse languages that the tests do not
    use (the tests use the first 75 lines of each file), so merges exist for many scripts."""
    docs = heldout_text[:1_500_000].split("\n\n")
    with zipfile.ZipFile(flores_zip) as z:
        for lang in DIVERSE_LANGS:
            docs += member_lines(z.read(f"dev/{lang}.dev").decode("utf-8"))[75:]
    return docs


@pytest.fixture(scope="module", params=PRESETS)
def trained(
    request: pytest.FixtureRequest, training_docs: list[str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, toksmith.Tokenizer, Path]:
    preset: str = request.param
    tok = toksmith.train(texts=training_docs, vocab_size=1500, pretokenizer=preset, special_tokens=SPECIALS)
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    tok.save(path)
    return preset, tok, path


@pytest.fixture(scope="module")
def eval_texts(flores_diverse_lines: list[str]) -> list[str]:
    docs = ["\n".join(flores_diverse_lines[k : k + 25]) for k in range(0, len(flores_diverse_lines), 150)]
    return flores_diverse_lines + WHITESPACE_CASES + docs


def test_trained_layout(trained: tuple[str, toksmith.Tokenizer, Path]) -> None:
    preset, tok, path = trained
    assert tok.vocab_size == 1500
    assert tok.pretokenizer == preset
    assert [(c, i) for c, i, _ in tok.added_tokens] == [(s, k) for k, s in enumerate(SPECIALS)]
    j = json.loads(path.read_text(encoding="utf-8"))
    assert j["model"]["type"] == "BPE"
    ids = set(j["model"]["vocab"].values()) | {a["id"] for a in j["added_tokens"]}
    assert ids == set(range(1500))
    assert [(a["content"], a["id"], a["special"]) for a in j["added_tokens"]] == [
        (s, k, True) for k, s in enumerate(SPECIALS)
    ]


def test_tokenizers_same_ids(trained: tuple[str, toksmith.Tokenizer, Path], eval_texts: list[str]) -> None:
    _, tok, path = trained
    hf = tokenizers.Tokenizer.from_file(str(path))
    assert hf.get_vocab_size(with_added_tokens=True) == tok.vocab_size
    ours = tok.encode_batch(eval_texts)
    theirs = [e.ids for e in hf.encode_batch(eval_texts)]
    bad = [(t, a, b) for t, a, b in zip(eval_texts, ours, theirs) if a != b]
    assert not bad, f"{len(bad)} texts differ, first: {bad[0]!r}"
    for t, ids in zip(eval_texts, ours):
        assert tok.decode(ids) == _hf_decode(hf, ids) == t


def test_transformers_same_ids(trained: tuple[str, toksmith.Tokenizer, Path], eval_texts: list[str]) -> None:
    _, tok, path = trained
    fast = PreTrainedTokenizerFast(tokenizer_file=str(path))
    ours = tok.encode_batch(eval_texts)
    assert fast(eval_texts, add_special_tokens=False)["input_ids"] == ours
    assert fast(eval_texts)["input_ids"] == ours  # the ByteLevel post-processor adds nothing
    for t, ids in zip(eval_texts[::7], ours[::7]):
        assert fast.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) == t
    assert fast.convert_tokens_to_ids(SPECIALS) == [0, 1, 2]


_CACHE: dict[Path, tokenizers.Tokenizer] = {}


def _load_cached(path: Path) -> tokenizers.Tokenizer:
    if path not in _CACHE:
        _CACHE[path] = tokenizers.Tokenizer.from_file(str(path))
    return _CACHE[path]


@settings(max_examples=150)
@given(text=texts(max_size=40, special=tuple(SPECIALS) + ("<|endoftext|", "<pad")))
def test_tokenizers_random_text(trained: tuple[str, toksmith.Tokenizer, Path], text: str) -> None:
    _, tok, path = trained
    hf = _load_cached(path)
    ids = tok.encode(text)
    assert hf.encode(text).ids == ids
    assert _hf_decode(hf, ids) == tok.decode(ids) == text


def test_reload_hf_serialisation(trained: tuple[str, toksmith.Tokenizer, Path], eval_texts: list[str]) -> None:
    """HF re-serialises our file (its own layout and merge format); we read that back to the same ids."""
    _, tok, path = trained
    again = toksmith.Tokenizer.from_str(tokenizers.Tokenizer.from_file(str(path)).to_str())
    assert again.encode_batch(eval_texts) == tok.encode_batch(eval_texts)
    assert again.pretokenizer == tok.pretokenizer


def test_smollm2_same_ids(tokenizers_dir: Path, flores_zip: Path) -> None:
    path = tokenizers_dir / "smollm2-135m" / "tokenizer.json"
    hf = tokenizers.Tokenizer.from_file(str(path))
    assert hf.encode("Hello, world!").ids == [19556, 28, 905, 17]  # README vector
    tok = toksmith.Tokenizer.from_file(path)
    assert tok.encode("Hello, world!") == [19556, 28, 905, 17]
    with zipfile.ZipFile(flores_zip) as z:
        lines = [
            line
            for n in sorted(z.namelist())
            if n.startswith("devtest/") and not n.endswith("/")
            for line in member_lines(z.read(n).decode("utf-8"))[:40]
        ]
    ours = tok.encode_batch(lines)
    theirs = [e.ids for e in hf.encode_batch(lines)]
    bad = [(t, a, b) for t, a, b in zip(lines, ours, theirs) if a != b]
    assert not bad, f"{len(bad)} lines differ, first: {bad[0]!r}"
    chat = "<|im_start|>user\nHi 123!<|im_end|>\n<|im_start|>assistant\n"
    assert tok.encode(chat) == hf.encode(chat).ids


def _hf_train(text: str, pre_tokenizer: pre_tokenizers.PreTokenizer, vocab_size: int = 1200) -> tokenizers.Tokenizer:
    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizer
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    hf.train_from_iterator([text], trainer=trainer)
    return hf


# A custom split regex (not one of our presets, so we run it with our generic regex engine) whose meaning is
# the same in Oniguruma (HF) and in Rust regex engines.
CUSTOM_SPLIT = r"""'(?i:[sdmt]|ll|ve|re)|\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s"""
HF_LAYOUTS = {
    "digits+bytelevel (SmolLM2 layout)": lambda: pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    ),
    "bytelevel (GPT-2 layout)": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False),
    "split+bytelevel (custom regex)": lambda: pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CUSTOM_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    ),
}


@pytest.mark.parametrize("layout", list(HF_LAYOUTS))
def test_read_hf_trained(layout: str, heldout_text: str, eval_texts: list[str]) -> None:
    hf = _hf_train(heldout_text[:600_000], HF_LAYOUTS[layout]())
    tok = toksmith.Tokenizer.from_str(hf.to_str())
    assert tok.vocab_size == hf.get_vocab_size()
    ours = tok.encode_batch(eval_texts)
    theirs = [e.ids for e in hf.encode_batch(eval_texts)]
    bad = [(t, a, b) for t, a, b in zip(eval_texts, ours, theirs) if a != b]
    assert not bad, f"{len(bad)} texts differ, first: {bad[0]!r}"
    for t, ids in zip(eval_texts, ours):
        assert tok.decode(ids) == t


def test_read_hf_split_regex_oniguruma_semantics() -> None:
    """A `tokenizer.json` with tiktoken's cl100k digit spelling `\\p{N}{1,3}+` in its Split: we must split
    like HF does, since HF defines what the file means."""
    rng = random.Random(0)
    text = " ".join(str(rng.randint(0, 10**8)) for _ in range(20000))
    layout = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\p{N}{1,3}+|\s+|[^\s\p{N}]+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    hf = _hf_train(text, layout, vocab_size=600)
    tok = toksmith.Tokenizer.from_str(hf.to_str())
    sample = ["in 1863 and 18630", "1234567", "x 99999999 y"]
    assert tok.encode_batch(sample) == [e.ids for e in hf.encode_batch(sample)]


def test_written_regex_keeps_fancy_possessive_meaning_in_hf() -> None:
    """Our `regex:` specs run with fancy-regex, where `\\p{N}{1,3}+` is possessive (digit groups of at most 3);
    Oniguruma reads that spelling as a repeated group. The written tokenizer.json must split like training did,
    in HF and when read back by us."""
    rng = random.Random(1)
    text = " ".join(f"w{rng.randint(0, 10**7)}" for _ in range(5000))
    tok = toksmith.train(texts=[text], vocab_size=400, pretokenizer=r"regex:\p{N}{1,3}+|\s+|[^\s\p{N}]+")
    hf = tokenizers.Tokenizer.from_str(tok.to_json())
    back = toksmith.Tokenizer.from_str(tok.to_json())
    sample = ["in 1863 and 18630", "1234567", "x 99999999 y"]
    ours = tok.encode_batch(sample)
    assert ours == [e.ids for e in hf.encode_batch(sample)] == back.encode_batch(sample)
    # groups of at most three digits: no token spans more than 3 digits
    assert all(len(tok.id_to_bytes(i).strip()) <= 3 for ids in ours for i in ids)


@pytest.mark.parametrize("name", list(TIKTOKEN_SPECS))
def test_tiktoken_to_json_in_hf(name: str, tokenizers_dir: Path, eval_texts: list[str]) -> None:
    """Our tokenizer.json of a tiktoken file, run by HF `tokenizers`, gives tiktoken's ids."""
    tok = toksmith_tiktoken(str(tokenizers_dir), name)
    enc = tiktoken_encoding(str(tokenizers_dir), name)
    hf = tokenizers.Tokenizer.from_str(tok.to_json())
    sample = eval_texts[::2]
    theirs = [e.ids for e in hf.encode_batch(sample)]
    expected = enc.encode_batch(sample, allowed_special="all")
    bad = [(t, a, b) for t, a, b in zip(sample, theirs, expected) if a != b]
    assert not bad, f"{len(bad)} texts differ, first: {bad[0]!r}"
    assert hf.encode("hello <|endoftext|>").ids == enc.encode("hello <|endoftext|>", allowed_special="all")


# ---------------------------------------------------------------------------------------------------------
# options of foreign files: we must either honour them (same ids as HF) or refuse the file
# ---------------------------------------------------------------------------------------------------------
FLAG_SAMPLES = ["a <mask> b", "a<mask>b", "x  <mask>  y", "<mask>x", "a <mask>\n", "<mask>", "no mask here"]


def _variant(base: dict, path: tuple[str | int, ...], value: object) -> str:
    d = json.loads(json.dumps(base))
    node = d
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return json.dumps(d)


def _unsupported_reason(what: str) -> str:
    return f"BUG: {what} in tokenizer.json is silently ignored (ids differ from HF) instead of refused"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("model", "ignore_merges"), True),
        (("model", "byte_fallback"), True),
        (("model", "fuse_unk"), True),
        (("added_tokens", 0, "normalized"), True),
        pytest.param(
            ("added_tokens", 0, "lstrip"),
            True,
        ),
        pytest.param(
            ("added_tokens", 0, "rstrip"),
            True,
        ),
        pytest.param(
            ("added_tokens", 0, "single_word"),
            True,
        ),
        pytest.param(
            ("model", "end_of_word_suffix"),
            "</w>",
        ),
    ],
    ids=lambda x: "/".join(map(str, x)) if isinstance(x, tuple) else repr(x),
)
def test_foreign_options_honoured_or_refused(
    path: tuple[str | int, ...], value: object, training_docs: list[str], eval_texts: list[str]
) -> None:
    base = json.loads(toksmith.train(texts=training_docs[:3000], vocab_size=800, special_tokens=["<mask>"]).to_json())
    text = _variant(base, path, value)
    try:
        tok = toksmith.Tokenizer.from_str(text)
    except toksmith.TokenizerFormatError:
        return  # refusing is fine
    hf = tokenizers.Tokenizer.from_str(text)
    sample = FLAG_SAMPLES + eval_texts[::10]
    assert tok.encode_batch(sample) == [e.ids for e in hf.encode_batch(sample)]


# ---------------------------------------------------------------------------------------------------------
# special tokens that collide with ordinary text
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("special", ["e", "Ġ", "Ċ"])
def test_special_token_spelled_like_a_byte_is_refused(special: str) -> None:
    """tokenizer.json spells byte tokens with GPT-2's byte-level chars; a special token with the same spelling
    would be a second vocab entry under the same key, so training refuses it."""
    with pytest.raises(toksmith.TrainingError, match="spelled like a byte token"):
        toksmith.train(texts=["the quick brown fox " * 10], vocab_size=280, special_tokens=[special])


@pytest.mark.parametrize(
    "special",
    [
        "<s>",
        "hello",  # a word that may or may not become a token: it is a special token first
        "the",  # a token training learns: the merge reuses the special token's id, as HF's trainer does
    ],
)
def test_special_token_colliding_with_text(special: str, training_docs: list[str]) -> None:
    tok = toksmith.train(texts=training_docs[:3000], vocab_size=800, special_tokens=[special])
    hf = tokenizers.Tokenizer.from_str(tok.to_json())
    sample = ["the hello there", f"x{special}y", special, f"{special} {special}", "e"]
    assert tok.encode_batch(sample) == [e.ids for e in hf.encode_batch(sample)]
    assert tok.encode(special) == [0]
