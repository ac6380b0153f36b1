"""Morphology metrics (`toksmith.analysis.morph`) and the SIGMORPHON 2022 loader (`toksmith.corpora.morphseg`):
hand-computed tiny examples, brute force against the bitset pair counting, real tokenizers against tiktoken,
the real shared files against the counts their README states, and bad input through the CLI."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toksmith.analysis.morph import (
    boundary_prf,
    consistency_f1,
    dictionary_share,
    gold_bounds,
    levenshtein,
    load_turkish_dictionary,
    morph_metrics,
    tokenize_words,
    word_tokens_from_spans,
)
from toksmith.corpora import find_shared
from toksmith.corpora.morphseg import iter_morphseg, parse_segmentation, read_morphseg
from toksmith.errors import AnalysisError, CorpusError

SHARED = find_shared()
MORPH = SHARED / "corpora" / "morph-seg" if SHARED else None
needs_morph = pytest.mark.skipif(MORPH is None or not MORPH.is_dir(), reason="shared morph-seg data not found")
needs_tok = pytest.mark.skipif(
    SHARED is None or not (SHARED / "tokenizers" / "gpt2.tiktoken").is_file(), reason="shared tokenizers not found"
)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if SHARED is not None:
        env.setdefault("TOKSMITH_SHARED", str(SHARED))
    return subprocess.run(
        [sys.executable, "-m", "toksmith", *args], capture_output=True, text=True, env=env, timeout=300
    )


# ----------------------------------------------------------------------------------------------------------------
# loader


def test_parse_segmentation_components_and_quirks() -> None:
    assert parse_segmentation("in @@accurate @@cy @@s") == (("in", "accurate", "cy", "s"),)
    assert parse_segmentation("mouth harp @@ist") == (("mouth",), ("harp", "ist"))
    assert parse_segmentation("@@tu @@zumab") == (("tu", "zumab"),)  # leading @@ (10 English lines)
    assert parse_segmentation("сэжиг  @@тэн") == (("сэжиг", "тэн"),)  # double space (Mongolian)
    assert parse_segmentation("шүүх @@мж @@ @@ээ") == (("шүүх", "мж", "ээ"),)  # bare @@ dropped


def test_loader_surface_and_canonical(tmp_path: Path) -> None:
    f = tmp_path / "x.word.dev.tsv"
    f.write_text(
        "played\tplay @@ed\t100\n"
        "inaccuracies\tin @@accurate @@cy @@s\t110\n"
        "mouth harpist\tmouth harp @@ist\t001\n"
        "absolvent\tab @@solv @@ent\n",  # two columns, as ces/lat
        encoding="utf-8",
    )
    es = read_morphseg(f)
    assert [e.word for e in es] == ["played", "inaccuracies", "mouth harpist", "absolvent"]
    assert [e.surface for e in es] == [True, False, True, True]
    assert [e.cls for e in es] == ["100", "110", "001", None]
    assert es[1].morphs == ("in", "accurate", "cy", "s")
    assert es[1].surface_parts() == []
    assert es[2].surface_parts() == [("mouth", ("mouth",)), ("harpist", ("harp", "ist"))]


@pytest.mark.parametrize(
    "content, message",
    [
        ("played\n", "x.tsv:1: expected"),
        ("ok\tok\n\tplay @@ed\n", "x.tsv:2: expected"),
        ("a\tb\tc\td\n", "x.tsv:1: expected"),
        ("played\t   \n", "x.tsv:1: empty segmentation"),
        ("", "no segmentations"),
    ],
)
def test_loader_malformed(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "x.tsv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        read_morphseg(f)


def test_loader_missing_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="cannot read"):
        read_morphseg(tmp_path / "nope.tsv")
    f = tmp_path / "bad.tsv"
    f.write_bytes(b"caf\xe9\tcaf\xe9\n")
    with pytest.raises(CorpusError, match="not UTF-8"):
        list(iter_morphseg(f))


# The surface shares the shared data README states for each dev file (deleting " @@" gives back the word).
README_SURFACE_PCT = {"ces": 100.0, "eng": 69.9, "fra": 19.7, "hun": 63.0, "ita": 7.6, "lat": 99.7, "mon": 34.4}
README_LINES = {"ces": 4000, "eng": 57371, "fra": 31585, "hun": 92796, "ita": 46151, "lat": 88233, "mon": 1895}


@needs_morph
@pytest.mark.parametrize("lang", sorted(README_SURFACE_PCT))
def test_real_files_surface_share(lang: str) -> None:
    es = read_morphseg(MORPH / f"{lang}.word.dev.tsv")
    assert len(es) == README_LINES[lang]
    pct = 100 * sum(e.surface for e in es) / len(es)
    assert round(pct, 1) == README_SURFACE_PCT[lang]


# ----------------------------------------------------------------------------------------------------------------
# tokens of a word, boundaries


def test_prefix_is_cut_off() -> None:
    # " unhappiness" as Ġun | happi | ness: the space belongs to the first token, no boundary at offset 0
    w = word_tokens_from_spans([(1, 0, 3), (2, 3, 8), (3, 8, 12)], prefix_len=1, nbytes=11)
    assert w.ids == (1, 2, 3) and w.bounds == (2, 7)
    assert w.pieces("unhappiness") == [b"un", b"happi", b"ness"]
    # a lone space token (Ġ) is dropped; a zero-width marker too
    w = word_tokens_from_spans([(9, 0, 1), (0, 1, 1), (1, 1, 3), (2, 3, 12)], prefix_len=1, nbytes=11)
    assert w.ids == (1, 2) and w.bounds == (2,)
    # a token that splits a 2-byte character makes a boundary inside it
    w = word_tokens_from_spans([(5, 0, 2), (6, 2, 3), (7, 3, 5)], prefix_len=1, nbytes=4)  # " çal"
    assert w.bounds == (1, 2)


def test_gold_bounds_bytes() -> None:
    assert gold_bounds(["un", "happi", "ness"]) == (2, 7)
    assert gold_bounds(["çal", "ış"]) == (4,)  # ç is 2 bytes
    assert gold_bounds(["dog"]) == ()


def test_boundary_prf_by_hand() -> None:
    # word 1: gold {2, 7}, predicted {2, 5}: TP 1, FP 1, FN 1; word 2: gold {3}, predicted {}: FN 1
    r = boundary_prf([[2, 7], [3]], [[2, 5], []])
    assert (r.tp, r.fp, r.fn) == (1, 1, 2)
    assert r.precision == pytest.approx(1 / 2)
    assert r.recall == pytest.approx(1 / 3)
    assert r.f1 == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_levenshtein_by_hand() -> None:
    assert levenshtein(["un", "happi", "ness"], ["un", "happi", "ness"]) == 0
    assert levenshtein(["un", "happiness"], ["un", "happi", "ness"]) == 2  # substitute + insert
    assert levenshtein([], ["a", "b"]) == 2
    assert levenshtein(["a", "b", "c"], ["x"]) == 3


# ----------------------------------------------------------------------------------------------------------------
# consistency


def test_consistency_by_hand() -> None:
    morphs = [{"walk", "ed"}, {"walk", "s"}, {"talk", "ed"}, {"talk"}, {"run"}]
    tokens = [{"A", "B"}, {"A", "C"}, {"D", "E"}, {"D"}, {"B"}]
    # pairs (1,2): morph walk, token A → TP; (1,3): morph ed, no token → FN; (3,4): talk, D → TP;
    # (1,5): no morph, token B → FP; the other six pairs share nothing
    r = consistency_f1(morphs, tokens)
    assert (r.tp, r.fp, r.fn) == (2, 1, 1)
    assert r.pairs == 10 and r.words == 5 and not r.sampled
    assert r.precision == pytest.approx(2 / 3) and r.recall == pytest.approx(2 / 3) and r.f1 == pytest.approx(2 / 3)


def _brute(morphs: list[set], tokens: list[set]) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(morphs)), 2):
        g, p = bool(morphs[i] & morphs[j]), bool(tokens[i] & tokens[j])
        tp += g and p
        fp += p and not g
        fn += g and not p
    return tp, fp, fn


@given(
    st.lists(
        st.tuples(st.sets(st.integers(0, 6), max_size=3), st.sets(st.integers(0, 8), max_size=3)),
        min_size=0,
        max_size=140,  # crosses a 64-bit word boundary of the bitsets
    )
)
def test_consistency_matches_brute_force(words: list[tuple[set, set]]) -> None:
    morphs = [m for m, _ in words]
    tokens = [t for _, t in words]
    r = consistency_f1(morphs, tokens)
    assert (r.tp, r.fp, r.fn) == _brute(morphs, tokens)


def test_consistency_sample_is_seeded() -> None:
    morphs = [{i % 3} for i in range(50)]
    tokens = [{i % 5} for i in range(50)]
    a = consistency_f1(morphs, tokens, max_words=20, seed=3)
    b = consistency_f1(morphs, tokens, max_words=20, seed=3)
    assert a.sampled and a.words == 20 and a.pairs == 190
    assert (a.tp, a.fp, a.fn) == (b.tp, b.fp, b.fn)


# ----------------------------------------------------------------------------------------------------------------
# full metrics with a toy tokenizer


def _char_spans(texts: list[str]) -> list[list[tuple[int, int, int]]]:
    """A toy tokenizer: the leading space with the first character, then one token per character."""
    out = []
    for t in texts:
        b = t.encode()
        sp = [(b[0] * 256 + b[1], 0, 2)] + [(b[i], i, i + 1) for i in range(2, len(b))]
        out.append(sp)
    return out


def test_morph_metrics_toy(tmp_path: Path) -> None:
    f = tmp_path / "g.tsv"
    f.write_text("cats\tcat @@s\ncat\tcat\nmice\tmouse @@s\n", encoding="utf-8")
    es = read_morphseg(f)
    v = morph_metrics(_char_spans, es)
    # surface words: cats (gold {3}, predicted {1,2,3}), cat (gold {}, predicted {1,2}) → TP 1, FP 4, FN 0
    assert (v["boundary_tp"], v["boundary_fp"], v["boundary_fn"]) == (1, 4, 0)
    assert v["gold_entries"] == 3 and v["gold_surface_entries"] == 2 and v["gold_surface_words"] == 2
    # edit distance: [c,a,t,s] vs [cat,s] = 3; [c,a,t] vs [cat] = 3 → mean 3
    assert v["morph_edit_distance"] == pytest.approx(3.0)
    assert v["morph_tokens_per_word"] == pytest.approx(3.5)
    # consistency over all 3 entries: morphs {cat,s},{cat},{mouse,s} → pairs (1,2) cat, (1,3) s share morphs;
    # tokens: " c"+a,t,s / " c"+a,t / " m"+i,c,e → (1,2) share " c", a, t; (1,3) none; (2,3) none
    assert (v["consistency_tp"], v["consistency_fp"], v["consistency_fn"]) == (1, 0, 1)


def test_tokenize_words_prefix() -> None:
    w = tokenize_words(_char_spans, ["ab"], prefix=" ")[0]
    assert w.bounds == (1,) and len(w.ids) == 2


# ----------------------------------------------------------------------------------------------------------------
# real tokenizers against tiktoken


@needs_tok
def test_gpt2_boundaries_match_tiktoken() -> None:
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    from toksmith.analysis.tokenizers import load

    pat = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    enc = tiktoken.Encoding(
        name="gpt2",
        pat_str=pat,
        mergeable_ranks=load_tiktoken_bpe(str(SHARED / "tokenizers" / "gpt2.tiktoken")),
        special_tokens={},
    )
    tok = load("gpt2")
    words = ["unhappiness", "internationalization", "çalışıyorlar", "walked", "a"]
    got = tokenize_words(tok.spans, words)
    for w, wt in zip(words, got):
        pieces = [enc.decode_single_token_bytes(i) for i in enc.encode(" " + w)]
        ends, pos = [], 0
        for p in pieces:
            pos += len(p)
            ends.append(pos - 1)  # offsets in the word (the space is byte 0 of the text)
        want = tuple(e for e in ends[:-1] if e > 0)
        assert wt.bounds == want, (w, pieces)
        assert list(wt.ids) == [i for i, e in zip(enc.encode(" " + w), ends) if e > 0]


# ----------------------------------------------------------------------------------------------------------------
# Turkish dictionary


def _dict_files(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "kokler.json").write_text(
        json.dumps({"<uppercase>": 0, " ": 2, "special_7": 7, "kitap": 10, " ev": 11}), encoding="utf-8"
    )
    (d / "ekler.json").write_text(json.dumps({"lar": 20000, "ler": 20000, "ı": 20001}), encoding="utf-8")


def test_dictionary_share_by_hand(tmp_path: Path) -> None:
    _dict_files(tmp_path / "res")
    d = load_turkish_dictionary(tmp_path)
    assert d.roots == {"kitap", "ev"} and d.affixes == {"lar", "ler", "ı"}
    assert d.root_ids == {10, 11} and d.affix_ids == {20000, 20001}
    toks = [(1, " Kitap"), (2, "lar"), (3, " "), (4, "xyz"), (1, " kitap"), (5, "I"), (6, "<uppercase>")]
    r = dictionary_share(toks, d).to_dict()
    # counted: Kitap (root), lar (affix), xyz, kitap (root), I→ı (affix), <uppercase> (not a dictionary entry)
    assert r["dict_counted_occurrences"] == 6
    assert r["dict_occurrence_share"] == pytest.approx(4 / 6)
    assert r["dict_root_occurrence_share"] == pytest.approx(2 / 6)
    # types 1 root, 2 affix, 4, 5 affix, 6 → 3 of 5
    assert r["dict_counted_types"] == 5
    assert r["dict_type_share"] == pytest.approx(3 / 5)


def test_dictionary_from_archives(tmp_path: Path) -> None:
    _dict_files(tmp_path / "pkg" / "src" / "resources")
    tgz = tmp_path / "turkish_tokenizer-1.0.4.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(tmp_path / "pkg", arcname="turkish_tokenizer-1.0.4")
    assert load_turkish_dictionary(tgz).roots == {"kitap", "ev"}
    whl = tmp_path / "x.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for n in ("kokler.json", "ekler.json"):
            z.write(tmp_path / "pkg" / "src" / "resources" / n, f"turkish_tokenizer/{n}")
    assert load_turkish_dictionary(whl).affixes == {"lar", "ler", "ı"}


def test_dictionary_bad_input(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="no such file"):
        load_turkish_dictionary(tmp_path / "nope")
    (tmp_path / "kokler.json").write_text("{}", encoding="utf-8")
    with pytest.raises(AnalysisError, match="holds no ekler.json"):
        load_turkish_dictionary(tmp_path)
    (tmp_path / "ekler.json").write_text("[1, 2", encoding="utf-8")
    with pytest.raises(AnalysisError, match="not JSON"):
        load_turkish_dictionary(tmp_path)
    (tmp_path / "ekler.json").write_text('{"lar": "x"}', encoding="utf-8")
    with pytest.raises(AnalysisError, match="surface → integer id"):
        load_turkish_dictionary(tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# CLI


@needs_tok
def test_cli_analyze_morph(tmp_path: Path) -> None:
    gold = tmp_path / "g.tsv"
    gold.write_text("walked\twalk @@ed\t100\nwalks\twalk @@s\t100\ntalked\ttalk @@ed\t100\n", encoding="utf-8")
    _dict_files(tmp_path / "dic")
    corpus = tmp_path / "c.txt"
    corpus.write_text("Kitaplar ev kitap.\nlar ler\n", encoding="utf-8")
    out = tmp_path / "r.json"
    r = run_cli(
        "analyze", "gpt2", "bytes", "-c", str(corpus), "--morph-gold", f"toy={gold}", "--dictionary",
        str(tmp_path / "dic"), "-o", str(out), "-q",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert "consistency F1" in rep["definitions"]
    byt = rep["tokenizers"][1]
    # bytes: every byte a token → boundaries after each byte; gold: one boundary per word
    m = byt["morph:toy"]
    assert (m["boundary_tp"], m["boundary_fn"]) == (3, 0)
    assert m["boundary_fp"] == (6 - 1) + (5 - 1) + (6 - 1) - 3
    assert m["morph_tokens_per_word"] == pytest.approx((6 + 5 + 6) / 3)
    # no single byte is a dictionary root/affix except none here → share 0; gpt2 has some
    assert byt["dictionary"]["dict_occurrence_share"] == 0
    assert rep["tokenizers"][0]["dictionary"]["dict_counted_occurrences"] > 0
    md = run_cli("analyze", "gpt2", "-c", str(corpus), "--morph-gold", str(gold), "-f", "md", "-q")
    assert md.returncode == 0 and "g: boundary P / R / F1" in md.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--morph-gold", "/nonexistent/x.tsv"], "morph gold: no such file"),
        (["--dictionary", "/nonexistent"], "dictionary: no such file"),
        (["--morph-gold", "{bad}"], "expected 'word<TAB>"),
        (["--morph-gold", "{empty}"], "no segmentations"),
        (["--morph-gold", "{gold}", "--morph-pair-words", "1"], "--morph-pair-words"),
    ],
)
def test_cli_morph_bad_input(tmp_path: Path, extra: list[str], message: str) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n", encoding="utf-8")
    (tmp_path / "bad.tsv").write_text("onlyword\n", encoding="utf-8")
    (tmp_path / "empty.tsv").write_text("", encoding="utf-8")
    (tmp_path / "gold.tsv").write_text("walked\twalk @@ed\n", encoding="utf-8")
    args = [a.format(bad=tmp_path / "bad.tsv", empty=tmp_path / "empty.tsv", gold=tmp_path / "gold.tsv") for a in extra]
    out = tmp_path / "r.json"
    r = run_cli("analyze", "bytes", "-c", str(corpus), *args, "-o", str(out), "-q")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not out.exists()


def test_morph_metrics_canonical_only_and_unaligned(tmp_path: Path) -> None:
    f = tmp_path / "g.tsv"
    f.write_text("mice\tmouse @@s\nlice\tlouse @@s\n", encoding="utf-8")
    v = morph_metrics(_char_spans, read_morphseg(f))
    assert v["gold_surface_words"] == 0 and v["boundary_tp"] == 0
    assert v["boundary_f1"] != v["boundary_f1"]  # NaN: nothing to score
    # both share morph s; tokens " m"/" l", i, c, e → share i, c, e → one TP pair
    assert (v["consistency_tp"], v["consistency_fp"], v["consistency_fn"]) == (1, 0, 0)
    f.write_text("cats\tcat @@s\ndogs\tdog @@s\n", encoding="utf-8")

    def spans(texts: list[str]) -> list[list[tuple[int, int, int]]]:
        return [[] if t == " dogs" else s for t, s in zip(texts, _char_spans(texts))]

    v = morph_metrics(spans, read_morphseg(f))
    assert v["unaligned_words"] == 1 and (v["boundary_tp"], v["boundary_fp"], v["boundary_fn"]) == (1, 2, 0)


@needs_tok
def test_spans_rust_and_hf_agree() -> None:
    pytest.importorskip("tokenizers")
    from toksmith.analysis.tokenizers import load

    words = ["unhappiness", "walked", "internationalization", "Reaganites", "dogs"]
    rust = tokenize_words(load("smollm2-135m").spans, words)
    hf = tokenize_words(load("hf:smollm2-135m").spans, words)
    assert [w.bounds for w in rust] == [w.bounds for w in hf]
    assert [w.ids for w in rust] == [w.ids for w in hf]


def test_spans_bytes_and_chars() -> None:
    from toksmith.analysis.tokenizers import load

    assert tokenize_words(load("bytes").spans, ["çay"])[0].bounds == (1, 2, 3)
    assert tokenize_words(load("chars").spans, ["çay"])[0].bounds == (2, 3)


def test_morph_file_loads_with_our_encoder(tmp_path: Path) -> None:
    morph = pytest.importorskip("toksmith.morph")
    if not hasattr(morph, "MorphTokenizer"):
        pytest.skip("no MorphTokenizer in this build")
    import toksmith
    from toksmith.analysis.tokenizers import load

    gold = tmp_path / "g.tsv"
    gold.write_text("walked\twalk @@ed\nwalking\twalk @@ing\ntalked\ttalk @@ed\n", encoding="utf-8")
    texts = ["walked walking talked talking walks"] * 20
    tok = toksmith.train(
        texts=texts, vocab_size=260, algorithm="morph", segmenter=f"gold:{gold}", segment_at_encode=True
    )
    tok.save(tmp_path / "m.json")
    lt = load(str(tmp_path / "m.json"))
    assert lt.backend == "toksmith-morph (Rust)"
    assert [list(x) for x in lt.encode(["walked talked"])] == [tok.encode("walked talked")]
    # the segmenter cuts at encode time: gold boundaries are token boundaries
    w = tokenize_words(lt.spans, ["walked", "talked"])
    assert all(4 in x.bounds for x in w)


@needs_morph
def test_resolve_gold_names(tmp_path: Path) -> None:
    from toksmith.analysis.morph import resolve_gold

    label, p = resolve_gold("eng")
    assert label == "eng" and p == MORPH / "eng.word.dev.tsv"
    f = tmp_path / "x.word.dev.tsv"
    f.write_text("a\ta\n", encoding="utf-8")
    assert resolve_gold(str(f)) == ("x", f)
    assert resolve_gold(f"mine={f}") == ("mine", f)
    with pytest.raises(AnalysisError, match="no such file"):
        resolve_gold("zzz=/nonexistent.tsv")
