"""Round trips: text -> ids -> text, and tokenizer -> file -> tokenizer in every format we write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiktoken
import tokenizers
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken.load import load_tiktoken_bpe
from tokenizers import decoders, models, pre_tokenizers

import toksmith
from reference import CL100K_PAT, PRESET_PATTERNS, toksmith_tiktoken
from strategies import texts

SPECIALS = ["<|endoftext|>", "<|sep|>"]


@pytest.fixture(scope="module")
def corpus_docs(heldout_text: str, flores_diverse_lines: list[str]) -> list[str]:
    return heldout_text[:800_000].split("\n\n") + flores_diverse_lines[::2]


@pytest.fixture(scope="module")
def trained(corpus_docs: list[str]) -> toksmith.Tokenizer:
    return toksmith.train(texts=corpus_docs, vocab_size=1200, pretokenizer="cl100k", special_tokens=SPECIALS)


@pytest.fixture(scope="module")
def cl100k(tokenizers_dir: Path) -> toksmith.Tokenizer:
    return toksmith_tiktoken(str(tokenizers_dir), "cl100k_base")


@pytest.fixture(scope="module")
def sample(flores_diverse_lines: list[str], heldout_text: str) -> list[str]:
    return flores_diverse_lines[1::2] + heldout_text[-200_000:].split("\n\n")


ANY_TEXT = st.one_of(texts(max_size=60, special=("<|endoftext|>", "<|sep|>", "<|endoftext|")), st.text(max_size=60))


@settings(max_examples=300)
@given(text=ANY_TEXT)
def test_decode_encode_trained(trained: toksmith.Tokenizer, text: str) -> None:
    for added in (True, False):
        ids = trained.encode(text, added_tokens=added)
        assert trained.decode(ids) == text
        assert trained.decode_bytes(ids) == text.encode("utf-8")
        assert all(0 <= i < trained.vocab_size for i in ids)


@settings(max_examples=300)
@given(text=ANY_TEXT)
def test_decode_encode_cl100k(cl100k: toksmith.Tokenizer, text: str) -> None:
    for added in (True, False):
        assert cl100k.decode(cl100k.encode(text, added_tokens=added)) == text


@settings(max_examples=100)
@given(text=ANY_TEXT)
def test_skip_special_tokens(trained: toksmith.Tokenizer, text: str) -> None:
    ids = trained.encode(text)
    stripped = text
    for s in SPECIALS:
        stripped = stripped.replace(s, "")
    assert trained.decode(ids, skip_special_tokens=True) == stripped
    assert not set(trained.encode(text, added_tokens=False)) & {0, 1}


@settings(max_examples=60)
@given(batch=st.lists(ANY_TEXT, max_size=20), threads=st.sampled_from([None, 1, 2, 3]))
def test_batch_equals_single(
    trained: toksmith.Tokenizer, cl100k: toksmith.Tokenizer, batch: list[str], threads: int | None
) -> None:
    for tok in (trained, cl100k):
        for added in (True, False):
            singles = [tok.encode(t, added_tokens=added) for t in batch]
            assert tok.encode_batch(batch, added_tokens=added, threads=threads) == singles
            assert tok.count_batch(batch, added_tokens=added, threads=threads) == [len(x) for x in singles]


def test_batch_large(trained: toksmith.Tokenizer, sample: list[str]) -> None:
    singles = [trained.encode(t) for t in sample]
    for threads in (None, 1, 2):
        assert trained.encode_batch(sample, threads=threads) == singles
    assert trained.encode_batch([]) == []
    assert trained.encode("") == []
    assert trained.decode([]) == ""


def test_save_from_file(trained: toksmith.Tokenizer, sample: list[str], tmp_path: Path) -> None:
    p = tmp_path / "tokenizer.json"
    trained.save(p)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["tokenizer.json"]  # no temporary file left
    again = toksmith.Tokenizer.from_file(p)
    assert again.encode_batch(sample) == trained.encode_batch(sample)
    assert again.to_json() == trained.to_json() == p.read_text(encoding="utf-8")
    assert toksmith.Tokenizer.from_file(tmp_path).to_json() == trained.to_json()  # a folder holding one
    assert toksmith.Tokenizer.from_str(trained.to_json()).encode_batch(sample[:50]) == trained.encode_batch(sample[:50])
    assert (again.vocab_size, again.n_merges, again.pretokenizer, again.added_tokens) == (
        trained.vocab_size,
        trained.n_merges,
        trained.pretokenizer,
        trained.added_tokens,
    )


@pytest.mark.parametrize("preset", [*PRESET_PATTERNS, "digits+o200k"])
def test_save_from_file_each_preset(preset: str, corpus_docs: list[str], sample: list[str], tmp_path: Path) -> None:
    tok = toksmith.train(texts=corpus_docs[:2000], vocab_size=600, pretokenizer=preset, special_tokens=SPECIALS)
    tok.save(tmp_path / "tokenizer.json")
    again = toksmith.Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert again.pretokenizer == preset
    assert again.encode_batch(sample[:300]) == tok.encode_batch(sample[:300])


def test_save_overwrites(trained: toksmith.Tokenizer, cl100k: toksmith.Tokenizer, tmp_path: Path) -> None:
    p = tmp_path / "tokenizer.json"
    p.write_text("old content", encoding="utf-8")
    trained.save(p)
    assert toksmith.Tokenizer.from_file(p).to_json() == trained.to_json()


def test_tiktoken_round_trip(trained: toksmith.Tokenizer, sample: list[str], tmp_path: Path) -> None:
    p = tmp_path / "trained.tiktoken"
    trained.save_tiktoken(p)
    specials = {c: i for c, i, _ in trained.added_tokens}
    again = toksmith.Tokenizer.from_tiktoken(p, pattern=trained.pretokenizer, special_tokens=specials)
    assert again.vocab_size == trained.vocab_size
    for i in range(trained.vocab_size):
        assert again.decode_bytes([i]) == trained.decode_bytes([i]), i
    ids = trained.encode_batch(sample)
    assert [again.decode(x) for x in ids] == sample
    # the file is a valid tiktoken file: tiktoken's own encoder agrees with our rank-mode reload
    enc = tiktoken.Encoding(
        name="trained", pat_str=CL100K_PAT, mergeable_ranks=load_tiktoken_bpe(str(p)), special_tokens=specials
    )
    assert again.encode_batch(sample, added_tokens=False) == enc.encode_ordinary_batch(sample)
    assert [enc.decode(x) for x in ids] == sample


def test_tiktoken_save_of_tiktoken_is_identical(tokenizers_dir: Path, tmp_path: Path) -> None:
    src = tokenizers_dir / "gpt2.tiktoken"
    tok = toksmith_tiktoken(str(tokenizers_dir), "gpt2")
    tok.save_tiktoken(tmp_path / "gpt2.tiktoken")
    assert load_tiktoken_bpe(str(tmp_path / "gpt2.tiktoken")) == load_tiktoken_bpe(str(src))


def test_vocab_merges_load_in_hf(corpus_docs: list[str], sample: list[str], tmp_path: Path) -> None:
    """GPT-2 style vocab.json + merges.txt load with `tokenizers.models.BPE.from_file` and, with GPT-2's
    pipeline, give our ids."""
    tok = toksmith.train(texts=corpus_docs, vocab_size=1000, pretokenizer="gpt2")
    vocab, merges = tok.save_vocab_merges(tmp_path / "vm")
    assert (vocab.name, merges.name) == ("vocab.json", "merges.txt")
    model = models.BPE.from_file(str(vocab), str(merges))
    hf = tokenizers.Tokenizer(model)
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    assert hf.get_vocab_size() == tok.vocab_size
    assert len(json.loads(vocab.read_text(encoding="utf-8"))) == tok.vocab_size
    lines = merges.read_text(encoding="utf-8").splitlines()
    assert len([x for x in lines if not x.startswith("#version")]) == tok.n_merges
    assert [e.ids for e in hf.encode_batch(sample)] == tok.encode_batch(sample)
    assert hf.decode(tok.encode(sample[0])) == sample[0]
