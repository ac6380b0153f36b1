"""`toksmith analyze` and `toksmith.analysis.metrics`: golden values of tokenization-scorer, definitions on tiny
inputs, real tokenizers against their reference implementations, bad input through the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from toksmith.analysis.corpus import read_segments
from toksmith.analysis.metrics import (
    analyze,
    efficiency,
    heldout_conditional_entropies,
    plugin_conditional_entropies,
    renyi_entropy,
    shannon_entropy,
)
from toksmith.analysis.report import render_analysis
from toksmith.corpora import find_shared
from toksmith.errors import AnalysisError

SHARED = find_shared()
TOK = SHARED / "tokenizers" if SHARED else None
needs_tok = pytest.mark.skipif(TOK is None or not TOK.is_dir(), reason="shared tokenizers not found")

# Golden values from the tokenization-scorer package (PyPI, version 1.1.8), file tokenization_scorer/test.py.
# It counts whitespace-separated tokens of each text and, by default, takes the vocabulary size to be the number
# of distinct tokens observed.
SCORER_TEXT1 = "pick @@ed pick @@l @@ed pick @@les"
SCORER_TEXT2 = "pick @@e @@d pick @@l @@e @@d pick @@l @@e @@s"
SCORER_GOLDEN = {
    # text: (renyi efficiency α=2.5, renyi entropy α=2.5, shannon efficiency, shannon entropy)
    SCORER_TEXT1: (0.8265064834225245, 1.653012966845049, 0.9211854965885544, 1.8423709931771088),
    SCORER_TEXT2: (0.9204840242168808, 2.1372977167241545, 0.9609557933859342, 2.2312702546075758),
}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if SHARED is not None:
        env.setdefault("TOKSMITH_SHARED", str(SHARED))
    return subprocess.run(
        [sys.executable, "-m", "toksmith", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.parametrize("text", list(SCORER_GOLDEN))
def test_tokenization_scorer_golden_values(text: str) -> None:
    counts = list(Counter(text.split()).values())
    v = len(counts)  # observed types
    renyi_eff, renyi, shannon_eff, shannon = SCORER_GOLDEN[text]
    assert abs(efficiency(renyi_entropy(counts, 2.5), v) - renyi_eff) < 1e-5
    assert abs(renyi_entropy(counts, 2.5) - renyi) < 1e-5
    assert abs(efficiency(shannon_entropy(counts), v) - shannon_eff) < 1e-5
    assert abs(shannon_entropy(counts) - shannon) < 1e-5


def test_golden_values_through_analyze(tmp_path: Path) -> None:
    """The same numbers from the full analysis, with the pieces as the tokens: a `chars` tokenizer over a text
    whose 'characters' are the pieces (one private-use code point per distinct piece)."""
    pieces = SCORER_TEXT2.split()
    code = {p: chr(0xE000 + i) for i, p in enumerate(dict.fromkeys(pieces))}
    rep = analyze(["chars"], ["".join(code[p] for p in pieces)], alpha=2.5, compressors=None)
    v = rep.tokenizers[0].values
    renyi_eff, renyi, shannon_eff, shannon = SCORER_GOLDEN[SCORER_TEXT2]
    assert abs(v["renyi_efficiency"] - renyi_eff) < 1e-5 and abs(v["renyi_entropy"] - renyi) < 1e-5
    assert abs(v["shannon_efficiency"] - shannon_eff) < 1e-5 and abs(v["shannon_entropy"] - shannon) < 1e-5
    assert v["capacity_utilisation"] == pytest.approx(shannon / math.log2(0x110000))


def test_entropies_by_hand() -> None:
    assert shannon_entropy([1, 1, 1, 1]) == pytest.approx(2.0)
    assert shannon_entropy([2, 1, 1]) == pytest.approx(1.5)
    assert renyi_entropy([2, 1, 1], 1.0) == pytest.approx(1.5)
    assert renyi_entropy([2, 1, 1], 0.0) == pytest.approx(math.log2(3))
    assert renyi_entropy([2, 1, 1], 2.0) == pytest.approx(-math.log2(0.25 + 0.0625 + 0.0625))
    assert renyi_entropy([2, 1, 1], math.inf) == pytest.approx(1.0)
    assert efficiency(2.0, 16) == pytest.approx(0.5)
    with pytest.raises(AnalysisError):
        shannon_entropy([0, 0])


def test_conditional_entropies_by_hand() -> None:
    # a fixed cycle: after the first token everything is determined
    cyc = [np.array([1, 2, 3] * 30) for _ in range(20)]
    h = plugin_conditional_entropies(cyc, 3)
    assert h[0] == pytest.approx(math.log2(3)) and h[1] == pytest.approx(0.0) and h[2] == pytest.approx(0.0)
    held = heldout_conditional_entropies(cyc, 3, 3)
    assert held[0] == pytest.approx(math.log2(3), abs=0.01) and held[1] < 0.05 and held[2] < 0.05
    # segments "ab" and "ba": H_1 = 1 bit; after the boundary either token may come (1 bit, half the positions),
    # after a token the next is certain: H_2 = 0.5 bit
    h = plugin_conditional_entropies([np.array([0, 1]), np.array([1, 0])], 2)
    assert h == pytest.approx([1.0, 0.5])
    # i.i.d. uniform bits: every H_k, plug-in or held-out, is close to 1 bit
    rng = np.random.default_rng(0)
    iid = [rng.integers(0, 2, 500) for _ in range(100)]
    plug, held = plugin_conditional_entropies(iid, 4), heldout_conditional_entropies(iid, 2, 4)
    assert all(0.98 < x <= 1.0 for x in plug)
    assert all(abs(x - 1) < 0.02 for x in held)


def test_analysis_definitions_by_hand() -> None:
    segs = ["aa b", "ccc b"]
    rep = analyze(["bytes", "chars"], segs, compressors="gzip", kmax=2)
    b, c = (t.values for t in rep.tokenizers)
    assert (rep.bytes, rep.chars, rep.words, rep.segments) == (9, 9, 4, 2)
    assert b["tokens"] == c["tokens"] == 9 and b["bytes_per_token"] == 1.0
    # words aa, b, ccc, b on their own: 2, 1, 3, 1 tokens
    assert c["fertility"] == pytest.approx(7 / 4)
    assert c["continued_words"] == pytest.approx(0.5) and c["single_token_words"] == pytest.approx(0.5)
    assert c["tokens_per_word"] == pytest.approx(9 / 4)
    assert b["types"] == 4 and b["vocab_used"] == pytest.approx(4 / 256)  # a, b, c, space
    counts = [2, 2, 3, 2]  # a, b, c, ' '
    assert b["shannon_entropy"] == pytest.approx(shannon_entropy(counts))
    assert b["bpb_fixed"] == pytest.approx(8.0) and b["bpb_order0"] == pytest.approx(shannon_entropy(counts))
    assert b["H_plugin"][0] == pytest.approx(b["shannon_entropy"])
    assert set(b["ids_compressed_bpb"]) == {"gzip-9"}


def test_report_formats() -> None:
    rep = analyze(["bytes", "chars"], ["hello world", "hello there"], compressors="zstd", kmax=3)
    d = json.loads(render_analysis(rep, "json"))
    assert [t["name"] for t in d["tokenizers"]] == ["bytes", "chars"] and len(d["tokenizers"][0]["H_plugin"]) == 3
    assert "H_k" in d["definitions"]
    assert render_analysis(rep, "csv").splitlines()[0].startswith("tokenizer,backend,vocab_size,tokens")
    assert "| fertility (words alone) |" in render_analysis(rep, "md")
    assert "Plotly.newPlot" in render_analysis(rep, "html")


def test_read_segments(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "a.txt").write_text("x y\n\n z\n", encoding="utf-8")
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(b"w\n"))
    assert read_segments([tmp_path / "a.txt", tmp_path / "b.txt.gz"]) == ["x y", " z", "w"]
    (tmp_path / "e.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(AnalysisError, match="empty corpus"):
        read_segments([tmp_path / "e.txt"])


@needs_tok
def test_real_tokenizers_match_references() -> None:
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    segs = [
        "Tokenizers introduce unfairness between languages.",
        "Les tokenizers introduisent des inégalités entre les langues.",
        "语言模型的分词器在语言之间引入了不公平。",
        "1234567 numbers, and spaces    here",
    ] * 3
    pat = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501
    enc = tiktoken.Encoding(
        name="cl100k_base",
        pat_str=pat,
        special_tokens={},
        mergeable_ranks=load_tiktoken_bpe(str(TOK / "cl100k_base.tiktoken")),
    )
    rep = analyze(["cl100k_base", "all-minilm-l6-v2"], segs, compressors=None, kmax=2)
    ids = [t for s in segs for t in enc.encode_ordinary(s)]
    v = rep.tokenizers[0].values
    assert v["tokens"] == len(ids) and v["types"] == len(set(ids))
    assert v["shannon_entropy"] == pytest.approx(shannon_entropy(list(Counter(ids).values())))
    hf = pytest.importorskip("tokenizers")
    h = hf.Tokenizer.from_file(str(TOK / "all-minilm-l6-v2" / "tokenizer.json"))
    h.no_padding()
    h.no_truncation()
    n = sum(len(h.encode(s, add_special_tokens=False).ids) for s in segs)
    assert rep.tokenizers[1].values["tokens"] == n and rep.tokenizers[1].vocab_size == 30522


def test_cli_analyze(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat too\n", encoding="utf-8")
    out = tmp_path / "a.json"
    r = run_cli("analyze", "bytes", "chars", "--corpus", str(corpus), "-o", str(out), "--k", "3", "-q")
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["words"] == 10 and d["tokenizers"][0]["tokens"] == 22 + 15
    r = run_cli("analyze", "bytes", "--corpus", str(corpus), "--format", "md")
    assert r.returncode == 0 and "Shannon" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["bytes", "--corpus", "EMPTY"], "empty corpus"),
        (["bytes", "--corpus", "/nonexistent/corpus.txt"], "no such file"),
        (["nonsense-tokenizer", "--corpus", "GOOD"], "unknown tokenizer spec"),
        (["bytes", "--corpus", "GOOD", "--vocab", "huge"], "vocabulary convention"),
    ],
)
def test_cli_analyze_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    (tmp_path / "good.txt").write_text("some text\n", encoding="utf-8")
    args = [
        str(tmp_path / "empty.txt") if a == "EMPTY" else str(tmp_path / "good.txt") if a == "GOOD" else a for a in args
    ]
    out = tmp_path / "a.html"
    r = run_cli("analyze", *args, "-o", str(out))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not out.exists()
