"""`toksmith premium` and its Python API: definitions on tiny inputs, exactness on FLORES-200 (tiktoken per line,
Petrov et al.'s published totals), tokenizer specs, output formats, bad input through the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from toksmith.analysis.corpus import open_parallel, split_lines
from toksmith.analysis.premium import compute_premium, load_prices
from toksmith.analysis.report import render_premium
from toksmith.analysis.tokenizers import TokenizerSpec, load
from toksmith.corpora import find_shared
from toksmith.errors import AnalysisError, ToksmithError

SHARED = find_shared()
TOK = SHARED / "tokenizers" if SHARED else None
FLORES = SHARED / "corpora" / "flores200" / "flores200.zip" if SHARED else None
needs_flores = pytest.mark.skipif(FLORES is None or not FLORES.exists(), reason="FLORES-200 zip not found")
needs_tok = pytest.mark.skipif(TOK is None or not TOK.is_dir(), reason="shared tokenizers not found")

# Petrov et al. 2023, "Language Model Tokenizers Introduce Unfairness Between Languages": per-language token
# counts of FLORES-200 dev+devtest, from github.com/AleksandarPetrov/tokenization-fairness,
# assets/tokenization_lengths.csv (commit 365c3f8), columns cl100k_base, GPT-2, ByT5 (UTF-8 bytes), UTF-32 (code
# points).
PETROV = {
    "eng_Latn": (52835, 52567, 259396, 259170),
    "fra_Latn": (84407, 104971, 320613, 308489),
    "shn_Mymr": (795074, 986091, 1020993, 368897),
    "zho_Hans": (101138, 168850, 240075, 87445),
    "jpn_Jpan": (121627, 157858, 329167, 113611),
    "kor_Hang": (125737, 266663, 310727, 130986),
    "hin_Deva": (253270, 392092, 661374, 258472),
    "amh_Ethi": (405644, 409343, 445855, 174268),
    "arb_Arab": (160485, 231316, 413881, 228923),
    "rus_Cyrl": (131496, 301727, 514650, 282208),
    "sat_Olck": (676349, 675930, 723211, 274886),
    "yue_Hant": (111948, 162457, 225376, 80134),
}
SAMPLE_LANGS = ["eng_Latn", "fra_Latn", "shn_Mymr", "zho_Hans", "kor_Hang", "hin_Deva", "amh_Ethi", "sat_Olck"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if SHARED is not None:
        env.setdefault("TOKSMITH_SHARED", str(SHARED))
    return subprocess.run(
        [sys.executable, "-m", "toksmith", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    """Three languages × three aligned lines, counts easy to do by hand."""
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "eng.txt").write_text("ab\nabcd\nabcdef\n", encoding="utf-8")
    (d / "xxx.txt").write_text("abab\nabcd\nabcdefabcdef\n", encoding="utf-8")
    (d / "yyy.txt").write_text("é\nééé\nab\n", encoding="utf-8")  # é is 2 bytes
    return d


# ---------------------------------------------------------------------------------------------------------------
# definitions on hand-computable inputs


def test_definitions_by_hand(tiny: Path) -> None:
    rep = compute_premium(["bytes", "chars"], corpus=tiny, ref="eng", bootstrap=0, compressors=None)
    assert rep.langs == ["eng", "xxx", "yyy"] and rep.n_lines == 3 and rep.mode == "lines"
    b, c = rep.tokenizers
    # CTC = Σ |T(line)|: eng 2+4+6 = 12; xxx 4+4+12 = 20; yyy bytes 2+6+2 = 10, chars 1+3+2 = 6
    assert b.ctc.tolist() == [12, 20, 10] and c.ctc.tolist() == [12, 20, 6]
    assert b.premium.tolist() == pytest.approx([1, 20 / 12, 10 / 12])
    assert c.premium.tolist() == pytest.approx([1, 20 / 12, 6 / 12])
    # per-sentence ratios xxx: 4/2, 4/4, 12/6 → median 2, quartiles 1.5, 2; yyy chars: 1/2, 3/4, 2/6
    assert b.ratio_median[1] == pytest.approx(2.0)
    assert (b.ratio_q1[1], b.ratio_q3[1]) == pytest.approx((1.5, 2.0))
    assert c.ratio_median[2] == pytest.approx(0.5)
    assert (c.ratio_q1[2], c.ratio_q3[2]) == pytest.approx(((1 / 3 + 0.5) / 2, (0.5 + 0.75) / 2))
    # bytes of the lines (no newlines) and the byte premium
    assert rep.bytes.tolist() == [12, 20, 10]
    assert rep.byte_premium.tolist() == pytest.approx([1, 20 / 12, 10 / 12])
    # without resamples the interval collapses on π
    assert b.ci_low.tolist() == pytest.approx(b.premium.tolist())


def test_bootstrap_interval_and_seed(tiny: Path) -> None:
    a = compute_premium(["chars"], corpus=tiny, ref="eng", bootstrap=500, seed=1, compressors=None)
    b = compute_premium(["chars"], corpus=tiny, ref="eng", bootstrap=500, seed=1, compressors=None)
    t = a.tokenizers[0]
    assert np.array_equal(t.ci_low, b.tokenizers[0].ci_low)
    assert t.ci_low[0] == t.ci_high[0] == 1.0  # the reference against itself
    # every resample's π lies between the smallest and largest per-sentence ratio
    assert (t.ci_low >= t.ratio_min - 1e-12).all() and (t.ci_high <= t.ratio_max + 1e-12).all()
    assert (t.ci_low <= t.premium + 1e-12).all() and (t.premium <= t.ci_high + 1e-12).all()


def test_compressor_premium_is_size_ratio(tiny: Path) -> None:
    import zstandard

    rep = compute_premium(["bytes"], corpus=tiny, ref="eng", bootstrap=0, compressors="zstd:5,gzip", compress_every=1)
    assert rep.compressors == ["zstd-5", "gzip-9"]
    size = {p.stem: len(zstandard.ZstdCompressor(level=5).compress(p.read_bytes())) for p in tiny.iterdir()}
    assert rep.compressed["zstd-5"].tolist() == [size["eng"], size["xxx"], size["yyy"]]
    assert rep.compressor_premium("zstd-5")[1] == pytest.approx(size["xxx"] / size["eng"])
    row = [r for r in rep.rows() if r["lang"] == "xxx"][0]
    assert row["excess_zstd-5"] == pytest.approx(row["premium"] / row["zstd-5_premium"])
    # by default 1 line in N (the same lines in every language) is compressed
    rep = compute_premium(["bytes"], corpus=tiny, ref="eng", bootstrap=0, compressors="zstd:5", compress_every=2)
    sample = len(zstandard.ZstdCompressor(level=5).compress(b"ab\nabcdef"))
    assert rep.compressed["zstd-5"][0] == sample


def test_joined_mode_keeps_petrov_spacing(tiny: Path) -> None:
    rep = compute_premium(["chars"], corpus=tiny, ref="eng", joined=True, compressors=None)
    assert rep.mode == "joined"
    # " ".join("ab\nabcd\nabcdef\n".split("\n")) = "ab abcd abcdef " (15 characters, trailing space kept)
    assert rep.tokenizers[0].ctc.tolist() == [15, 23, 9]
    assert rep.tokenizers[0].ratio_median is None and rep.tokenizers[0].ci_low is None


def test_lines_are_not_stripped(tmp_path: Path) -> None:
    assert split_lines(" a \nb\u3000\n") == [" a ", "b\u3000"]
    assert split_lines("a\nb") == ["a", "b"] and split_lines("") == []
    d = tmp_path / "c"
    d.mkdir()
    (d / "en.txt").write_text(" a \n", encoding="utf-8")
    (d / "de.txt").write_text("a\n", encoding="utf-8")
    rep = compute_premium(["chars"], corpus=d, ref="en", bootstrap=0, compressors=None)
    assert rep.tokenizers[0].ctc.tolist() == [1, 3]  # sorted: de, en


def test_prices_and_cost(tiny: Path, tmp_path: Path) -> None:
    pj = tmp_path / "p.json"
    pj.write_text('{"bytes": 2.5, "other": 1}', encoding="utf-8")
    pc = tmp_path / "p.csv"
    pc.write_text("tokenizer,price\nbytes,2.5\n", encoding="utf-8")
    assert load_prices(pj) == {"bytes": 2.5, "other": 1.0} and load_prices(pc) == {"bytes": 2.5}
    rep = compute_premium(
        ["bytes", "chars"], corpus=tiny, ref="eng", bootstrap=0, compressors=None, prices=load_prices(pj)
    )
    assert rep.tokenizers[0].price == 2.5 and rep.tokenizers[1].price is None
    assert rep.tokenizers[0].cost().tolist() == pytest.approx([12 * 2.5e-6, 20 * 2.5e-6, 10 * 2.5e-6])
    bad = tmp_path / "bad.csv"
    bad.write_text("bytes,cheap\nchars,x\n", encoding="utf-8")
    with pytest.raises(AnalysisError):
        load_prices(bad)


def test_formats(tiny: Path) -> None:
    rep = compute_premium(["bytes", "chars"], corpus=tiny, ref="eng", bootstrap=50, compressors="zstd")
    d = json.loads(render_premium(rep, "json"))
    assert d["ref"] == "eng" and len(d["rows"]) == 6 and "CTC_L" in d["definitions"]
    rows = list(csv.DictReader(io.StringIO(render_premium(rep, "csv"))))
    assert {r["tokenizer"] for r in rows} == {"bytes", "chars"} and "ci_low" in rows[0]
    md = render_premium(rep, "md")
    assert "## Definitions" in md and "| xxx |" in md
    assert "xxx" in render_premium(rep, "table")
    html = render_premium(rep, "html")
    assert html.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in html and "<script src=" not in html


# ---------------------------------------------------------------------------------------------------------------
# tokenizer specs


def test_spec_parsing(tmp_path: Path) -> None:
    assert TokenizerSpec.parse("bytes").kind == "bytes"
    s = TokenizerSpec.parse("mine=chars")
    assert (s.kind, s.name) == ("chars", "mine")
    f = tmp_path / "x.tiktoken"
    f.write_text("YQ== 0\n", encoding="utf-8")
    s = TokenizerSpec.parse(f"tiktoken:{f}:regex:\\S+|\\s+")
    assert (s.kind, s.path, s.pattern) == ("tiktoken", str(f), "regex:\\S+|\\s+")
    with pytest.raises(AnalysisError, match="unknown tiktoken encoding"):
        TokenizerSpec.parse(str(f))
    for bad in ("no-such-tokenizer", f"sp:{tmp_path}/none.model", "tiktoken:/nonexistent:gpt2", ""):
        with pytest.raises(AnalysisError):
            TokenizerSpec.parse(bad)
    assert issubclass(AnalysisError, ToksmithError)


@needs_tok
def test_spec_names_resolve_in_shared() -> None:
    s = TokenizerSpec.parse("cl100k_base.tiktoken")
    assert (s.kind, s.pattern, s.name) == ("tiktoken", "cl100k", "cl100k_base")
    assert TokenizerSpec.parse("smollm2-135m").kind == "json"
    assert TokenizerSpec.parse(str(TOK / "all-minilm-l6-v2")).path.endswith("tokenizer.json")


def test_sentencepiece_model(tmp_path: Path) -> None:
    spm = pytest.importorskip("sentencepiece")
    text = tmp_path / "t.txt"
    text.write_text("\n".join(f"the quick brown fox {i} jumps over the lazy dog" for i in range(300)), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "m"), vocab_size=60, minloglevel=2)
    tok = load(f"sp:{tmp_path / 'm.model'}")
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "m.model"))
    texts = ["the lazy fox", "quick brown dogs jump", ""]
    assert tok.count(texts).tolist() == [len(x) for x in sp.encode(texts)]
    assert tok.vocab_size == 60 and load(str(tmp_path / "m.model")).backend == "sentencepiece"


# ---------------------------------------------------------------------------------------------------------------
# exactness on FLORES-200


def _tiktoken(name: str):
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    pats = {
        "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
        "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
        "whisper-multilingual": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    }
    return tiktoken.Encoding(
        name=name,
        pat_str=pats[name],
        mergeable_ranks=load_tiktoken_bpe(str(TOK / f"{name}.tiktoken")),
        special_tokens={},
    )


@needs_flores
@needs_tok
@pytest.mark.parametrize("name", ["cl100k_base", "gpt2", "whisper-multilingual"])
def test_per_line_counts_equal_tiktoken(name: str) -> None:
    enc = _tiktoken(name)
    rep = compute_premium([name], corpus=FLORES, langs=SAMPLE_LANGS, bootstrap=0, compressors=None, keep_counts=True)
    corp = open_parallel(FLORES)
    mine = rep.per_line[name]
    for j, lang in enumerate(rep.langs):
        lines = corp.lines(lang)
        assert len(lines) == 2009
        want = [len(x) for x in enc.encode_ordinary_batch(lines)]
        assert mine[j].tolist() == want, lang


@needs_flores
@needs_tok
def test_joined_reproduces_petrov_totals() -> None:
    langs = list(PETROV)
    rep = compute_premium(
        ["cl100k_base", "gpt2", "bytes", "chars"], corpus=FLORES, langs=langs, joined=True, compressors=None
    )
    got = {lang: tuple(int(t.ctc[rep.langs.index(lang)]) for t in rep.tokenizers) for lang in langs}
    assert got == PETROV


@needs_flores
@needs_tok
@pytest.mark.parametrize("name", ["smollm2-135m", "all-minilm-l6-v2"])
def test_json_tokenizers_equal_hf_tokenizers(name: str) -> None:
    hf = pytest.importorskip("tokenizers")
    tok = load(name)
    assert "Rust" in tok.backend
    h = hf.Tokenizer.from_file(str(TOK / name / "tokenizer.json"))
    h.no_padding()
    h.no_truncation()
    corp = open_parallel(FLORES)
    lines = [x for lang in SAMPLE_LANGS for x in corp.lines(lang)[::4]]
    lines += [
        "Hello [CLS] world",
        "<|im_start|>user hi<|im_end|>",
        "tab\there\x04and\x1d",
        "\U00050000 x",
        "İstanbul ÅNGSTRÖM",
        "\u0085a\u2028b",
    ]
    want = [e.ids for e in h.encode_batch(lines, add_special_tokens=False)]
    assert [x.tolist() for x in tok.encode(lines)] == want
    assert tok.count(lines).tolist() == [len(x) for x in want]


@needs_flores
@needs_tok
@pytest.mark.slow
def test_all_languages_per_line_equal_tiktoken() -> None:
    enc = _tiktoken("cl100k_base")
    rep = compute_premium(["cl100k_base"], corpus=FLORES, bootstrap=0, compressors=None, keep_counts=True)
    assert len(rep.langs) == 204
    corp = open_parallel(FLORES)
    allines = [x for lang in rep.langs for x in corp.lines(lang)]
    want = np.array([len(x) for x in enc.encode_ordinary_batch(allines, num_threads=2)])
    assert np.array_equal(rep.per_line["cl100k_base"].reshape(-1), want)


# ---------------------------------------------------------------------------------------------------------------
# corpus layouts and the CLI


def test_flores_style_zip_and_folder(tmp_path: Path) -> None:
    z = tmp_path / "f.zip"
    with zipfile.ZipFile(z, "w") as f:
        for split, n in (("dev", 2), ("devtest", 3)):
            for lang in ("eng_Latn", "fra_Latn"):
                f.writestr(f"top/{split}/{lang}.{split}", "".join(f"{lang[:2]} {i}\n" for i in range(n)))
    c = open_parallel(z, "both")
    assert c.langs == ["eng_Latn", "fra_Latn"] and c.splits == ["dev", "devtest"] and len(c.lines("eng_Latn")) == 5
    assert len(open_parallel(z, "devtest").lines("fra_Latn")) == 3
    rep = compute_premium(["chars"], corpus=z, split="dev", ref="fra_Latn", bootstrap=0, compressors=None)
    assert rep.n_lines == 2 and rep.ref == "fra_Latn"


def test_cli_outputs(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = run_cli("premium", "bytes", "chars", "--corpus", str(tiny), "--ref", "eng", "-o", str(out), "-q")
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["languages"] == 3 and {t["name"] for t in d["tokenizers"]} == {"bytes", "chars"}
    for fmt in ("md", "csv", "table"):
        r = run_cli("premium", "bytes", "--corpus", str(tiny), "--ref", "eng", "--format", fmt, "--langs", "xxx")
        assert r.returncode == 0, r.stderr
        assert "xxx" in r.stdout and "yyy" not in r.stdout
    html = tmp_path / "r.html"
    r = run_cli("premium", "bytes", "--corpus", str(tiny), "--ref", "eng", "-o", str(html), "--joined")
    assert r.returncode == 0 and html.stat().st_size > 1_000_000  # plotly.js is inline
    assert oct(html.stat().st_mode & 0o777) != "0o600"


@pytest.mark.parametrize(
    "tok, args, message",
    [
        ("bytes", ["--langs", "zzz"], "no file for language 'zzz'"),
        ("bytes", ["--ref", "deu"], "reference language 'deu'"),
        ("nonsense-tokenizer", [], "unknown tokenizer spec"),
        ("bytes", ["--split", "dev"], "--split dev needs a FLORES-style corpus"),
        ("bytes", ["--compressors", "brotli"], "unknown compressor"),
        ("bytes", ["--prices", "/nonexistent/p.json"], "no such price file"),
    ],
)
def test_cli_bad_input(tiny: Path, tmp_path: Path, tok: str, args: list[str], message: str) -> None:
    out = tmp_path / "r.md"
    r = run_cli("premium", tok, "--corpus", str(tiny), "--ref", "eng", "-o", str(out), *args)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("toksmith: error:") and message in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.glob(".r.md.*"))


def test_cli_misaligned_and_empty(tiny: Path, tmp_path: Path) -> None:
    (tiny / "yyy.txt").write_text("one\ntwo\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    r = run_cli("premium", "bytes", "--corpus", str(tiny), "--ref", "eng", "-o", str(out))
    assert r.returncode == 1 and "not line-aligned" in r.stderr and r.stderr.count("\n") == 1
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("premium", "bytes", "--corpus", str(empty), "--ref", "eng", "-o", str(out))
    assert r.returncode == 1 and "empty corpus" in r.stderr and not out.exists()
    for f in tiny.iterdir():
        f.write_text("", encoding="utf-8")
    r = run_cli("premium", "bytes", "--corpus", str(tiny), "--ref", "eng", "-o", str(out))
    assert r.returncode == 1 and "empty corpus" in r.stderr and not out.exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_html_renders_in_chromium(tiny: Path, tmp_path: Path) -> None:
    """The report opens offline in a real browser: plotly draws its SVG plots (checked through the DOM)."""
    rep = compute_premium(["bytes", "chars"], corpus=tiny, ref="eng", bootstrap=100, compressors="zstd")
    page = tmp_path / "r.html"
    page.write_text(render_premium(rep, "html"), encoding="utf-8")
    shot = tmp_path / "r.png"
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    r = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 20_000, r.stderr
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    for div in ("heatmap", "bars", "boxes"):
        assert f'id="{div}"' in dom
    assert dom.count("main-svg") >= 3  # one per drawn plot
