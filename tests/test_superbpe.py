"""Supertoken (SuperBPE) training: the superword split, tokenizer.json round trip in HF `tokenizers`,
decode(encode(x)) == x, determinism across thread counts, word bounds and bad input."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import regex
from hypothesis import example, given, settings

import toksmith
from strategies import texts

tokenizers = pytest.importorskip("tokenizers")

BASE = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of\n"
    "foolishness, it was the epoch of belief, it was the epoch of incredulity. I don't know what you're\n"
    "saying, but it's the same as the other one; at the end of the day it was the same.\n\n"
    "The cat sat on the mat and the dog sat on the log: 12345 men and 67 women went to the end of the road.\n"
)
CORPUS = [BASE * 3, BASE.replace("the", "a") * 2, BASE.upper(), "  Then   they said\tin the end\n" * 5]


def sw_pattern() -> str:
    return toksmith.Pretokenizer("superword").pattern  # type: ignore[return-value]


@functools.cache
def hf_split() -> tokenizers.pre_tokenizers.Split:
    """The Split step of a superbpe tokenizer.json, as HF `tokenizers` (Oniguruma) runs it."""
    trained_json = toksmith.train(texts=["ab ab"], vocab_size=257, algorithm="superbpe", transition=256).to_json()
    hf_pattern = json.loads(trained_json)["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
    return tokenizers.pre_tokenizers.Split(tokenizers.Regex(hf_pattern), "isolated")


def words(tok: bytes) -> int:
    return len(regex.findall(rb"[^ \t\n\r]+", tok))


@pytest.fixture(scope="module")
def trained() -> toksmith.Tokenizer:
    return toksmith.train(texts=CORPUS, vocab_size=256 + 140, algorithm="superbpe", transition=256 + 60, max_words=3)


@pytest.fixture(scope="module")
def hf(trained: toksmith.Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> tokenizers.Tokenizer:
    p = tmp_path_factory.mktemp("sb") / "tokenizer.json"
    trained.save(p)
    return tokenizers.Tokenizer.from_file(str(p))


# ---------------------------------------------------------------------------------------------------------
# the superword split
# ---------------------------------------------------------------------------------------------------------
@settings(max_examples=300)
@given(text=texts(max_size=60))
@example(text="In the end, I don't know it.\n\nOf 12345 men  and\nwomen\tgo " + "a " * 40)
def test_superword_follows_its_pattern_in_regex_and_hf(text: str) -> None:
    ours = toksmith.Pretokenizer("superword").split(text)
    assert ours == regex.findall(regex.sub(r"(?<!\\)\$", r"\\Z", sw_pattern()), text)
    assert [s for s, _ in hf_split().pre_tokenize_str(text)] == ours


def test_superword_is_coarser_than_cl100k() -> None:
    cl = toksmith.Pretokenizer("cl100k")
    sw = toksmith.Pretokenizer("superword")
    for t in CORPUS:
        assert [p for c in sw.split(t) for p in cl.split(c)] == cl.split(t)
    assert sw.split("in the end, it was\nthe same  day") == ["in the end", ",", " it was\nthe same", " ", " day"]


# ---------------------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------------------
def test_supertokens_and_word_bound(trained: toksmith.Tokenizer) -> None:
    toks = [trained.id_to_bytes(i) or b"" for i in range(trained.vocab_size)]
    multi = [t for t in toks if words(t) >= 2]
    assert multi, "stage 2 should learn tokens that span words"
    assert max(words(t) for t in toks) <= 3
    d = trained.stats.details
    assert d["transition"] == 256 + 60 and not d["auto_transition"]
    assert d["stage1_merges"] + d["stage2_merges"] == trained.n_merges
    assert trained.pretokenizer == "superword"
    assert trained.stats.algorithm == "superbpe"


def test_hf_encodes_identically(trained: toksmith.Tokenizer, hf: tokenizers.Tokenizer) -> None:
    for t in CORPUS + ["completely new text, with the end of the day in it; and 9876543 numbers\n\n"]:
        assert hf.encode(t, add_special_tokens=False).ids == trained.encode(t)


@settings(max_examples=200)
@given(text=texts(max_size=60))
def test_round_trip_and_hf_agree_on_random_text(
    trained: toksmith.Tokenizer, hf: tokenizers.Tokenizer, text: str
) -> None:
    ids = trained.encode(text)
    assert trained.decode(ids) == text
    assert hf.encode(text, add_special_tokens=False).ids == ids


def test_reload_from_json(trained: toksmith.Tokenizer) -> None:
    again = toksmith.Tokenizer.from_str(trained.to_json())
    assert again.pretokenizer == "superword"
    for t in CORPUS:
        assert again.encode(t) == trained.encode(t)


def test_same_result_for_any_thread_count() -> None:
    kw = dict(texts=CORPUS * 2, vocab_size=256 + 150, algorithm="superbpe", max_words=4)
    a = toksmith.train(threads=1, **kw)
    b = toksmith.train(threads=3, **kw)
    assert a.to_json() == b.to_json()
    assert a.stats.details["auto_transition"]
    assert 256 <= a.stats.details["transition"] < 256 + 150


def test_stage2_objective_and_specials() -> None:
    tok = toksmith.train(
        texts=CORPUS,
        vocab_size=256 + 2 + 120,
        algorithm="superbpe",
        transition=256 + 2 + 50,
        objective="mdl",
        special_tokens=["<s>", "</s>"],
    )
    assert tok.id_to_bytes(0) == b"<s>"
    assert tok.encode("<s>the end</s>")[0] == 0
    assert tok.decode(tok.encode(CORPUS[0])) == CORPUS[0]


def test_heldout_english_gains_and_hf_agree(heldout_text: str, tmp_path: Path) -> None:
    train_text, test_text = heldout_text[:2_000_000], heldout_text[2_000_000:2_600_000]
    bpe = toksmith.train(texts=[train_text], vocab_size=4096)
    sup = toksmith.train(texts=[train_text], vocab_size=4096, algorithm="superbpe", transition=3072)
    n_bpe, n_sup = len(bpe.encode(test_text)), len(sup.encode(test_text))
    assert n_sup < n_bpe
    sup.save(tmp_path / "t.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "t.json"))
    assert hf.encode(test_text, add_special_tokens=False).ids == sup.encode(test_text)


# ---------------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw",
    [
        dict(transition=400),
        dict(transition=500),
        dict(transition=100),
        dict(transition="soon"),
        dict(max_words=0),
        dict(objective="nope"),
        dict(initial_merges=[(b"a", b"b")]),
    ],
)
def test_bad_options_raise_training_error(kw: dict) -> None:
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=CORPUS, vocab_size=400, algorithm="superbpe", **kw)


def test_other_bad_input() -> None:
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=[""], vocab_size=400, algorithm="superbpe")
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=CORPUS, vocab_size=400, algorithm="nope")
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=CORPUS, vocab_size=400, transition=300)  # transition is for superbpe only
    with pytest.raises(ValueError):
        toksmith.train(texts=CORPUS, vocab_size=400, algorithm="superbpe", stage2_pretokenizer="nope")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "toksmith", *args], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )


def test_cli(tmp_path: Path) -> None:
    src = tmp_path / "c.txt"
    src.write_text("".join(CORPUS))
    out = tmp_path / "tok.json"
    r = run_cli(
        "train", str(src), "-v", "400", "--algorithm", "superbpe", "--transition", "320", "-o", str(out), "--json"
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["algorithm"] == "superbpe" and summary["details"]["transition"] == 320
    assert tokenizers.Tokenizer.from_file(str(out)).get_vocab_size() == 400
    bad = tmp_path / "bad.json"
    for args in (["--transition", "400"], ["--transition", "500"], ["--objective", "nope"], ["--max-words", "-1"]):
        r = run_cli("train", str(src), "-v", "400", "--algorithm", "superbpe", *args, "-o", str(bad), "-q")
        assert r.returncode == 1
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("toksmith: error:"), r.stderr
        assert not bad.exists()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = run_cli("train", str(empty), "-v", "400", "--algorithm", "superbpe", "-o", str(bad), "-q")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
