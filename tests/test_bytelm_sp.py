"""SentencePiece-style BPE with byte fallback (Llama 2 / Mistral / TinyLlama `tokenizer.json`): encoding equal
to HF `tokenizers` and `sentencepiece` on genuine trained models, and `toksmith.bytelm` on such a vocabulary
checked against brute force (independent of the Rust covering structure: validity by re-encoding with HF
`tokenizers`)."""

from __future__ import annotations

import functools
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import toksmith
from sp_fixture import SpFixture, train_sp
from test_bytelm import CONT_CHARS, CONTS, EOT, Bigram, Brute, Trigram, _split_partial
from toksmith.bytelm import ByteLM, ensemble

pytest.importorskip("sentencepiece")
pytest.importorskip("transformers")
pytest.importorskip("google.protobuf")  # transformers' SentencePieceExtractor reads the model proto
tokenizers = pytest.importorskip("tokenizers")

# A tiny corpus: "é" and "\n" are characters of the vocabulary; "x", "ü" (same lead byte as "é"), "あ" and
# emoji are not (coverage), so they are spelled by byte-fallback tokens.
TINY = ["ab ab abba a b'sé éa ébé a  b ba ab'll", "abé ébab ba a\nb ab"] * 4 + ["あい abう"]
FLORES_TRAIN = ["eng_Latn", "fra_Latn", "rus_Cyrl", "zho_Hans", "jpn_Jpan", "hin_Deva"]
FLORES_TEST = FLORES_TRAIN + ["kor_Hang", "tha_Thai", "arb_Arab", "ell_Grek"]


@pytest.fixture(scope="session")
def sp_tiny(tmp_path_factory) -> SpFixture:
    return train_sp(TINY, tmp_path_factory.mktemp("sp_tiny"), 275, coverage=0.98)


# "あ" and "い" are characters of this vocabulary, "う" (same first two bytes E3 81) and "x" are not.
KANA = ["あい あい ab あいa いあ b", "ab あ い ba あいあい"] * 4 + ["う x"]


@pytest.fixture(scope="session")
def sp_kana(tmp_path_factory) -> SpFixture:
    return train_sp(KANA, tmp_path_factory.mktemp("sp_kana"), 272, coverage=0.98)


@pytest.fixture(scope="session")
def sp_flores(tmp_path_factory, flores_zip: Path) -> SpFixture:
    with zipfile.ZipFile(flores_zip) as z:
        lines = [ln for lang in FLORES_TRAIN for ln in z.read(f"dev/{lang}.dev").decode("utf-8").splitlines()[:60]]
    return train_sp(lines, tmp_path_factory.mktemp("sp_flores"), 1500, coverage=0.99)


@pytest.fixture(scope="session")
def flores_test_lines(flores_zip: Path) -> list[str]:
    with zipfile.ZipFile(flores_zip) as z:
        read = [z.read(f"devtest/{lang}.devtest").decode("utf-8") for lang in FLORES_TEST]
    return [ln for text in read for ln in text.splitlines()[:40]]


EDGE = ["", " ", "  x", " Hello", "a\nb", "日本語 😀 ▁x", "ÿ", "▁", "x▁ y", "\t\t", "ü é x あ", "a  "]
EDGE += ["<s>Hi</s> there", "</s>", " <s> a"]


def _check_encoders(fx: SpFixture, texts: list[str]) -> int:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(fx.model))
    n_fallback = 0
    fallback = {sp.piece_to_id(f"<0x{b:02X}>") for b in range(256)}
    for path in (fx.metaspace, fx.legacy):
        hf = tokenizers.Tokenizer.from_file(str(path))
        ours = toksmith.Tokenizer.from_str(path.read_text(encoding="utf-8"))
        for t in texts:
            want = hf.encode(t, add_special_tokens=False).ids
            assert ours.encode(t, added_tokens=True) == want, (path.name, t)
            plain = ours.encode(t, added_tokens=False)
            if "<s>" not in t and "</s>" not in t:
                assert plain == want
                assert ours.decode(plain) == hf.decode(want), (path.name, t)
                if path == fx.legacy:  # the legacy layout is SentencePiece's own encoding
                    assert plain == sp.encode(t), t
                    n_fallback += sum(i in fallback for i in plain)
    return n_fallback


def test_encoder_equals_hf_and_sentencepiece(sp_flores, flores_test_lines):
    n = _check_encoders(sp_flores, flores_test_lines + EDGE)
    assert n > 100  # byte fallback really occurs (characters outside the coverage, unseen scripts)


@given(st.lists(st.sampled_from(list(" ab\nxéüあ😀▁<>s/\t'") + ["<s>", "</s>"]), max_size=24).map("".join))
def test_encoder_equals_hf_hypothesis(sp_tiny, text):
    _check_encoders(sp_tiny, [text])


@given(st.text(max_size=40))
def test_encoder_equals_hf_any_text(sp_tiny, text):
    _check_encoders(sp_tiny, [text])


def test_layouts_load_and_refuse_writing(sp_tiny):
    ours = toksmith.Tokenizer.from_str(sp_tiny.legacy.read_text(encoding="utf-8"))
    assert ours.id_to_bytes(ours.token_to_id(b" a")) == b" a"  # "▁" is the space byte
    with pytest.raises(toksmith.TokenizerFormatError, match="SentencePiece"):
        ours.to_json()


# ----- byte-level probabilities against brute force -------------------------------------------------------------
@functools.cache
def sp_completions(partial: bytes, known: frozenset) -> list[bytes]:
    """Completions of a trailing partial character: all of them when one byte is missing; otherwise those
    that make a vocabulary character, plus two that do not (all such are spelled by fallback bytes alike)."""
    n = 2 if partial[0] < 0xE0 else 3 if partial[0] < 0xF0 else 4
    missing = n - len(partial)
    out, other = [], 0
    for k in range(64**missing):
        rest = bytes(0x80 | ((k >> (6 * m)) & 0x3F) for m in reversed(range(missing)))
        try:
            ch = (partial + rest).decode("utf-8")
        except UnicodeDecodeError:
            continue
        if missing == 1 or ch in known:
            out.append(rest)
        elif other < 2:
            other += 1
            out.append(rest)
    return out


class SpBrute(Brute):
    """Brute force over the byte stream `" " + text` (the dummy prefix). The encoding of a stream starting with
    a space is HF's encoding of it under `Metaspace(prepend_scheme="first")` (no second prefix there)."""

    def __init__(self, tok, model, eos, hf_metaspace):
        super().__init__(tok, model, eos)
        self.hf = hf_metaspace
        # characters that are pieces ("▁" is the space)
        self.known = frozenset(p.replace("▁", " ") for p in hf_metaspace.get_vocab() if len(p) == 1) | {"▁"}

    def encode_stream(self, s: str) -> tuple:
        assert s.startswith(" ")
        return tuple(self.hf.encode(s, add_special_tokens=False).ids)

    @functools.cache  # noqa: B019 - the instance lives for one test
    def valid(self, seq: tuple) -> bool:
        text = b"".join(self.bytes[t] for t in seq)
        if not text.startswith(b" "):
            return False
        parts = _split_partial(text)
        if parts is None:
            return False
        _head, partial = parts
        for comp in sp_completions(partial, self.known) if partial else [b""]:
            for cont in CONTS if (not partial or partial[0] < 0xE0) else [""] + CONT_CHARS:
                ids = self.encode_stream((text + comp + cont.encode()).decode("utf-8"))
                if ids[: len(seq)] == seq:
                    return True
        return False

    def complete(self, seq: tuple) -> bool:
        text = b"".join(self.bytes[t] for t in seq)
        try:
            s = text.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return s.startswith(" ") and self.encode_stream(s) == seq

    def logq_canonical(self, text: str) -> float:
        seq = self.encode_stream(" " + text)
        lq = 0.0
        for i in range(len(seq) + 1):
            row, e = self.q_row(seq[:i])
            lq += math.log(row[seq[i]] if i < len(seq) else e)
        return lq


def _setup(fx: SpFixture, seed: int, layout: str = "metaspace", model_cls=Bigram):
    path = fx.metaspace if layout == "metaspace" else fx.legacy
    tok = toksmith.bytelm.as_tokenizer(path)
    model = model_cls(tok.vocab_size, seed=seed)
    eos = {c: i for c, i, _s in tok.added_tokens}["</s>"]
    brute = SpBrute(tok, model, eos, tokenizers.Tokenizer.from_file(str(fx.metaspace)))
    return tok, model, brute


# "ü" = C3 BC is spelled by fallback bytes, "é" = C3 A9 is a token: after C3 both readings are alive and A9
# must drop the fallback one; "あ" (E3 81 82) and "x" are fallback characters.
SP_PREFIXES = [
    b"",
    b"a",
    b"ab",
    b"ab ",
    b"a b",
    b"\xc3",
    b"a\xc3",
    b"ab\xc3\xa9",
    b"\xc3\xbc",
    b"b'l",
    b" ",
    b"a  ",
    b"x",
    b"ax b",
    b"\xe3",
    b"\xe3\x81",
    b"a\xe3\x81\x82",
    b"a\n",
    b"\xf0\x9f",
]


@pytest.mark.parametrize("layout", ["metaspace", "legacy"])
def test_sp_next_byte_equals_brute_force(sp_tiny, layout):
    tok, model, brute = _setup(sp_tiny, 1, layout)
    lm = ByteLM(model, tok, context=())
    assert lm.eos_id == brute.eos
    for x in SP_PREFIXES:
        got = np.exp(lm.logp_next_byte(x))
        assert abs(got.sum() - 1.0) < 1e-12
        want = brute.next_byte(b" " + x)
        assert np.abs(got - want).max() < 1e-9, (x, np.abs(got - want).max())
        assert lm.text == x
        if x.endswith((b"\xc3", b"\xe3", b"\xe3\x81", b"\xf0\x9f")):
            assert got[EOT] == 0.0 and got[:0x80].sum() == 0.0 and got[0xC0:0x100].sum() == 0.0
    # after C3: "é" (a token) and fallback characters such as "ü"; never C3 A9 as fallback bytes
    p = np.exp(lm.logp_next_byte(b"a\xc3"))
    assert p[0xA9] > 0 and p[0xBC] > 0


KANA_PREFIXES = [b"", b"\xe3", b"\xe3\x81", b"a\xe3\x81", b"\xe3\x81\x86", b"\xe3\x81\x82", b"\xe3\x81\x84\xe3"]


def test_sp_fallback_needs_a_character_outside_the_vocabulary(sp_kana):
    """After E3 81 the next byte may be 82 ("あ", a token) or 86 ("う", fallback bytes); the fallback reading
    <E3><81> survives 86 only, and the distributions equal the brute force."""
    tok, model, brute = _setup(sp_kana, 3)
    lm = ByteLM(model, tok, context=())
    for x in KANA_PREFIXES:
        got = np.exp(lm.logp_next_byte(x))
        want = brute.next_byte(b" " + x)
        assert np.abs(got - want).max() < 1e-9, (x, np.abs(got - want).max())
    p = np.exp(lm.logp_next_byte(b"\xe3\x81"))
    assert p[0x82] > 0 and p[0x84] > 0 and p[0x86] > 0 and p[0x83] > 0
    lm.logp_next_byte(b"\xe3\x81\x82")
    fb = {tok.token_to_id(bytes([b])) for b in (0xE3, 0x81, 0x82)}
    assert all(not fb <= set(lm._cover.tokens(s)) for s in lm._cover.live())  # no <E3><81><82> reading
    cover = lm._cover
    for x in [b"a\xe3\x81\x86b", b"\xe3\x81\x82\xe3\x81\x84 x"]:
        for i in range(len(x) + 1):
            lm._goto(x[:i])
            for sid in cover.live():
                if cover.state_end(sid) == i + 1:
                    seq = tuple(cover.tokens(sid))
                    slow = {t for t in brute.ids if brute.valid(seq + (t,))}
                    assert set(cover.valid_next(sid)) == slow, (x[:i], seq)


def test_sp_validity_mask_equals_reencoding(sp_tiny):
    tok, model, brute = _setup(sp_tiny, 4)
    lm = ByteLM(model, tok, context=(), fast_forward=False)
    cover = lm._cover
    for x in [b"ab'll ba", b"a \xc3\xa9b\xc3\xbcx", b"b\xe3\x81\x82a\n"]:
        for i in range(len(x) + 1):
            lm._goto(x[:i])
            for sid in cover.live():
                if cover.state_end(sid) != i + 1:  # + the hidden space
                    continue
                seq = tuple(cover.tokens(sid))
                fast = set(cover.valid_next(sid))
                slow = {t for t in brute.ids if brute.valid(seq + (t,))}
                assert fast == slow, (x[:i], seq, fast ^ slow)


def test_sp_telescoping_and_cover_ratio(sp_tiny):
    tok, model, brute = _setup(sp_tiny, 2)
    lm = ByteLM(model, tok, context=())
    for text in ["ab ab", "é b'll", "ba\nab", "", "üx", " a", "あb"]:
        assert abs(lm.logprob(text) - brute.logq_canonical(text)) < 1e-9, text
        assert abs(lm.logprob(text, eos=False) - math.log(brute.prefix_prob(b" " + text.encode()))) < 1e-9
    for x in [b"a", b"a\xc3", b"\xe3\x81"]:
        dist = np.exp(lm.logp_next_byte(x))
        for b in np.argsort(-dist[:256])[:3]:
            ratio = brute.prefix_prob(b" " + x + bytes([b])) / brute.prefix_prob(b" " + x)
            assert abs(dist[b] - ratio) < 1e-9, (x, b)
    # the literal "▁" is read as a space by the tokenizer and never decoded: probability 0
    with pytest.raises(toksmith.errors.BytelmError, match="no token sequence"):
        lm.logprob("a\u2581b")


def test_sp_fast_forward_is_exact(sp_tiny):
    """Fallback characters end stable heads: skipping them changes nothing but the number of rows."""
    tok, model, brute = _setup(sp_tiny, 5, model_cls=Trigram)
    fast, full = ByteLM(model, tok, context=()), ByteLM(model, tok, context=(), fast_forward=False)
    for x in [b"ab ab x abba a b'se", b"ab\xc3\xbc ab a\xc3", b"ba x\xe3\x81\x82 ab", b"a b a b x", b"ab ab a"]:
        a, b = np.exp(fast.logp_next_byte(x)), np.exp(full.logp_next_byte(x))
        assert np.abs(a - b).max() < 1e-9, x
        assert fast.text == x == full.text
        assert fast.generate(x, max_bytes=10) == full.generate(x, max_bytes=10)
        assert abs(fast.logprob(x, eos=False) - full.logprob(x, eos=False)) < 1e-9
    assert fast.lm_rows < full.lm_rows
    for x in [b"ab x a", b"x\xc3"]:
        assert np.abs(np.exp(fast.logp_next_byte(x)) - brute.next_byte(b" " + x)).max() < 1e-9, x


def test_sp_context_generate_and_ensemble(sp_tiny):
    meta = toksmith.bytelm.as_tokenizer(sp_tiny.metaspace)
    legacy = toksmith.bytelm.as_tokenizer(sp_tiny.legacy)
    model = Bigram(meta.vocab_size, seed=6)
    bos = {c: i for c, i, _s in legacy.added_tokens}["<s>"]
    # the legacy layout's post-processor puts <s> first: the default context
    assert ByteLM(model, legacy).context == [bos]
    assert ByteLM(model, meta).context == []
    lm = ByteLM(model, legacy)
    g = lm.generate("ab", max_bytes=12)
    assert isinstance(g, str) and not lm.text.startswith(b" ab")
    assert lm.text == b"ab" + g.encode()
    # the generated text is what decoding the canonical tokens gives
    beam = ByteLM(model, meta, mode="beam", beam=4)
    assert abs(np.exp(beam.logp_next_byte(b"ab a")).sum() - 1) < 1e-9
    other = ByteLM(Bigram(meta.vocab_size, seed=7), meta)
    mix = ensemble([lm, other], weights=[0.4, 0.6])
    want = math.log(0.4 * math.exp(lm.logprob("ab ba")) + 0.6 * math.exp(other.logprob("ab ba")))
    chain = sum(mix.logp_next_byte(b"ab ba"[:i])[c] for i, c in enumerate(b"ab ba")) + mix.logp_next_byte(b"ab ba")[EOT]
    assert abs(mix.logprob("ab ba") - want) < 1e-9 and abs(chain - want) < 1e-9


def test_sp_real_vocabulary_cover(sp_flores, flores_test_lines):
    """A 1500-token SentencePiece vocabulary trained on FLORES: rows sum to one, the chain is finite for lines of
    scripts the vocabulary covers and those it spells by fallback bytes, and about one row per byte."""
    tok = toksmith.bytelm.as_tokenizer(sp_flores.metaspace)
    rng = np.random.default_rng(0)
    row = rng.normal(size=tok.vocab_size)
    lm = ByteLM(lambda prefixes: np.tile(row, (len(prefixes), 1)), tok)
    for line in [flores_test_lines[0][:60], flores_test_lines[200][:30], flores_test_lines[-1][:40]]:
        lp = lm.logprob(line)
        assert np.isfinite(lp), line
        p = np.exp(lm.logp_next_byte(line[:-1].encode()))
        assert abs(p.sum() - 1) < 1e-12
    # SentencePiece merge lists name every split of a piece, some using pieces made later: not monotone, so pair
    # validity takes the exact re-encoding path
    assert not lm.stats()["monotone_merges"]


def test_sp_real_vocabulary_masks(sp_flores, flores_test_lines):
    """On the 1500-token FLORES vocabulary (non-monotone merges): the canonical tokens of real lines always pass
    the masks (completeness), and random walks through the masks give sequences that HF re-encodes to themselves
    (soundness: every token sequence the masks allow at a character boundary is a whole encoding)."""
    tok = toksmith.bytelm.as_tokenizer(sp_flores.metaspace)
    hf = tokenizers.Tokenizer.from_file(str(sp_flores.metaspace))
    row = np.zeros(tok.vocab_size)
    lm = ByteLM(lambda prefixes: np.tile(row, (len(prefixes), 1)), tok, fast_forward=False)
    cover = lm._cover

    def state_of(seq: list[int]) -> int:
        text = b"".join(tok.id_to_bytes(t) for t in seq)
        lm._goto(text[1:])
        (sid,) = [s for s in cover.live() if cover.tokens(s) == seq]
        return sid

    for line in flores_test_lines[::40]:
        line = line[:40]
        seq = list(hf.encode(" " + line, add_special_tokens=False).ids)
        for i in range(len(seq)):
            assert seq[i] in set(cover.valid_next(state_of(seq[:i]))), (line, i)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(60):
        seq: list[int] = []
        for _ in range(12):
            allowed = cover.valid_next(state_of(seq))
            seq.append(int(rng.choice(allowed)))
            raw = b"".join(tok.id_to_bytes(t) for t in seq)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue  # ends inside a fallback character
            assert hf.encode(text, add_special_tokens=False).ids == seq, (text, seq)
            checked += 1
    assert checked > 300


def test_analysis_loads_sentencepiece_in_rust(sp_flores, flores_test_lines):
    """`toksmith analyze`/`premium` count SentencePiece byte-fallback files in Rust now: same ids as HF, and
    token spans on the text's bytes (the dummy-prefix space is not in the text)."""
    from toksmith.analysis.tokenizers import load

    rust = load(str(sp_flores.metaspace))
    hf = load(f"hf:{sp_flores.metaspace}")
    assert rust.backend.startswith("toksmith (Rust)") and not hf.backend.startswith("toksmith")
    texts = flores_test_lines[::25] + [" lead", "a\u2581b", "x"]
    assert [list(x) for x in rust.encode(texts)] == [list(x) for x in hf.encode(texts)]
    for text, sp in zip(texts, rust.spans(texts)):
        assert sp[0][1] == 0 and sp[-1][2] == len(text.encode()), text
        assert all(a[2] == b[1] for a, b in zip(sp, sp[1:]))


def test_sp_pair_validity_real_vocabulary(sp_flores):
    """Pair validity on the 1500-piece FLORES vocabulary (non-monotone merges: the event simulation) equals HF
    re-encoding of every pair `[a, t]` for a sample of first tokens `a`."""
    tok = toksmith.bytelm.as_tokenizer(sp_flores.metaspace)
    hf = tokenizers.Tokenizer.from_file(str(sp_flores.metaspace))
    row = np.zeros(tok.vocab_size)
    lm = ByteLM(lambda prefixes: np.tile(row, (len(prefixes), 1)), tok, fast_forward=False)
    cover = lm._cover
    fallback = {hf.token_to_id(f"<0x{b:02X}>") for b in range(256)}
    added = {i for _c, i, _s in tok.added_tokens}
    pieces = [i for i in range(tok.vocab_size) if i not in fallback and i not in added]
    firsts = [i for i in pieces if tok.id_to_bytes(i).startswith(b" ")]
    rng = np.random.default_rng(1)
    checked = invalid = 0
    for a in rng.choice(firsts, size=30, replace=False):
        a = int(a)
        text = tok.id_to_bytes(a).decode("utf-8")
        if hf.encode(text, add_special_tokens=False).ids != [a]:
            continue  # not proper: never emitted
        lm._goto(text[1:].encode())
        (sid,) = [s for s in cover.live() if cover.tokens(s) == [a]]
        fast = set(cover.valid_next(sid)) - fallback
        pairs = [text + tok.id_to_bytes(t).decode("utf-8") for t in pieces]
        slow = {t for t, e in zip(pieces, hf.encode_batch(pairs, add_special_tokens=False)) if e.ids == [a, t]}
        assert fast == slow, (text, fast ^ slow)
        checked += 1
        invalid += len(pieces) - len(slow)
    assert checked >= 20 and invalid > 50
