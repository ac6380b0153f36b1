"""Bad inputs raise the documented, typed exceptions (never a crash, never a silent success)."""

from __future__ import annotations

import gzip
import json
import lzma
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

import toksmith

PANGRAM = "the quick brown fox jumps over the lazy dog; " * 20


def test_exception_hierarchy() -> None:
    for e in (
        toksmith.TokenizerFormatError,
        toksmith.TrainingError,
        toksmith.CorpusError,
        toksmith.EncodingError,
    ):
        assert issubclass(e, toksmith.ToksmithError)
    assert issubclass(toksmith.ToksmithError, Exception)


# ---------------------------------------------------------------------------------------------------------
# training inputs
# ---------------------------------------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(toksmith.CorpusError):
        toksmith.train([tmp_path / "nope.txt"], vocab_size=300)


def test_glob_matching_nothing(tmp_path: Path) -> None:
    with pytest.raises(toksmith.CorpusError):
        toksmith.train([str(tmp_path / "nope*.txt")], vocab_size=300)


def test_folder_without_text_files(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(toksmith.CorpusError):
        toksmith.train([tmp_path], vocab_size=300)


def test_no_input() -> None:
    with pytest.raises(toksmith.CorpusError):
        toksmith.train(vocab_size=300)


def test_unknown_corpus() -> None:
    with pytest.raises(toksmith.CorpusError):
        toksmith.train(corpus="no-such-corpus", vocab_size=300)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    with pytest.raises(toksmith.TrainingError):
        toksmith.train([p], vocab_size=300)


def test_empty_compressed_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.txt.gz"
    p.write_bytes(gzip.compress(b""))
    with pytest.raises(toksmith.TrainingError):
        toksmith.train([p], vocab_size=300)


@pytest.mark.parametrize("texts", [[], [""], ["", ""]])
def test_empty_texts(texts: list[str]) -> None:
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=texts, vocab_size=300)


@pytest.mark.parametrize(("vocab_size", "specials"), [(255, []), (0, []), (257, ["<a>", "<b>"]), (-1, [])])
def test_vocab_too_small(vocab_size: int, specials: list[str]) -> None:
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=["hello world " * 10], vocab_size=vocab_size, special_tokens=specials)


def test_vocab_of_only_bytes_and_specials_is_allowed() -> None:
    tok = toksmith.train(texts=["hello world " * 10], vocab_size=258, special_tokens=["<a>", "<b>"])
    assert (tok.vocab_size, tok.n_merges) == (258, 0)


def test_duplicate_special_tokens() -> None:
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=["hello world"], vocab_size=300, special_tokens=["<a>", "<a>"])


@pytest.mark.parametrize("kwargs", [{"min_frequency": 0}, {"max_token_length": 0}])
def test_bad_training_options(kwargs: dict) -> None:
    with pytest.raises(toksmith.TrainingError):
        toksmith.train(texts=["hello world"], vocab_size=300, **kwargs)


@pytest.mark.parametrize("spec", ["gpt5", "", "digits+", "digits+nope", "CL100K_BASE2", "regex:("])
def test_unknown_pretokenizer(spec: str) -> None:
    with pytest.raises(ValueError):
        toksmith.Pretokenizer(spec)
    with pytest.raises(ValueError):
        toksmith.train(texts=["hello world"], vocab_size=300, pretokenizer=spec)


def test_bad_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "fine"}\nnot json\n', encoding="utf-8")
    with pytest.raises(toksmith.CorpusError):
        toksmith.train([p], vocab_size=300)
    p.write_text('{"body": "no text field"}\n', encoding="utf-8")
    with pytest.raises(toksmith.CorpusError):
        toksmith.train([p], vocab_size=300)


def test_parquet_without_text_column(tmp_path: Path) -> None:
    pq.write_table(pa.table({"body": ["x y z"]}), tmp_path / "a.parquet")
    with pytest.raises(toksmith.CorpusError):
        toksmith.train([tmp_path / "a.parquet"], vocab_size=300)


@pytest.mark.parametrize("name", ["bad.txt.gz", "bad.txt.zst", "bad.txt.xz", "bad.parquet"])
def test_corrupt_compressed_file(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    p.write_bytes(b"this is not what the suffix says " * 10)
    with pytest.raises(toksmith.CorpusError):
        toksmith.train([p], vocab_size=300)


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".xz"])
def test_truncated_compressed_file(tmp_path: Path, suffix: str) -> None:
    rng = random.Random(0)
    data = " ".join(str(rng.random()) for _ in range(50_000)).encode()
    compress = {".gz": gzip.compress, ".xz": lzma.compress, ".zst": zstandard.ZstdCompressor().compress}[suffix]
    full = compress(data)
    p = tmp_path / f"cut.txt{suffix}"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(toksmith.CorpusError):
        toksmith.train([p], vocab_size=300)


# ---------------------------------------------------------------------------------------------------------
# tokenizer files
# ---------------------------------------------------------------------------------------------------------
def test_missing_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_file(tmp_path / "nope.json")
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_file(tmp_path)  # a folder without tokenizer.json
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_tiktoken(tmp_path / "nope.tiktoken", pattern="gpt2")


def _valid_json() -> dict:
    return json.loads(toksmith.train(texts=["hello world, hello there " * 20], vocab_size=270).to_json())


def _without(d: dict, *keys: str) -> dict:
    d = json.loads(json.dumps(d))
    node = d
    for k in keys[:-1]:
        node = node[k]
    del node[keys[-1]]
    return d


MALFORMED: dict[str, str] = {
    "not json": "{not json",
    "empty file": "",
    "a list": "[]",
    "no model": json.dumps({"version": "1.0"}),
    "model is null": json.dumps({"model": None}),
}


@pytest.mark.parametrize("what", list(MALFORMED))
def test_malformed_json(tmp_path: Path, what: str) -> None:
    p = tmp_path / "tokenizer.json"
    p.write_text(MALFORMED[what], encoding="utf-8")
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_file(p)
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_str(MALFORMED[what])


def _broken_variants() -> dict[str, dict]:
    v = _valid_json()
    out: dict[str, dict] = {}
    out["no vocab"] = _without(v, "model", "vocab")
    out["no merges"] = _without(v, "model", "merges")
    d = json.loads(json.dumps(v))
    d["model"]["vocab"] = ["a", "b"]
    out["vocab is a list"] = d
    d = json.loads(json.dumps(v))
    d["model"]["merges"] = [["h", "no-such-token"]]
    out["merge of unknown token"] = d
    d = json.loads(json.dumps(v))
    d["model"]["merges"] = ["nospace"]
    out["merge without space"] = d
    d = json.loads(json.dumps(v))
    d["model"]["merges"] = [["a", "b", "c"]]
    out["merge of three"] = d
    d = json.loads(json.dumps(v))
    first = next(iter(d["model"]["vocab"]))
    d["model"]["vocab"][first] = "zero"
    out["id not an integer"] = d
    d = json.loads(json.dumps(v))
    d["added_tokens"] = [{"content": "<x>"}]
    out["added token without id"] = d
    return out


def test_missing_byte_token_is_dropped_like_hf() -> None:
    """A merge-list tokenizer.json may lack some byte tokens (SmolLM2 lacks 21): HF drops those bytes; so do we."""
    import tokenizers

    d = json.loads(toksmith.train(texts=[PANGRAM * 20], vocab_size=300).to_json())
    vocab = d["model"]["vocab"]
    used = {p for m in d["model"]["merges"] for p in m}
    victim = next(k for k, i in vocab.items() if len(k) == 1 and k not in used and k.isalpha())
    del vocab[victim]
    text = json.dumps(d)
    ours = toksmith.Tokenizer.from_str(text)
    hf = tokenizers.Tokenizer.from_str(text)
    sample = [PANGRAM, f"x{victim}y {victim}{victim}", "plain words"]
    assert ours.encode_batch(sample) == [e.ids for e in hf.encode_batch(sample)]


@pytest.mark.parametrize("what", list(_broken_variants()))
def test_broken_model(what: str) -> None:
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_str(json.dumps(_broken_variants()[what]))


def test_unsupported_wordpiece(tokenizers_dir: Path) -> None:
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_file(tokenizers_dir / "all-minilm-l6-v2" / "tokenizer.json")


@pytest.mark.parametrize(
    "change",
    [
        {"normalizer": {"type": "Lowercase"}},
        {"pre_tokenizer": {"type": "Whitespace"}},
        {"pre_tokenizer": None},
        {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}},
        {"pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}},
    ],
)
def test_unsupported_pipeline(change: dict) -> None:
    d = _valid_json()
    d.update(change)
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_str(json.dumps(d))


@pytest.mark.parametrize("model_type", ["WordPiece", "Unigram", "WordLevel"])
def test_unsupported_model_types(model_type: str) -> None:
    d = _valid_json()
    d["model"]["type"] = model_type
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_str(json.dumps(d))


@pytest.mark.parametrize(
    "content",
    ["not base64 !! 1\n", "aGk= notanumber\n", "aGk=\n", "aGk= 0\naGk= 1\n"],
)
def test_malformed_tiktoken(tmp_path: Path, content: str) -> None:
    p = tmp_path / "x.tiktoken"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_tiktoken(p, pattern="gpt2")


def test_tiktoken_unknown_name_needs_pattern(tokenizers_dir: Path) -> None:
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_tiktoken(tokenizers_dir / "whisper-multilingual.tiktoken")
    with pytest.raises(ValueError):
        toksmith.Tokenizer.from_tiktoken(tokenizers_dir / "gpt2.tiktoken", pattern="nope")


# ---------------------------------------------------------------------------------------------------------
# encoding / decoding
# ---------------------------------------------------------------------------------------------------------
def test_decode_unknown_id() -> None:
    tok = toksmith.train(texts=[PANGRAM], vocab_size=270)
    n = tok.vocab_size
    for ids in ([n], [10**6], [0, 1, n]):
        with pytest.raises(toksmith.EncodingError):
            tok.decode(ids)
        with pytest.raises(toksmith.EncodingError):
            tok.decode_bytes(ids)
    with pytest.raises((OverflowError, TypeError, ValueError)):
        tok.decode([-1])


def test_save_into_missing_folder(tmp_path: Path) -> None:
    tok = toksmith.train(texts=[PANGRAM], vocab_size=270)
    with pytest.raises((toksmith.ToksmithError, OSError)):
        tok.save(tmp_path / "no" / "such" / "dir" / "tokenizer.json")
    assert list(tmp_path.iterdir()) == []


def test_empty_special_token() -> None:
    with pytest.raises((toksmith.TrainingError, ValueError)):
        toksmith.train(texts=[PANGRAM], vocab_size=280, special_tokens=[""])


def test_empty_special_token_tiktoken(tokenizers_dir: Path) -> None:
    with pytest.raises((toksmith.TokenizerFormatError, ValueError)):
        toksmith.Tokenizer.from_tiktoken(tokenizers_dir / "gpt2.tiktoken", special_tokens={"": 50256})


def test_special_token_id_taken_by_a_rank(tokenizers_dir: Path) -> None:
    with pytest.raises(toksmith.TokenizerFormatError):
        toksmith.Tokenizer.from_tiktoken(tokenizers_dir / "gpt2.tiktoken", special_tokens={"<x>": 5})
