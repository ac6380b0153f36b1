"""Byte-level probabilities from token-level models (`toksmith.bytelm`), checked against brute force.

The brute force here shares no code with the Rust covering structure: it enumerates token sequences, decides
validity by re-encoding the decoded text followed by every short continuation (and every completion of a
trailing partial character), and renormalises each step of a tiny random bigram model over a trained BPE
vocabulary.
"""

from __future__ import annotations

import functools
import itertools
import math
import unicodedata

import numpy as np
import pytest

import toksmith
from toksmith.bytelm import EOT, ByteLM, ensemble
from toksmith.errors import BytelmError, ToksmithError

TRAIN = ["ab ab abba a b'sé éa ébé a  b ba ab'll", "abé ébab ba a\nb ab"] * 4


@functools.cache
def tiny(pretok: str = "gpt2", vocab: int = 275) -> toksmith.Tokenizer:
    return toksmith.train(
        texts=TRAIN, vocab_size=vocab, pretokenizer=pretok, min_frequency=1, special_tokens=["<|endoftext|>"]
    )


class Bigram:
    """Random next-token log-probabilities depending on the last token only (plus the EOS column)."""

    def __init__(self, n: int, seed: int = 0, width: int | None = None):
        rng = np.random.default_rng(seed)
        self.table = rng.normal(0.0, 1.5, size=(n + 1, width or n))
        self.n = n

    def row(self, prefix) -> np.ndarray:
        last = prefix[-1] if prefix else self.n
        return self.table[last]

    def __call__(self, prefixes):
        return np.stack([self.row(p) for p in prefixes])


# ----- the brute force ------------------------------------------------------------------------------------
CONT_CHARS = ["a", "b", " ", "é", "x", "1", ".", "\n", "'", "s", "l", "\t", "B"]
CONTS = [""] + CONT_CHARS + [a + b for a in CONT_CHARS for b in CONT_CHARS]


def _cls(ch: str) -> str:
    c = unicodedata.category(ch)
    if ch.isspace():
        return "space"
    return c[0] if c[0] in "LN" else "other"


@functools.cache
def completions(partial: bytes) -> list[bytes]:
    """Completions of a trailing partial UTF-8 character: all of them for 2-byte characters, one per class
    (letter, number, space, other) for longer ones (their bytes never occur inside the tiny vocabulary's
    merged tokens, so characters of one class behave alike)."""
    n = 2 if partial[0] < 0xE0 else 3 if partial[0] < 0xF0 else 4
    missing = n - len(partial)
    out, seen = [], set()
    for k in range(64**missing):
        rest = bytes(0x80 | ((k >> (6 * m)) & 0x3F) for m in reversed(range(missing)))
        try:
            ch = (partial + rest).decode("utf-8")
        except UnicodeDecodeError:
            continue
        if n == 2:
            out.append(rest)
        elif _cls(ch) not in seen:
            seen.add(_cls(ch))
            out.append(rest)
    return out


def _split_partial(b: bytes) -> tuple[bytes, bytes] | None:
    """(complete part, trailing partial char) or None if `b` is not a UTF-8 prefix."""
    for k in range(0, 4):
        head, tail = b[: len(b) - k], b[len(b) - k :]
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not tail:
            return head, tail
        n = 2 if 0xC2 <= tail[0] <= 0xDF else 3 if 0xE0 <= tail[0] <= 0xEF else 4 if 0xF0 <= tail[0] <= 0xF4 else 0
        if n > len(tail) and all(0x80 <= c <= 0xBF for c in tail[1:]):
            return head, tail
    return None


class Brute:
    def __init__(self, tok: toksmith.Tokenizer, model: Bigram, eos: int):
        self.tok, self.model, self.eos = tok, model, eos
        added = {i for _c, i, _s in tok.added_tokens}
        self.ids = [i for i in range(tok.vocab_size) if i not in added and tok.id_to_bytes(i) is not None]
        self.bytes = {i: tok.id_to_bytes(i) for i in self.ids}

    @functools.cache  # noqa: B019 - the instance lives for one test
    def valid(self, seq: tuple) -> bool:
        """Is `seq` a prefix of the canonical encoding of some text?"""
        text = b"".join(self.bytes[t] for t in seq)
        parts = _split_partial(text)
        if parts is None:
            return False
        _head, partial = parts
        tails = [c for c in completions(partial)] if partial else [b""]
        for comp in tails:
            for cont in CONTS if (not partial or partial[0] < 0xE0) else [""] + CONT_CHARS:
                full = text + comp + cont.encode()
                ids = self.tok.encode(full.decode("utf-8"), added_tokens=False)
                if tuple(ids[: len(seq)]) == seq:
                    return True
        return False

    def complete(self, seq: tuple) -> bool:
        text = b"".join(self.bytes[t] for t in seq)
        try:
            s = text.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return tuple(self.tok.encode(s, added_tokens=False)) == seq

    @functools.cache  # noqa: B019
    def q_row(self, seq: tuple) -> tuple[dict, float]:
        """Canonicalised next-token distribution after `seq`: ({token: Q}, Q(EOS))."""
        row = np.exp(self.model.row(list(seq)))
        w = {t: row[t] for t in self.ids if self.valid(seq + (t,))}
        e = row[self.eos] if self.complete(seq) else 0.0
        z = sum(w.values()) + e
        return {t: v / z for t, v in w.items()}, e / z

    def cover(self, x: bytes) -> list[tuple[tuple, float]]:
        """Cover encodings of x with their probabilities."""
        out = []

        def rec(seq, pos, q):
            row, _ = self.q_row(seq)
            for t, qt in row.items():
                b = self.bytes[t]
                rest = x[pos:]
                if b.startswith(rest) and len(b) >= len(rest):
                    out.append((seq + (t,), q * qt))
                elif rest.startswith(b):
                    rec(seq + (t,), pos + len(b), q * qt)

        if x:
            rec((), 0, 1.0)
        return out

    def prefix_prob(self, x: bytes) -> float:
        return 1.0 if not x else sum(q for _s, q in self.cover(x))

    def next_byte(self, x: bytes) -> np.ndarray:
        """P(b | x) from the cover of x plus the sequences that end exactly at x."""
        out = np.zeros(257)
        ends = [((), 1.0)] if not x else []
        for seq, q in self.cover(x):
            b = b"".join(self.bytes[t] for t in seq)
            if len(b) > len(x):
                out[b[len(x)]] += q
            else:
                ends.append((seq, q))
        for seq, q in ends:
            row, e = self.q_row(seq)
            for t, qt in row.items():
                out[self.bytes[t][0]] += q * qt
            out[EOT] += q * e
        return out / out.sum()

    def logq_canonical(self, text: str) -> float:
        seq = tuple(self.tok.encode(text, added_tokens=False))
        lq = 0.0
        for i in range(len(seq) + 1):
            row, e = self.q_row(seq[:i])
            lq += math.log(row[seq[i]] if i < len(seq) else e)
        return lq


def eos_of(tok) -> int:
    return {c: i for c, i, _s in tok.added_tokens}["<|endoftext|>"]


PREFIXES = [b"", b"a", b"ab", b"ab ", b"a b", b"\xc3", b"a\xc3", b"ab\xc3\xa9", b"b'", b"b'l", b" ", b"a  "]


@pytest.mark.parametrize("pretok", ["gpt2", "none"])
def test_next_byte_equals_brute_force(pretok):
    tok = tiny(pretok)
    model = Bigram(tok.vocab_size, seed=1)
    lm = ByteLM(model, tok)
    brute = Brute(tok, model, eos_of(tok))
    for x in PREFIXES:
        got = np.exp(lm.logp_next_byte(x))
        assert abs(got.sum() - 1.0) < 1e-12
        want = brute.next_byte(x)
        assert np.abs(got - want).max() < 1e-9, (pretok, x, np.abs(got - want).max())
        if x.endswith(b"\xc3"):
            assert got[EOT] == 0.0  # a text cannot end inside a character
            assert got[:0x80].sum() == 0.0 and got[0xC0:0x100].sum() == 0.0


def test_cover_sum_ratio_and_telescoping():
    tok = tiny()
    model = Bigram(tok.vocab_size, seed=2)
    lm = ByteLM(model, tok)
    brute = Brute(tok, model, eos_of(tok))
    # P(x b ..) / P(x ..) from two independent cover enumerations
    for x in [b"a", b"ab", b"a\xc3"]:
        dist = np.exp(lm.logp_next_byte(x))
        for b in np.argsort(-dist[:256])[:3]:
            ratio = brute.prefix_prob(x + bytes([b])) / brute.prefix_prob(x)
            assert abs(dist[b] - ratio) < 1e-9, (x, b)
    # the byte chain telescopes to the canonical token path
    for text in ["ab ab", "é b'll", "ba\nab", ""]:
        assert abs(lm.logprob(text) - brute.logq_canonical(text)) < 1e-9, text
        assert abs(lm.logprob(text, eos=False) - math.log(brute.prefix_prob(text.encode()))) < 1e-9


def test_prompt_ending_mid_token():
    tok = tiny()
    model = Bigram(tok.vocab_size, seed=3)
    lm = ByteLM(model, tok)
    # a letter token of 2+ bytes: a prompt cut before its last byte ends inside it
    word = max(
        (tok.id_to_bytes(i) or b"" for i in range(tok.vocab_size) if (tok.id_to_bytes(i) or b"").isalpha()),
        key=len,
    )
    assert len(word) >= 2 and tok.encode(word.decode()) == [tok.token_to_id(word)]
    # Conditioning on a prompt cut inside a token, then on the rest, gives the canonical path's probability.
    full = lm.logprob(word, eos=True)
    k = len(word) - 1
    cut = lm.logprob(word[:k], eos=False)
    rest = 0.0
    for i in range(k, len(word)):
        rest += lm.logp_next_byte(word[:i])[word[i]]
    rest += lm.logp_next_byte(word)[EOT]
    assert abs(cut + rest - full) < 1e-9
    # ... which the naive reading (tokenize the prompt, ask for the next token) gets wrong.
    naive_ids = tok.encode(word[:k].decode(), added_tokens=False)
    naive = np.exp(model.row(naive_ids))
    last_id = tok.token_to_id(word[k:])
    assert abs(np.exp(lm.logp_next_byte(word[:k])[word[k]]) - naive[last_id] / naive.sum()) > 1e-3


def test_validity_mask_equals_reencoding():
    """The Rust pair/chunk validity equals re-encoding, for every token after many covering states."""
    for pretok in ["gpt2", "cl100k"]:
        tok = tiny(pretok, 290)
        model = Bigram(tok.vocab_size, seed=4)
        lm = ByteLM(model, tok)
        brute = Brute(tok, model, eos_of(tok))
        cover = lm._cover
        for x in [b"ab'll ba", b"a  \xc3\xa9b"]:
            lm._goto(b"")
            for i in range(len(x) + 1):
                lm._goto(x[:i])
                for sid in cover.live():
                    if cover.state_end(sid) != i:
                        continue
                    seq = tuple(cover.tokens(sid))
                    fast = set(cover.valid_next(sid))
                    slow = {t for t in brute.ids if brute.valid(seq + (t,))}
                    assert fast == slow, (pretok, x[:i], seq, fast ^ slow)


def test_special_tokens_and_end_of_text():
    tok = toksmith.train(
        texts=TRAIN, vocab_size=280, pretokenizer="gpt2", min_frequency=1, special_tokens=["<|endoftext|>", "<pad>"]
    )
    ids = {c: i for c, i, _s in tok.added_tokens}
    base = Bigram(tok.vocab_size, seed=5)
    heavy = Bigram(tok.vocab_size, seed=5)
    heavy.table[:, ids["<pad>"]] = 50.0  # the model loves a special token: it must not matter
    a, b = ByteLM(base, tok), ByteLM(heavy, tok)
    assert a.eos_id == ids["<|endoftext|>"]
    for x in [b"", b"ab", b"a\xc3"]:
        assert np.allclose(a.logp_next_byte(x), b.logp_next_byte(x), atol=1e-12, equal_nan=True)
    # end of text only where the text is complete; without an EOS token texts never end
    assert np.exp(a.logp_next_byte(b"ab")[EOT]) > 0
    noeos = ByteLM(base, tok, eos_id=None)
    p = np.exp(noeos.logp_next_byte(b"ab"))
    assert p[EOT] == 0.0 and abs(p.sum() - 1) < 1e-12
    # a context token before the text (e.g. BOS) conditions the model
    ctx = ByteLM(base, tok, context=[ids["<pad>"]])
    assert not np.allclose(ctx.logp_next_byte(b""), a.logp_next_byte(b""))
    # the special strings in the text are plain text
    assert np.isfinite(a.logprob("<pad>"))


def test_generate_and_beam():
    tok = tiny()
    model = Bigram(tok.vocab_size, seed=6)
    lm = ByteLM(model, tok)
    g1 = lm.generate("ab", max_bytes=12)
    assert g1 == lm.generate("ab", max_bytes=12)  # greedy is deterministic
    s1 = lm.generate(b"a", max_bytes=10, greedy=False, seed=3)
    assert s1 == lm.generate(b"a", max_bytes=10, greedy=False, seed=3)
    assert isinstance(g1, str) and isinstance(s1, bytes) and len(s1) <= 10
    st = lm.stats()
    assert st["lm_rows"] >= 1 and st["provided"] >= 1
    beam = ByteLM(model, tok, mode="beam", beam=4)
    p = np.exp(beam.logp_next_byte(b"ab a"))
    assert abs(p.sum() - 1) < 1e-9


def test_ensemble_across_tokenizers():
    t1, t2 = tiny("gpt2", 275), tiny("none", 300)
    m1 = ByteLM(Bigram(t1.vocab_size, seed=7), t1)
    m2 = ByteLM(Bigram(t2.vocab_size, seed=8), t2)
    mix = ensemble([m1, m2], weights=[0.3, 0.7], mode="mixture")
    for text in ["ab ba", "é"]:
        want = math.log(0.3 * math.exp(m1.logprob(text)) + 0.7 * math.exp(m2.logprob(text)))
        assert abs(mix.logprob(text) - want) < 1e-9
        # the mixture's byte chain is the same number
        chain = sum(mix.logp_next_byte(text.encode()[:i])[c] for i, c in enumerate(text.encode()))
        chain += mix.logp_next_byte(text.encode())[EOT]
        assert abs(chain - want) < 1e-9
    prod = ensemble([m1, m2], mode="product")
    p = np.exp(prod.logp_next_byte(b"ab"))
    assert abs(p.sum() - 1) < 1e-12
    assert np.isfinite(prod.logprob("ab ba"))
    assert isinstance(mix.generate("a", max_bytes=5), str)


def test_bad_input():
    tok = tiny()
    short = Bigram(tok.vocab_size, seed=9, width=tok.vocab_size - 5)
    with pytest.raises(BytelmError, match="vocabulary mismatch"):
        ByteLM(short, tok).logp_next_byte(b"a")

    class Declared(Bigram):
        vocab_size = 10

    with pytest.raises(BytelmError, match="vocabulary mismatch"):
        ByteLM(Declared(tok.vocab_size), tok)
    lm = ByteLM(Bigram(tok.vocab_size), tok)
    for bad in [b"\xff", b"a\xc3a", b"\x80"]:
        with pytest.raises(BytelmError, match="no token sequence"):
            lm.logp_next_byte(bad)
    with pytest.raises(BytelmError, match="unsupported tokenizer"):
        ByteLM(lm.model, 42)
    with pytest.raises(BytelmError, match="ordinary token"):
        ByteLM(lm.model, tok, eos_id=tok.token_to_id(b"a"))
    with pytest.raises(BytelmError):
        ByteLM(lm.model, tok, context=[10**6])
    assert issubclass(BytelmError, ToksmithError)
    # each message is one line
    try:
        lm.logp_next_byte(b"\xff")
    except BytelmError as e:
        assert "\n" not in str(e)


def test_unsupported_tokenizer_file(tokenizers_dir):
    p = tokenizers_dir / "all-minilm-l6-v2" / "tokenizer.json"
    if not p.exists():
        pytest.skip("WordPiece tokenizer file missing")
    with pytest.raises(BytelmError, match="unsupported tokenizer"):
        ByteLM(Bigram(10), p)


def test_real_tokenizers_cover(tokenizers_dir):
    """The covering structure on real vocabularies (no model: a fixed random row), incl. SmolLM2's."""
    specs = [tokenizers_dir / "gpt2.tiktoken", tokenizers_dir / "smollm2-135m" / "tokenizer.json"]
    text = "Hello, world! It's 2024 \u2014 caf\u00e9s don't close."
    for spec in specs:
        if not spec.exists():
            continue
        tok = toksmith.bytelm.as_tokenizer(spec)
        rng = np.random.default_rng(0)
        row = rng.normal(size=tok.vocab_size + 7)
        lm = ByteLM(lambda prefixes, row=row: np.tile(row, (len(prefixes), 1)), tok)
        lp = lm.logprob(text)
        assert np.isfinite(lp)
        st = lm.stats()
        assert st["lm_rows"] <= 1.3 * len(text.encode()) + 2, st
        # the chain equals the canonical path under the same constant model (checked by re-encoding)
        ids = tok.encode(text, added_tokens=False)
        assert tok.decode(ids) == text


def test_cli_complete_errors(tmp_path):
    import importlib.util
    import subprocess
    import sys

    exe = [sys.executable, "-m", "toksmith", "complete"]
    r = subprocess.run(exe + [str(tmp_path), "-p", "x", "--naive", "--byte-level"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "choose one" in r.stderr
    r = subprocess.run(exe + [str(tmp_path), "-p", "x"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    if importlib.util.find_spec("torch") is None:
        assert "pip install" in r.stderr and "toksmith[lm]" in r.stderr
        from toksmith.bytelm_hf import require_lm

        with pytest.raises(BytelmError, match="toksmith\\[lm\\]"):
            require_lm()


_ = itertools


def test_hf_adapter_cache_reuse():
    """Key/value-cache reuse gives the same rows as full forward passes (tiny random Llama; needs torch)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from toksmith.bytelm_hf import HFCausalLM

    tok = tiny()
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=eos_of(tok),
    )
    model = transformers.LlamaForCausalLM(cfg)
    cached = HFCausalLM(model, device="cpu", cache_states=64)
    plain = HFCausalLM(model, device="cpu", cache_states=0)
    a = ByteLM(cached, tok, context=[eos_of(tok)])
    b = ByteLM(plain, tok, context=[eos_of(tok)])
    for x in [b"ab", b"ab ba\xc3", b"ab ba\xc3\xa9 "]:
        assert np.allclose(a.logp_next_byte(x), b.logp_next_byte(x), atol=1e-5, equal_nan=True)
    assert cached.tokens_run < plain.tokens_run
    assert isinstance(a.generate("ab", max_bytes=6), str)


class Trigram(Bigram):
    """Next-token log-probabilities that depend on the last two tokens (so the skipped head matters)."""

    def __init__(self, n: int, seed: int = 0):
        super().__init__(n, seed)
        rng = np.random.default_rng(seed + 100)
        self.mix = rng.normal(0.0, 1.0, size=(n + 1, n))

    def row(self, prefix) -> np.ndarray:
        a = prefix[-1] if prefix else self.n
        b = prefix[-2] if len(prefix) > 1 else self.n
        return self.table[a] + 0.5 * self.mix[b]


LONG_PROMPTS = [
    b"ab ab abba a b'se",
    b"ab ab abba a b'l",
    b"ba ab ab\nab ab a\xc3",
    b"ab\xc3\xa9 ab  b",
    b"a b a b a b",
]


@pytest.mark.parametrize("pretok", ["gpt2", "cl100k", "none"])
def test_fast_forward_is_exact(pretok):
    """Skipping a prompt's stable head gives the same next-byte distributions and generations, with fewer rows."""
    tok = tiny(pretok)
    model = Trigram(tok.vocab_size, seed=5)
    fast, full = ByteLM(model, tok), ByteLM(model, tok, fast_forward=False)
    for x in LONG_PROMPTS:
        a, b = np.exp(fast.logp_next_byte(x)), np.exp(full.logp_next_byte(x))
        assert np.abs(a - b).max() < 1e-9, (pretok, x)
        assert fast.text == x
        assert fast.generate(x, max_bytes=12) == full.generate(x, max_bytes=12)
        # logprob needs the head's probability: the fast model starts over and agrees
        assert abs(fast.logprob(x, eos=False) - full.logprob(x, eos=False)) < 1e-9
    if pretok != "none":
        assert fast.lm_rows < full.lm_rows
    brute = Brute(tok, model, eos_of(tok))
    for x in [b"ab ab a", b"a b'l", b"ab a\xc3"]:
        assert np.abs(np.exp(fast.logp_next_byte(x)) - brute.next_byte(x)).max() < 1e-9, x


def test_ensemble_interpolate_is_per_byte_mixture():
    t1, t2 = tiny("gpt2", 275), tiny("none", 300)
    m1 = ByteLM(Trigram(t1.vocab_size, seed=9), t1)
    m2 = ByteLM(Bigram(t2.vocab_size, seed=10), t2)
    ens = ensemble([m1, m2], weights=[1.0, 3.0], mode="interpolate")
    text = "ab ba é".encode()
    want = 0.0
    for i in range(len(text) + 1):
        p = 0.25 * np.exp(m1.logp_next_byte(text[:i])) + 0.75 * np.exp(m2.logp_next_byte(text[:i]))
        assert abs(p.sum() - 1) < 1e-12
        want += math.log(p[text[i]] if i < len(text) else p[EOT])
        got = np.exp(ens.logp_next_byte(text[:i]))
        assert np.abs(got - p).max() < 1e-12
    assert abs(ens.logprob(text) - want) < 1e-9
    with pytest.raises(ValueError, match="mode must be one of"):
        ensemble([m1, m2], mode="average")


def test_peaked_model_keeps_tiny_byte_probabilities():
    """Rows where most tokens get ~1e-40 of the mass: a byte whose mass is far below 1e-16 of the row still gets
    its exact (tiny, non-zero) probability, as the brute force says (range sums never subtract)."""
    tok = tiny("gpt2")
    model = Bigram(tok.vocab_size, seed=1)
    model.table *= 25 / 1.5
    lm = ByteLM(model, tok)
    brute = Brute(tok, model, eos_of(tok))
    for x in [b"ab a", b"a b'l", b"b"]:
        got, want = np.exp(lm.logp_next_byte(x)), brute.next_byte(x)
        ok = want > 1e-280
        assert (got[~ok] < 1e-250).all()
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-7, atol=0)
    assert np.isfinite(lm.logprob("ab ab abba a b'se", eos=False))
