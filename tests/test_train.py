"""Training: determinism, input formats, stream counting, invalid UTF-8, and agreement with HF's BpeTrainer."""

from __future__ import annotations

import collections
import gzip
import json
import lzma
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tokenizers
import zstandard
from tokenizers import Regex, models, pre_tokenizers, trainers

import toksmith
from reference import CL100K_PAT, GPT2_PAT, O200K_PAT, SPLIT_PRESETS, compiled, reference_split

VOCAB = 2000


@pytest.fixture(scope="module")
def train_text(heldout_text: str) -> str:
    """About 3 MB of English (the held-out books' first part)."""
    return heldout_text[: heldout_text.index("\n", 3_000_000) + 1]


@pytest.fixture(scope="module")
def eval_text(heldout_text: str, train_text: str) -> str:
    """The rest of the held-out books (about 1.2 MB), never seen in training."""
    return heldout_text[len(train_text) :]


@pytest.fixture(scope="module")
def text_file(train_text: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("corpus") / "train.txt"
    p.write_bytes(train_text.encode("utf-8"))
    return p


def merges_of(tok: toksmith.Tokenizer) -> list[tuple[bytes, bytes]]:
    return tok.merges()


# ---------------------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["cl100k", "o200k"])
def test_threads_do_not_change_result(preset: str, text_file: Path, tmp_path: Path) -> None:
    outs = []
    for k, threads in enumerate([1, 2, 2, 4]):
        tok = toksmith.train(
            [text_file], vocab_size=VOCAB, pretokenizer=preset, threads=threads, special_tokens=["<s>"]
        )
        out = tmp_path / f"t{k}.json"
        tok.save(out)
        outs.append(out.read_bytes())
    assert all(o == outs[0] for o in outs[1:])


def test_documents_threads_do_not_change_result(train_text: str) -> None:
    docs = train_text.split("\n\n")
    a = toksmith.train(texts=docs, vocab_size=VOCAB, threads=1).to_json()
    b = toksmith.train(texts=docs, vocab_size=VOCAB, threads=2).to_json()
    c = toksmith.train(texts=list(reversed(docs)), vocab_size=VOCAB, threads=2).to_json()
    assert a == b == c  # document order does not matter either: counts are a multiset


# ---------------------------------------------------------------------------------------------------------
# input formats: each holds the same single document
# ---------------------------------------------------------------------------------------------------------
def _write_formats(text: str, d: Path) -> list[Path]:
    b = text.encode("utf-8")
    (d / "a.txt").write_bytes(b)
    (d / "a.txt.gz").write_bytes(gzip.compress(b))
    (d / "a.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(b))
    (d / "a.txt.xz").write_bytes(lzma.compress(b))
    record = json.dumps({"id": 7, "text": text}) + "\n"
    (d / "a.jsonl").write_text(record, encoding="utf-8")
    (d / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(record.encode("utf-8")))
    pq.write_table(pa.table({"id": [7], "text": [text]}), d / "a.parquet")
    return sorted(d.iterdir())


def test_formats_give_same_merges(train_text: str, tmp_path: Path) -> None:
    files = _write_formats(train_text, tmp_path)
    assert len(files) == 7
    ref = toksmith.train(texts=[train_text], vocab_size=VOCAB)
    for f in files:
        tok = toksmith.train([f], vocab_size=VOCAB)
        assert tok.stats is not None
        assert (tok.stats.files, tok.stats.documents) == (1, 1), f.name
        assert tok.stats.bytes == len(train_text.encode("utf-8")), f.name
        assert tok.stats.invalid_utf8_sequences == 0
        assert merges_of(tok) == merges_of(ref), f.name
        assert tok.to_json() == ref.to_json(), f.name


def test_jsonl_parquet_records_are_documents(tmp_path: Path) -> None:
    docs = ["first document  ", "  second\n", "third 123", "first document  "]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs), encoding="utf-8")
    pq.write_table(pa.table({"text": docs}), tmp_path / "d.parquet")
    want = collections.Counter(c for t in docs for c in reference_split("cl100k", t))
    for name in ("d.jsonl", "d.parquet"):
        counter = toksmith.count([tmp_path / name], pretokenizer="cl100k")
        assert counter.documents == len(docs)
        assert dict(counter.as_dict()) == dict(want), name


def test_folder_and_glob(train_text: str, tmp_path: Path) -> None:
    parts = [train_text[:900_000], train_text[900_000:1_500_000], train_text[1_500_000:]]
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    files = [d / "a.txt", d / "sub" / "b.txt.gz", d / "sub" / "c.txt.zst"]
    files[0].write_text(parts[0], encoding="utf-8")
    files[1].write_bytes(gzip.compress(parts[1].encode("utf-8")))
    files[2].write_bytes(zstandard.ZstdCompressor().compress(parts[2].encode("utf-8")))
    (d / ".hidden.txt").write_text("hidden " * 50_000, encoding="utf-8")  # skipped
    (d / "image.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 100)  # not a text suffix: skipped
    explicit = toksmith.train(files, vocab_size=VOCAB)
    assert explicit.stats is not None and explicit.stats.files == 3
    by_folder = toksmith.train([d], vocab_size=VOCAB)
    assert by_folder.stats is not None and by_folder.stats.files == 3
    by_glob = toksmith.train([str(d / "**" / "*.t*")], vocab_size=VOCAB)
    assert by_glob.stats is not None and by_glob.stats.files == 3
    assert by_folder.to_json() == explicit.to_json() == by_glob.to_json()
    # three streams: chunks never span files, so this equals training on the three parts as documents
    assert explicit.to_json() == toksmith.train(texts=parts, vocab_size=VOCAB).to_json()


# ---------------------------------------------------------------------------------------------------------
# stream counting: a file is cut into blocks only where the chunks cannot change
# ---------------------------------------------------------------------------------------------------------
def _adversarial_text(seed: int, size: int) -> str:
    """Text dense in places where a careless cut changes the chunks: whitespace runs around newlines,
    `/` after newlines (o200k), digits, apostrophes, marks, several scripts."""
    rng = random.Random(seed)
    pieces = [
        "a", "Z", "word", "Hello", "ab1", "1", "1234", "٣٤", "x's", "'S", "'ll", "don't", "ſ", "é", "e\u0301",
        "Ж", "中文", "한국어", "ไทย", "नमस्ते", "👍🏽", ".", ",", "/", "//", "-", "...", "!?", "\u00a0", "\u3000",
        " ", " ", "  ", "   ", "\t", "\n", "\n", "\n\n", " \n", "\n ", "\r\n", "\n/", "\n\n\n", "  \n  ",
    ]  # fmt: skip
    out: list[str] = []
    n = 0
    while n < size:
        p = rng.choice(pieces)
        out.append(p)
        n += len(p)
    return "".join(out)


@pytest.mark.parametrize("preset", SPLIT_PRESETS)
def test_stream_counts_equal_regex_counts(preset: str, tmp_path: Path) -> None:
    """Counting a 2.5 MB file (cut into ~1 MiB blocks) gives exactly the reference regex's chunk counts of
    the whole text; so does a zstd copy (read in pieces)."""
    text = _adversarial_text(seed=SPLIT_PRESETS.index(preset), size=2_500_000)
    want = collections.Counter(reference_split(preset, text))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8", newline="")
    (tmp_path / "t.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode("utf-8")))
    for name in ("t.txt", "t.txt.zst"):
        counter = toksmith.count([tmp_path / name], pretokenizer=preset)
        assert counter.forced_cuts == 0
        got = counter.as_dict()
        if got != want:
            diff = sorted(set(got.items()) ^ set(want.items()))[:6]
            pytest.fail(f"{name}: counts differ from the reference, e.g. {diff!r}")


@pytest.mark.xfail(
    strict=True,
    reason="BUG: for regex: specs (and 'none') a stream is cut after any newline, which can split a chunk "
    "(here ' \\n ' -> ' \\n' + ' '); forced_cuts stays 0, so nothing reports it",
)
def test_stream_counts_regex_spec(tmp_path: Path) -> None:
    pattern = r"\S+|\s+"
    text = "w \n " * 600_000  # 2.4 MB: several blocks; every newline sits inside a whitespace run
    (tmp_path / "t.txt").write_text(text, encoding="utf-8", newline="")
    counter = toksmith.count([tmp_path / "t.txt"], pretokenizer="regex:" + pattern)
    assert counter.as_dict() == collections.Counter(compiled(pattern).findall(text))


def test_many_small_documents_count_like_regex(train_text: str) -> None:
    docs = train_text[:500_000].split("\n")
    counter = toksmith.count(texts=docs, pretokenizer="o200k")
    assert counter.as_dict() == collections.Counter(m for d in docs for m in compiled(O200K_PAT).findall(d))


# ---------------------------------------------------------------------------------------------------------
# invalid UTF-8
# ---------------------------------------------------------------------------------------------------------
def test_invalid_utf8(train_text: str, tmp_path: Path) -> None:
    good = train_text[:1_500_000].encode("utf-8")
    junk = [b"\xff", b"\xfe\xfe", b"\xc3\x28", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"]
    rng = random.Random(1)
    cuts = sorted(rng.sample(range(len(good)), 40))
    data = b""
    prev = 0
    for k, c in enumerate(cuts):
        while c < len(good) and (good[c] & 0xC0) == 0x80:  # insert at character boundaries
            c += 1
        data += good[prev:c] + junk[k % len(junk)]
        prev = c
    data += good[prev:] + b"\xe2"  # a cut character at the very end
    p = tmp_path / "bad.txt"
    p.write_bytes(data)
    decoded = data.decode("utf-8", errors="replace")
    assert "\ufffd" not in good.decode("utf-8")

    tok = toksmith.train([p], vocab_size=VOCAB)
    assert tok.stats is not None
    assert tok.stats.invalid_utf8_sequences == decoded.count("\ufffd") > 0
    assert tok.to_json() == toksmith.train(texts=[decoded], vocab_size=VOCAB).to_json()
    counter = toksmith.count([p], pretokenizer="cl100k")
    assert counter.as_dict() == collections.Counter(compiled(CL100K_PAT).findall(decoded))


# ---------------------------------------------------------------------------------------------------------
# the trained model
# ---------------------------------------------------------------------------------------------------------
def test_layout_of_ids(train_text: str) -> None:
    specials = ["<|endoftext|>", "<pad>", "<mask>"]
    tok = toksmith.train(texts=[train_text], vocab_size=VOCAB, special_tokens=specials)
    assert tok.vocab_size == VOCAB
    assert [(c, i) for c, i, _ in tok.added_tokens] == [(s, k) for k, s in enumerate(specials)]
    # then the 256 bytes, then one token per merge, in merge order
    assert {tok.id_to_bytes(i) for i in range(3, 259)} == {bytes([b]) for b in range(256)}
    merges = tok.merges()
    assert len(merges) == tok.n_merges == VOCAB - 259
    for k, (a, b) in enumerate(merges):
        assert tok.id_to_bytes(259 + k) == a + b
        assert tok.token_to_id(a) is not None and tok.token_to_id(a) < 259 + k  # parts exist before
        assert tok.token_to_id(b) is not None and tok.token_to_id(b) < 259 + k
    assert len({tok.id_to_bytes(i) for i in range(3, VOCAB)}) == VOCAB - 3  # no duplicate tokens
    for s in specials:
        assert tok.encode(f"x{s}y") == [*tok.encode("x"), specials.index(s), *tok.encode("y")]


def _remaining_pairs(tok: toksmith.Tokenizer, chunks: collections.Counter, max_len: int | None) -> list:
    """Adjacent token pairs (within chunks) that training could still have merged, with their counts."""
    pairs: collections.Counter = collections.Counter()
    for chunk, n in chunks.items():
        toks = [tok.id_to_bytes(i) for i in tok.encode(chunk, added_tokens=False)]
        for a, b in zip(toks, toks[1:]):
            if max_len is None or len(a) + len(b) <= max_len:
                pairs[(a, b)] += n
    return pairs.most_common(3)


@pytest.mark.parametrize("max_token_length", [2, 5, None])
def test_training_runs_to_completion(train_text: str, max_token_length: int | None) -> None:
    """With a vocabulary too large to fill, training stops only when no allowed pair occurs min_frequency
    times any more; no token is longer than max_token_length."""
    text = train_text[:400_000]
    min_frequency = 3
    with pytest.warns(UserWarning):  # documented: stopping short of vocab_size warns
        tok = toksmith.train(
            texts=[text], vocab_size=100_000, min_frequency=min_frequency, max_token_length=max_token_length
        )
    assert tok.vocab_size < 100_000
    if max_token_length is not None:
        assert max(len(tok.id_to_bytes(i) or b"") for i in range(tok.vocab_size)) <= max_token_length
    chunks = collections.Counter(compiled(CL100K_PAT).findall(text))
    top = _remaining_pairs(tok, chunks, max_token_length)
    assert not top or top[0][1] < min_frequency, top


# ---------------------------------------------------------------------------------------------------------
# agreement with Hugging Face's BpeTrainer
# ---------------------------------------------------------------------------------------------------------
def onig(pattern: str) -> str:
    """A tiktoken pattern spelled for Oniguruma (HF): `$` is an end-of-line anchor there (use `\\z`) and
    `{1,3}+` is not possessive (drop the `+`; a possessive and a greedy `{1,3}` match the same here)."""
    return pattern.replace(r"\s++$", r"\s++\z").replace("{1,3}+", "{1,3}")


def hf_train(text: str, pattern: str, vocab_size: int, min_frequency: int = 2) -> tokenizers.Tokenizer:
    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(onig(pattern)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator([text], trainer=trainer)  # ONE string: the same counting as ours
    return hf


def _hf_merges(hf: tokenizers.Tokenizer) -> list[tuple[str, str]]:
    out = []
    for m in json.loads(hf.to_str())["model"]["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        out.append((a, b))
    return out


def _our_merges(tok: toksmith.Tokenizer) -> list[tuple[str, str]]:
    return [tuple(m) for m in json.loads(tok.to_json())["model"]["merges"]]  # type: ignore[misc]


@pytest.mark.parametrize(("preset", "pattern"), [("gpt2", GPT2_PAT), ("cl100k", CL100K_PAT), ("o200k", O200K_PAT)])
def test_matches_hf_bpe_trainer(preset: str, pattern: str, train_text: str, eval_text: str) -> None:
    hf = hf_train(train_text, pattern, VOCAB, min_frequency=2)
    ours = toksmith.train(texts=[train_text], vocab_size=VOCAB, pretokenizer=preset, min_frequency=2)
    assert ours.vocab_size == hf.get_vocab_size() == VOCAB
    ours_m, hf_m = _our_merges(ours), _hf_merges(hf)
    assert ours_m[:50] == hf_m[:50]
    assert len(set(ours_m) & set(hf_m)) >= 0.95 * len(hf_m)
    n_bytes = len(eval_text.encode("utf-8"))
    ours_bpt = n_bytes / len(ours.encode(eval_text))
    hf_bpt = n_bytes / len(hf.encode(eval_text).ids)
    assert abs(ours_bpt - hf_bpt) <= 0.01 * hf_bpt, (ours_bpt, hf_bpt)


def test_min_frequency_like_hf(train_text: str) -> None:
    text = train_text[:1_000_000]
    for mf in (20, 300):
        hf = hf_train(text, CL100K_PAT, 5000, min_frequency=mf)
        with pytest.warns(UserWarning):
            ours = toksmith.train(texts=[text], vocab_size=5000, min_frequency=mf)
        assert ours.n_merges == len(_hf_merges(hf)) < 5000 - 256, mf
        assert _our_merges(ours)[:50] == _hf_merges(hf)[:50]


def test_named_corpus(shared: Path) -> None:
    tok = toksmith.train(corpus="gutenberg-en-heldout", vocab_size=600)
    assert tok.stats is not None
    assert tok.stats.bytes == (shared / "corpora" / "gutenberg-en" / "heldout.txt").stat().st_size
    direct = toksmith.train([shared / "corpora" / "gutenberg-en" / "heldout.txt"], vocab_size=600)
    assert tok.to_json() == direct.to_json()


def test_progress_and_cancel(train_text: str) -> None:
    seen: list[tuple[str, int, int]] = []

    def progress(phase: str, done: int, total: int) -> bool:
        seen.append((phase, done, total))
        return True

    toksmith.train(texts=[train_text[:300_000]], vocab_size=800, progress=progress)
    phases = [p for p, _, _ in seen]
    assert "count" in phases and "merge" in phases
    merge_done = [d for p, d, _ in seen if p == "merge"]
    assert merge_done == sorted(merge_done)

    def cancel(phase: str, done: int, total: int) -> bool:
        return phase != "merge" or done < 50

    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=[train_text[:300_000]], vocab_size=800, progress=cancel)
