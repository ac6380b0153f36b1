"""Compression-aware BPE: each merge objective does what it claims, checked by brute force on a small corpus;
determinism across thread counts; tokenizer.json round trip; bad input."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings

import toksmith
from strategies import texts
from toksmith import _core

TEXT = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it "
    "was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything "
    "before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the "
    "other way."
)
PRETOK = "gpt2"

Word = tuple[bytes, ...]


def corpus_words(text: str) -> Counter[Word]:
    """Chunks of the pre-tokenizer as tuples of single bytes, with counts."""
    return Counter(tuple(bytes([b]) for b in c.encode()) for c in toksmith.Pretokenizer(PRETOK).split(text))


def apply(words: Counter[Word], a: bytes, b: bytes) -> Counter[Word]:
    out: Counter[Word] = Counter()
    for w, c in words.items():
        nw: list[bytes] = []
        i = 0
        while i < len(w):
            if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                nw.append(a + b)
                i += 2
            else:
                nw.append(w[i])
                i += 1
        out[tuple(nw)] += c
    return out


def pairs(words: Counter[Word]) -> Counter[tuple[bytes, bytes]]:
    out: Counter[tuple[bytes, bytes]] = Counter()
    for w, c in words.items():
        for x, y in zip(w, w[1:]):
            out[(x, y)] += c
    return out


def code_length(words: Counter[Word]) -> float:
    """Order-0 entropy-coded size of the corpus, bits."""
    n: Counter[bytes] = Counter()
    for w, c in words.items():
        for t in w:
            n[t] += c
    total = sum(n.values())
    return total * math.log2(total) - sum(v * math.log2(v) for v in n.values())


def merges_of(tok: toksmith.Tokenizer) -> list[tuple[bytes, bytes]]:
    return [(bytes(a), bytes(b)) for a, b in tok.merges()]


def test_frequency_objective_is_plain_bpe() -> None:
    a = toksmith.train(texts=[TEXT * 3], vocab_size=256 + 60, pretokenizer=PRETOK)
    b = toksmith.train(texts=[TEXT * 3], vocab_size=256 + 60, pretokenizer=PRETOK, objective="frequency")
    c = toksmith.train(
        texts=[TEXT * 3], vocab_size=256 + 60, pretokenizer=PRETOK, algorithm="compress", objective="frequency"
    )
    assert merges_of(a) == merges_of(b) == merges_of(c)


@pytest.mark.parametrize("stop", [False, True])
def test_mdl_picks_the_merge_that_most_shortens_the_description(stop: bool) -> None:
    """Brute force: at every step, merge each pair (seen at least twice) in a copy of the corpus and compute the
    exact code length; the trainer's merge must save the most bits (code length + 2 log2 V bits per merge)."""
    text = TEXT * 2
    n = 40
    tok = toksmith.train(
        texts=[text], vocab_size=256 + n, pretokenizer=PRETOK, algorithm="compress", objective="mdl", min_frequency=2,
        stop_when_no_gain=stop,
    )  # fmt: skip
    words = corpus_words(text)
    vocab = 256
    for k, (a, b) in enumerate(merges_of(tok)):
        dict_bits = 2 * math.log2(vocab + 1)
        before = code_length(words)
        gains = {p: before - code_length(apply(words, *p)) - dict_bits for p, f in pairs(words).items() if f >= 2}
        best = max(gains.values())
        assert gains[(a, b)] == pytest.approx(best, rel=1e-9, abs=1e-6), f"merge {k}"
        if stop:
            assert gains[(a, b)] > 0
        words = apply(words, a, b)
        vocab += 1
    if stop and tok.vocab_size < 256 + n:
        dict_bits = 2 * math.log2(vocab + 1)
        before = code_length(words)
        assert all(
            before - code_length(apply(words, *p)) - dict_bits <= 1e-9 for p, f in pairs(words).items() if f >= 2
        )


def test_mdl_can_choose_the_vocabulary_size() -> None:
    tok = toksmith.train(
        texts=[TEXT], vocab_size=5000, pretokenizer=PRETOK, objective="mdl", stop_when_no_gain=True, min_frequency=2
    )
    assert 256 < tok.vocab_size < 5000
    assert tok.stats.stopped_early and "no merge" in tok.stats.stopped_early


def test_lz_picks_the_shortlisted_merge_that_compresses_the_sample_best() -> None:
    """Brute force: at every step, take the `k` most frequent pairs (ties to the smaller ids), tokenize the sample
    from scratch with the merges so far plus each of them, write the ids as little-endian u16 and compress with
    the objective's codec; the trainer's merge must give the smallest size (ties to the more frequent pair)."""
    text, sample, k, n = TEXT * 3, TEXT.replace("it was", "It was") * 2, 6, 30
    tok = toksmith.train(
        texts=[text], vocab_size=256 + n, pretokenizer=PRETOK, algorithm="compress", objective="lz",
        lz_candidates=k, lz_codec="zstd:3", lz_sample=sample, min_frequency=2,
    )  # fmt: skip
    ids = {tok.id_to_bytes(i): i for i in range(256)}
    words, sample_chunks = corpus_words(text), [corpus_words(c) for c in toksmith.Pretokenizer(PRETOK).split(sample)]

    def size(chunks: list[Counter[Word]]) -> int:
        # A token made by the candidate merge gets the next id.
        stream = b"".join(ids.get(t, len(ids)).to_bytes(2, "little") for ch in chunks for w in ch for t in w)
        return _core.lz_compressed_size(stream, "zstd:3")

    for step, (a, b) in enumerate(merges_of(tok)):
        pc = pairs(words)
        cands = sorted((p for p in pc if pc[p] >= 2), key=lambda p: (-pc[p], ids[p[0]], ids[p[1]]))[:k]
        sizes = [size([apply(ch, *p) for ch in sample_chunks]) for p in cands]
        ids.setdefault(a + b, len(ids))
        best = min(range(len(cands)), key=lambda i: (sizes[i], i))
        assert cands[best] == (a, b), f"step {step}: {cands} {sizes}"
        words = apply(words, a, b)
        sample_chunks = [apply(ch, a, b) for ch in sample_chunks]


@pytest.mark.parametrize("objective", ["mdl", "lz"])
def test_same_result_for_any_thread_count(objective: str) -> None:
    kw = dict(texts=[TEXT * 4], vocab_size=256 + 50, algorithm="compress", objective=objective, lz_sample=TEXT)
    assert toksmith.train(threads=1, **kw).to_json() == toksmith.train(threads=3, **kw).to_json()


@pytest.fixture(scope="module", params=["mdl", "lz"])
def compress_tok(request: pytest.FixtureRequest) -> toksmith.Tokenizer:
    return toksmith.train(
        texts=[TEXT * 5, TEXT.upper()], vocab_size=256 + 80, algorithm="compress", objective=request.param
    )


@settings(max_examples=150)
@given(text=texts(max_size=60))
def test_round_trip(compress_tok: toksmith.Tokenizer, text: str) -> None:
    assert compress_tok.decode(compress_tok.encode(text)) == text


def test_hf_round_trip(compress_tok: toksmith.Tokenizer, tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    compress_tok.save(tmp_path / "t.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "t.json"))
    for t in (TEXT, TEXT.upper(), "something else entirely: 12345, the end\n"):
        assert hf.encode(t, add_special_tokens=False).ids == compress_tok.encode(t)
    d = compress_tok.stats.details
    assert d["objective"] in ("mdl", "lz") and d["merges"] == compress_tok.n_merges


def test_lz_sample_from_input_files(tmp_path: Path) -> None:
    f = tmp_path / "c.txt"
    f.write_text(TEXT * 20)
    tok = toksmith.train([f], vocab_size=256 + 30, algorithm="compress", lz_sample_bytes=2000)
    assert tok.stats.details["objective"] == "lz"
    assert 1000 < tok.stats.details["lz_sample_bytes"] < 4000


@pytest.mark.parametrize(
    "kw",
    [dict(objective="nope"), dict(algorithm="nope"), dict(lz_codec="lzma"), dict(lz_candidates=0)],
)
def test_bad_options_raise_training_error(kw: dict) -> None:
    kw = {"algorithm": "compress", **kw}
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=[TEXT], vocab_size=300, **kw)


def test_empty_corpus() -> None:
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=[""], vocab_size=300, algorithm="compress", objective="mdl")


def test_cli(tmp_path: Path) -> None:
    src = tmp_path / "c.txt"
    src.write_text(TEXT * 10)
    out = tmp_path / "tok.json"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "toksmith", "train", str(src), "-v", "300", "-q", *args],
            capture_output=True, text=True, env=dict(os.environ), timeout=300,
        )  # fmt: skip

    r = cli("--algorithm", "compress", "--objective", "mdl", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert toksmith.Tokenizer.from_file(out).vocab_size == 300
    bad = tmp_path / "bad.json"
    for args in (["--objective", "nope"], ["--algorithm", "nope"], ["--lz-codec", "lzma", "--algorithm", "compress"]):
        r = cli(*args, "-o", str(bad))
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not bad.exists()
