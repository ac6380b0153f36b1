"""Morphology-aware tokenizers: segmenters (gold, mdl, lexicon) and boundary-respecting BPE (`algorithm="morph"`)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import toksmith
from reference import member_lines
from toksmith.errors import MorphError
from toksmith.morph import GoldSegmenter, LexiconSegmenter, MdlSegmenter, MorphTokenizer, load_segmenter, mdl_cost

GOLD = "played\tplay @@ed\t100\ninaccuracies\tin @@accurate @@cy @@s\t110\nwalking\twalk @@ing\t100\nrun\trun\t000\n"


@pytest.fixture
def gold_file(tmp_path: Path) -> Path:
    p = tmp_path / "eng.word.dev.tsv"
    p.write_text(GOLD, encoding="utf-8")
    return p


@pytest.fixture
def lexicon_file(tmp_path: Path) -> Path:
    p = tmp_path / "lex.json"
    p.write_text(
        json.dumps({"roots": ["ev", "kitap", "okul"], "affixes": {"PL": ["ler", "lar"], "LOC": ["de", "da"]}}),
        encoding="utf-8",
    )
    return p


def test_gold_surface_entries(gold_file: Path) -> None:
    g = GoldSegmenter.load(gold_file)
    assert g.info()["entries"] == 4 and g.info()["surface_entries"] == 3
    assert g.segment("played") == ["play", "ed"]
    assert g.segment("Walking") == ["Walk", "ing"]  # looked up in lower case, cut in the word as given
    assert g.segment("inaccuracies") == ["inaccuracies"]  # canonical segmentation: no surface boundaries
    assert g.boundaries("unknown") == []


def test_gold_on_real_sigmorphon(shared: Path) -> None:
    p = shared / "corpora" / "morph-seg" / "ces.word.dev.tsv"
    if not p.exists():
        pytest.skip("morph-seg data missing")
    g = GoldSegmenter.load(p)
    lines = p.read_text(encoding="utf-8").splitlines()
    assert g.info()["entries"] == len(lines)
    word, seg = lines[0].split("\t")[:2]
    assert g.segment(word) == [m.removeprefix("@@") for m in seg.split()]


def _train_save_reload(text: str, segmenter: str, tmp_path: Path) -> tuple[Any, MorphTokenizer, dict[str, Any]]:
    """A morph tokenizer trained on `text` with the segmenter at encode time, saved, and loaded back; with the
    segmenter as the file stores it."""
    tok = toksmith.train(texts=[text], vocab_size=300, algorithm="morph", segmenter=segmenter, segment_at_encode=True)
    out = tmp_path / "tok.json"
    tok.save(out)
    return tok, MorphTokenizer.from_file(out), json.loads(out.read_text(encoding="utf-8"))["segmenter"]


def test_gold_unseen_words_cut_by_gold_morphs(gold_file: Path, tmp_path: Path) -> None:
    # Without the option an unseen word is not cut; with it, "walked" (never in the file) is cut into the file's
    # morphs, while a word frequent in the corpus stays whole.
    assert GoldSegmenter.load(gold_file).segment("walked") == ["walked"]
    seg = load_segmenter(f"gold:{gold_file},unseen=0.05", [("talked", 500)])
    assert seg.segment("walked") == ["walk", "ed"]
    assert seg.segment("talked") == ["talked"]
    assert seg.segment("played") == ["play", "ed"]
    with pytest.raises(MorphError, match="unseen=LAM needs a positive number"):
        load_segmenter(f"gold:{gold_file},unseen=-1")
    # As a training segmenter the lexicon takes the corpus's words; stored in the file, the reloaded tokenizer
    # cuts the same way (the unseen word "walked" at walk|ed).
    tok, back, stored = _train_save_reload(
        "talked talked talked walking played " * 40, f"gold:{gold_file},unseen=0.05", tmp_path
    )
    assert stored["kind"] == "gold" and ["talked", 120] in stored["unseen"]  # 3 x 40 occurrences
    assert "gold analysis, unseen words by Viterbi" in back.segmenter
    ids = tok.encode(" walked")
    assert back.encode(" walked") == ids and back.decode(ids) == " walked"
    pieces = [tok.id_to_bytes(i) for i in ids]
    assert 5 in {sum(len(x) for x in pieces[: k + 1]) for k in range(len(pieces))}  # " walk" | "ed"


def test_gold_known_lexicon_keeps_frequent_known_words_whole(gold_file: Path, tmp_path: Path) -> None:
    # `known=lexicon`: words the file holds go through the same lexicon. "played" is in the file and rare in the
    # corpus: it keeps its gold cut; a file word frequent in the corpus stays whole (with the default, `known=gold`,
    # it keeps its gold cut whatever its count).
    word, morphs = "walking", ["walk", "ing"]  # from GOLD
    counts = [(word, 100_000)]
    assert load_segmenter(f"gold:{gold_file},unseen=0.05", counts).segment(word) == morphs
    lex = load_segmenter(f"gold:{gold_file},unseen=0.05,known=lexicon", counts)
    assert lex.segment(word) == [word]
    assert lex.segment("played") == ["play", "ed"]
    with pytest.raises(MorphError, match="known=lexicon needs unseen=LAM"):
        load_segmenter(f"gold:{gold_file},known=lexicon")
    with pytest.raises(MorphError, match="takes 'gold' or 'lexicon'"):
        load_segmenter(f"gold:{gold_file},unseen=0.05,known=every")
    # Stored in a toksmith-morph file, the reloaded tokenizer cuts the same way.
    tok, back, _ = _train_save_reload(f"{word} played " * 50, f"gold:{gold_file},unseen=0.05,known=lexicon", tmp_path)
    for text in (f" {word}", " played", " walked"):
        assert back.encode(text) == tok.encode(text)
    assert "known=lexicon: all words by Viterbi" in back.segmenter


def test_malformed_gold_and_unknown_segmenter(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("played\tplay @@ed\nno tab here\n", encoding="utf-8")
    with pytest.raises(MorphError, match=r"bad.tsv:2: expected word<TAB>segmentation"):
        GoldSegmenter.load(bad)
    with pytest.raises(MorphError, match="unknown segmenter 'bogus'"):
        load_segmenter("bogus")
    with pytest.raises(MorphError, match="cannot read"):
        load_segmenter(f"gold:{tmp_path / 'missing.tsv'}")
    with pytest.raises(MorphError, match="word list is empty"):
        MdlSegmenter.train({})
    with pytest.raises(MorphError, match="dampening"):
        MdlSegmenter.train(["a"], dampening="sqrt")


def test_lexicon_json_tsv_and_errors(lexicon_file: Path, tmp_path: Path) -> None:
    lex = LexiconSegmenter.load(lexicon_file)
    assert lex.segment("evlerde") == ["ev", "ler", "de"]
    assert lex.segment("Kitaplarda") == ["Kitap", "lar", "da"]
    roots, affixes, _ = lex.entries()
    assert roots == ["ev", "kitap", "okul"]
    assert dict(affixes)["ler"] == dict(affixes)["lar"] == "PL"
    tsv = tmp_path / "lex.tsv"
    tsv.write_text("root\tokul\naffix\tlar\tPL\naffix\tda\n", encoding="utf-8")
    assert LexiconSegmenter.load(tsv).segment("okullarda") == ["okul", "lar", "da"]
    tsv.write_text("root\tokul\nprefix\tx\n", encoding="utf-8")
    with pytest.raises(MorphError, match=r"lex.tsv:2: unknown kind 'prefix'"):
        LexiconSegmenter.load(tsv)
    broken = tmp_path / "broken.json"
    broken.write_text("{roots: }", encoding="utf-8")
    with pytest.raises(MorphError, match="not valid JSON"):
        LexiconSegmenter.load(broken)


def test_lexicon_compound_reading(tmp_path: Path) -> None:
    # "edilebilecek" has no complete parse from its longest root "edile"; with compound=3 it is read as two
    # root+affix groups (the later root "bil" has 3 chars); "evsab" would need the 1- and 2-letter roots "s", "ab".
    p = tmp_path / "lex.json"
    p.write_text(json.dumps({"roots": ["ev", "edile", "bil", "s", "ab"], "affixes": ["ecek", "i", "ler"]}))
    plain, comp = LexiconSegmenter.load(p), LexiconSegmenter.load(p, compound=3)
    assert plain.segment("edilebileceki") == ["edile", "bileceki"]
    assert comp.segment("edilebileceki") == ["edile", "bil", "ecek", "i"]
    assert comp.segment("Edilebileceki") == ["Edile", "bil", "ecek", "i"]
    assert plain.segment("evsab") == comp.segment("evsab") == ["ev", "sab"]
    assert LexiconSegmenter.load(p, compound=1).segment("evsab") == ["ev", "s", "ab"]
    assert LexiconSegmenter.load(p, compound=4).segment("edilebileceki") == ["edile", "bileceki"]
    assert load_segmenter(f"lexicon:{p},compound=3").segment("edilebileceki") == comp.segment("edilebileceki")
    with pytest.raises(MorphError, match="compound=N needs a whole number"):
        load_segmenter(f"lexicon:{p},compound=three")
    with pytest.raises(MorphError, match="compound must be a whole number"):
        LexiconSegmenter.load(p, compound=-1)
    # Trained with the segmenter at encode time, the option is stored and the reloaded file cuts the same.
    text = "edilebileceki evler edilebilecek evsab " * 30
    tok = toksmith.train(
        texts=[text], vocab_size=300, algorithm="morph", segmenter=f"lexicon:{p},compound=3", segment_at_encode=True
    )
    out = tmp_path / "tok.json"
    tok.save(out)
    assert json.loads(out.read_text(encoding="utf-8"))["segmenter"]["compound"] == 3
    back = MorphTokenizer.from_file(out)
    assert back.segmenter.endswith(",compound=3")  # what `toksmith info` shows
    ids = tok.encode(" edilebileceki")
    assert back.encode(" edilebileceki") == ids and back.decode(ids) == " edilebileceki"
    pieces = [tok.id_to_bytes(i) for i in ids]
    cuts = {sum(len(x) for x in pieces[: k + 1]) for k in range(len(pieces))}
    assert {6, 9, 13} <= cuts  # " edile" | "bil" | "ecek" | "i"


def test_turkish_tokenizer_dictionaries(tmp_path: Path) -> None:
    # The layout of turkish-tokenizer's resources: string → id maps; shared ids are allomorphs.
    (tmp_path / "kokler.json").write_text(
        json.dumps({"<uppercase>": 0, " ": 2, "special_7": 7, "ev": 100, " ev": 100, "kitap": 101, "kitab": 101}),
        encoding="utf-8",
    )
    (tmp_path / "ekler.json").write_text(json.dumps({"lar": 20000, "ler": 20000, "ı": 20015, "i": 20015}))
    (tmp_path / "bpe_tokenler.json").write_text(json.dumps({".": 20072, "ab": 20073}))
    lex = LexiconSegmenter.load(tmp_path)
    info = lex.info()
    assert (info["roots"], info["affixes"], info["affix_classes"], info["units"]) == (3, 4, 2, 2)
    assert lex.segment("kitabı") == ["kitab", "ı"]
    assert lex.segment("evleri") == ["ev", "ler", "i"]
    (tmp_path / "ekler.json").write_text("[]")
    with pytest.raises(MorphError, match="ekler.json"):
        LexiconSegmenter.load(tmp_path)


def test_mdl_cost_by_hand() -> None:
    # "ab" ×2 cut a|b and "b" ×1: morph tokens N = 5 (a 2, b 3), word tokens W = 3, morph types T = 2;
    # corpus (8 ln 8 − 3 ln 3 − Σ c ln c) + ln C(N−1, T−1); lexicon: letters a, b, T = 2, 2 letter types:
    # (4 ln 4 − 2 ln 2 − 0) − ln 2! + ln C(3, 2).
    ln = math.log
    lex, corpus = mdl_cost([("ab", 2, ["a", "b"]), ("b", 1, ["b"])])
    assert corpus == pytest.approx(8 * ln(8) - 3 * ln(3) - (2 * ln(2) + 3 * ln(3)) + ln(4), abs=1e-9)
    assert lex == pytest.approx(4 * ln(4) - 2 * ln(2) - ln(2) + ln(3), abs=1e-9)
    # Corpus weight α multiplies the first corpus term only.
    _, c2 = mdl_cost([("ab", 2, ["a", "b"]), ("b", 1, ["b"])], corpus_weight=2.0)
    assert c2 == pytest.approx(2 * (8 * ln(8) - 6 * ln(3) - 2 * ln(2)) + ln(4), abs=1e-9)


def _paradigm() -> dict[str, int]:
    words = {}
    for stem in ["walk", "talk", "jump", "play", "kick", "look", "cook", "park", "call", "help", "want", "need"]:
        for suf in ["", "ed", "ing", "s", "er", "ers"]:
            words[stem + suf] = 1
    return words


def test_mdl_learns_and_is_deterministic() -> None:
    words = _paradigm()
    m = MdlSegmenter.train(words)
    assert m.segment("walking") == ["walk", "ing"]
    assert m.segment("players") in (["play", "ers"], ["play", "er", "s"])
    for w in words:
        assert "".join(m.segment(w)) == w
        assert m.segment(w) == m.viterbi(w)  # decode=viterbi, the default
    tree = MdlSegmenter.train(words, decode="tree")
    assert all(tree.segment(w) == m.analysis(w) for w in words)
    with pytest.raises(MorphError, match="unknown decode"):
        MdlSegmenter.train(words, decode="best")
    # The cost kept during training equals the cost of the final analyses (training trees) recomputed.
    lex, corpus = mdl_cost([(w, 1, m.analysis(w)) for w in words])
    assert lex + corpus == pytest.approx(m.cost(), rel=1e-9)
    flat = sum(mdl_cost([(w, 1, [w]) for w in words]))
    assert m.cost() < flat
    again = MdlSegmenter.train(list(reversed(list(words.items()))))
    assert again.morphs() == m.morphs()
    assert m.segment_many(["walked", "helps"]) == [m.segment("walked"), m.segment("helps")]
    assert m.viterbi("jumpers") == ["jump", "ers"] or "".join(m.viterbi("jumpers")) == "jumpers"


TEXT = (
    "the walkers walked and talked while walking; talking helps. she plays, he played, they are playing. "
    "kicking and kicked, looking and looked, cooks cooking cooked. parks parked parking. calls called calling. "
)


def _gold_for(tmp_path: Path) -> Path:
    lines = []
    for stem in ["walk", "talk", "play", "kick", "look", "cook", "park", "call", "help"]:
        for suf in ["ed", "ing", "s", "ers"]:
            lines.append(f"{stem}{suf}\t{stem} @@{suf}\t100")
    p = tmp_path / "gold.tsv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_hard_boundaries_in_training(tmp_path: Path) -> None:
    gold = _gold_for(tmp_path)
    seg = GoldSegmenter.load(gold)
    tok = toksmith.train(
        texts=[TEXT * 3], vocab_size=300, algorithm="morph", segmenter=f"gold:{gold}", boundary_penalty=0.0
    )
    d = tok.stats.details
    assert d["crossing_merges"] == 0 and d["boundaries"] > 0
    # No token of the vocabulary holds a stem followed by a suffix's first letter across the boundary.
    vocab = {tok.decode([i]) for i in range(tok.vocab_size)}
    for w in ["walked", "talking", "played", "kicked"]:
        assert w not in vocab and " " + w not in vocab
    # Penalty 1 is plain BPE, merge for merge.
    plain = toksmith.train(texts=[TEXT * 3], vocab_size=300, algorithm="morph", segmenter=seg, boundary_penalty=1.0)
    ref = toksmith.train(texts=[TEXT * 3], vocab_size=300)
    assert plain.merges() == ref.merges()
    assert plain.stats.details["crossing_merges"] > 0
    assert tok.merges() != ref.merges()


def test_morph_tokenizer_json_encodes_as_in_hf(shared: Path, heldout_text: str, tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    gold = shared / "corpora" / "morph-seg" / "eng.word.dev.tsv"
    if not gold.exists():
        pytest.skip("morph-seg data missing")
    train_text, test_text = heldout_text[:400_000], heldout_text[400_000:600_000]
    tok = toksmith.train(texts=[train_text], vocab_size=1500, algorithm="morph", segmenter=f"gold:{gold}")
    assert tok.stats.details["chunks_with_boundaries"] > 0
    out = tmp_path / "tokenizer.json"
    tok.save(out)
    hf = tokenizers.Tokenizer.from_file(str(out))
    lines = [ln for ln in test_text.splitlines() if ln.strip()][:400]
    assert [hf.encode(x, add_special_tokens=False).ids for x in lines] == [tok.encode(x) for x in lines]
    assert toksmith.Tokenizer.from_file(out).encode(test_text) == tok.encode(test_text)


def test_same_tokenizer_for_any_thread_count() -> None:
    text = TEXT * 5 + "walkers talkers players kickers lookers cookers parkers callers helpers " * 3
    runs = [
        toksmith.train(
            texts=[text], vocab_size=290, algorithm="morph", segmenter="mdl", boundary_penalty=0.3, threads=n
        ).merges()
        for n in (1, 2, 4)
    ]
    assert runs[0] == runs[1] == runs[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toksmith", *args], capture_output=True, text=True, timeout=300)


def test_cli_trains_and_fails_in_one_line(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT * 20, encoding="utf-8")
    gold = _gold_for(tmp_path)
    out = tmp_path / "tok.json"
    r = run_cli(
        "train", str(corpus), "-v", "290", "-a", "morph", "--segmenter", f"gold:{gold}", "-o", str(out), "--json"
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["algorithm"] == "morph" and rep["details"]["crossing_merges"] == 0
    assert out.exists()
    bad = tmp_path / "bad.tsv"
    bad.write_text("walked walk @@ed\n", encoding="utf-8")
    out2 = tmp_path / "tok2.json"
    for seg, msg in [
        ("bogus", "unknown segmenter 'bogus'"),
        (f"gold:{bad}", "bad.tsv:1: expected word<TAB>segmentation"),
        (f"lexicon:{bad}", "bad.tsv:1: expected KIND<TAB>FORM"),
    ]:
        r = run_cli("train", str(corpus), "-v", "290", "-a", "morph", "--segmenter", seg, "-o", str(out2))
        assert r.returncode != 0
        assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr, r.stderr
        assert not out2.exists()
    r = run_cli("train", str(corpus), "-a", "morph", "--segmenter", "mdl", "--boundary-penalty", "-1", "-o", str(out2))
    assert r.returncode != 0 and "boundary penalty" in r.stderr and not out2.exists()


TR_TEXT = "Evlerde kitaplar var. Ankara'da EVLER, İstanbul ve Iğdır.\nKitaplarda  evler\tİyi ılık Işık."


def test_uppercase_marker_and_segmenter_at_encode_round_trip(lexicon_file: Path, tmp_path: Path) -> None:
    for case_map in ("unicode", "turkish"):
        tok = toksmith.train(
            texts=[TR_TEXT * 4],
            vocab_size=300,
            algorithm="morph",
            segmenter=f"lexicon:{lexicon_file}",
            uppercase=case_map,
            segment_at_encode=True,
        )
        assert isinstance(tok, MorphTokenizer)
        ids = tok.encode(TR_TEXT)
        assert tok.decode(ids) == TR_TEXT
        marker = tok.uppercase[1]
        assert tok.uppercase == ("<uppercase>", marker, case_map) and marker in ids
        # "Evlerde" is the marker, then "evlerde" cut ev|ler|de; no capital E token is used.
        assert ids[:1] == [marker]
        assert tok.decode(tok.encode("evlerde")) == "evlerde"
        pieces = [tok.id_to_bytes(i) for i in tok.encode("evlerde")]
        cuts = {sum(len(p) for p in pieces[: k + 1]) for k in range(len(pieces))}
        assert {2, 5} <= cuts
        out = tmp_path / f"{case_map}.json"
        tok.save(out)
        back = MorphTokenizer.from_file(out)
        assert back.encode(TR_TEXT) == ids and back.decode(ids) == TR_TEXT
        assert "cannot reproduce" in back.hf_note
        # The BPE part is a plain tokenizer.json for HF; the marker is an added token there.
        assert toksmith.Tokenizer.from_str(tok.plain.to_json()).vocab_size == tok.vocab_size
    with pytest.raises(MorphError, match="case map"):
        toksmith.train(texts=[TR_TEXT], vocab_size=300, algorithm="morph", segmenter="mdl", uppercase="klingon")


def test_whitespace_tokens_stay_plain(lexicon_file: Path) -> None:
    tok = toksmith.train(
        texts=[TR_TEXT * 4],
        vocab_size=290,
        algorithm="morph",
        segmenter=f"lexicon:{lexicon_file}",
        whitespace_tokens=True,
    )
    assert not isinstance(tok, MorphTokenizer)  # a plain BPE: HF reproduces the whitespace-isolating split
    text = "evler  de\n\tkitap"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    pieces = [tok.id_to_bytes(i) for i in ids]
    assert [p for p in pieces if not p.strip()] == [b" ", b" ", b"\n", b"\t"]
    assert all(p.strip() == p for p in pieces if p.strip())


@given(st.text(alphabet="aeıioöuüAEIİOÖUÜlrkdtsnmŞşĞğÇç .,'\n\t-", max_size=80))
def test_round_trip_property(text: str) -> None:
    tok = _tr_tokenizer()
    assert tok.decode(tok.encode(text)) == text


_TR_CACHE: dict[str, MorphTokenizer] = {}


def _tr_tokenizer() -> MorphTokenizer:
    if "t" not in _TR_CACHE:
        tok = toksmith.train(
            texts=[TR_TEXT * 4], vocab_size=300, algorithm="morph", segmenter="mdl", uppercase="turkish",
            segment_at_encode=True,
        )  # fmt: skip
        assert isinstance(tok, MorphTokenizer)
        _TR_CACHE["t"] = tok
    return _TR_CACHE["t"]


HARMONY = {
    "features": {"back": "aıou", "front": "eiöü"},
    "classes": {
        "PL": {"back": "lar", "front": "ler"},
        "LOC": {"back": "da", "front": "de"},
        "ABL": {"back": "dan", "front": "den"},
    },
}


def test_shared_allomorph_ids(lexicon_file: Path, tmp_path: Path) -> None:
    rules = tmp_path / "harmony.json"
    rules.write_text(json.dumps(HARMONY), encoding="utf-8")
    tok = toksmith.train(
        texts=[TR_TEXT * 4], vocab_size=300, algorithm="morph", segmenter=f"lexicon:{lexicon_file}",
        uppercase="turkish", segment_at_encode=True, allomorphs=rules,
    )  # fmt: skip
    assert isinstance(tok, MorphTokenizer)
    cls = {n: i for n, i, _ in tok.allomorphs}
    assert set(cls) == {"<allo:PL>", "<allo:LOC>", "<allo:ABL>"}
    ev, kitap = tok.encode("evlerde"), tok.encode("kitaplarda")
    assert ev[-2:] == kitap[-2:] == [cls["<allo:PL>"], cls["<allo:LOC>"]]  # ler/lar and de/da share ids
    assert cls["<allo:PL>"] not in tok.encode("kitapler")  # disharmonic: no rule picks "ler" after "a"
    for text in [TR_TEXT, "kitapler evlar lar", "Evlerden kitaplardan"]:
        assert tok.decode(tok.encode(text)) == text
    out = tmp_path / "a.json"
    tok.save(out)
    r = run_cli("info", str(out), "--json")
    info = json.loads(r.stdout)
    assert {a["token"] for a in info["allomorph_classes"]} == set(cls)
    assert "allomorph" in info["hf_tokenizers"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"features": {"x": "a", "y": "a"}, "classes": {"P": {"x": "l"}}}), encoding="utf-8")
    with pytest.raises(MorphError, match="in two features"):
        toksmith.train(texts=[TR_TEXT], vocab_size=300, algorithm="morph", segmenter="mdl", allomorphs=bad)


def test_flores_turkish_round_trip(flores_zip: Path, tmp_path: Path) -> None:
    """decode(encode(x)) == x on all of FLORES tur_Latn (dev and devtest), with the Turkish case marker, the
    mdl segmenter (learned from the training text) at encode time and shared allomorph ids."""
    with zipfile.ZipFile(flores_zip) as z:
        dev = member_lines(z.read("dev/tur_Latn.dev").decode("utf-8"))
        devtest = member_lines(z.read("devtest/tur_Latn.devtest").decode("utf-8"))
    rules = tmp_path / "harmony.json"
    rules.write_text(json.dumps(HARMONY), encoding="utf-8")
    tok = toksmith.train(
        texts=["\n".join(dev)], vocab_size=2000, algorithm="morph", segmenter="mdl", uppercase="turkish",
        segment_at_encode=True, allomorphs=rules,
    )  # fmt: skip
    out = tmp_path / "tr.json"
    tok.save(out)
    r = run_cli("info", str(out), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["format"] == "toksmith-morph" and info["case_map"] == "turkish" and info["segmenter_at_encode"] == "mdl"
    back = MorphTokenizer.from_file(out)
    lines = dev + devtest
    encoded = back.encode_batch(lines)
    assert [back.decode(ids) for ids in encoded] == lines
    marker = back.uppercase[1]
    assert sum(ids.count(marker) for ids in encoded) > len(lines)  # most sentences start with a capital
    shared = {i for _, i, _ in back.allomorphs}
    assert sum(i in shared for ids in encoded for i in ids) > 100
    r = run_cli("encode", str(out), "--help")
    assert r.returncode == 0


def test_analysis_loads_our_format_with_true_spans(lexicon_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    from toksmith.analysis.tokenizers import load

    tok = toksmith.train(
        texts=[TR_TEXT * 4], vocab_size=300, algorithm="morph", segmenter=f"lexicon:{lexicon_file}",
        uppercase="turkish", segment_at_encode=True,
    )  # fmt: skip
    out = tmp_path / "m.json"
    tok.save(out)
    loaded = load(str(out))
    texts = [TR_TEXT, "İyi Iğdır", ""]
    assert [list(x) for x in loaded.encode(texts)] == [tok.encode(t) for t in texts]
    assert list(loaded.count(texts)) == [len(tok.encode(t)) for t in texts]
    for t, sp in zip(texts, loaded.spans(texts)):
        b = t.encode("utf-8")
        at = 0
        for _, s, e in sp:
            assert s == at and e >= s
            at = e
        assert at == len(b)
        # Each span holds the token's text up to (Turkish) case; the marker is empty; İ→i and I→ı change lengths.
        for i, s, e in sp:
            if i == tok.uppercase[1]:
                assert s == e
                continue

            def low(x: str) -> str:
                return x.replace("I", "ı").replace("İ", "i").lower()

            assert low(tok.id_to_bytes(i).decode("utf-8")) == low(b[s:e].decode("utf-8"))
