"""Exact byte-level probabilities from token-level language models.

`ByteLM(model, tokenizer)` turns any next-token model into a model over bytes. `model` is a callable
`model(prefixes) -> array (batch x vocab)` of next-token log-probabilities (logits are fine: rows are renormalised)
for a list of token-id prefixes; `bytelm_hf.HFCausalLM` wraps a Hugging Face causal LM that way.

What is computed (exactly; the combinatorics run in Rust, `toksmith_core::bytelm`): the language model is
*canonicalised* -- at each step its next-token distribution is restricted to the tokens that keep the sequence a
prefix of the tokenizer's own (canonical) encoding of some text, plus end of text when the sequence is the encoding
of the whole text so far, and renormalised. Every text `y` then has one token path and
`P(y) = Q(encode(y) + [EOS])`; `logp_next_byte(x)` is `log P(next byte | x)` over the 256 bytes and end of text
(index 256), summing over every canonical token sequence that covers `x` (prompts may end inside a token or
inside a UTF-8 character). `logprob(y)` equals `log Q(encode(y) + [EOS])`. A model that already gives all its
mass to canonical sequences is unchanged by the canonicalisation: then these are its exact byte-level
probabilities. `mode="beam"` instead approximates the marginal over *all* tokenizations with a beam.

Tokenizers: byte-level BPE (`tokenizer.json` with ByteLevel, tiktoken rank files) and SentencePiece-style BPE
with byte fallback (Llama 2 / Mistral / TinyLlama `tokenizer.json`). For the latter a token spells its piece
with `"▁"` read as a space and `<0xNN>` as the byte NN, and the token sequence of a text `y` is the encoding
of `" " + y` (the dummy prefix): the leading space is a fixed part of the prefix that callers never see
(`logp_next_byte`, `logprob` and `generate` take and return the text without it). This equals the
tokenizer's own `encode(y)` except for the empty text (HF: no tokens; here the encoding of `" "`) and, with
`Metaspace(prepend_scheme="first")`, for texts that start with a space (HF adds no dummy prefix there, so
its encoding decodes to a text without that space). A literal `"▁"` in a text is read as a space by the
tokenizer and never comes out of decoding: such texts have probability 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from toksmith import _core
from toksmith.bytelevel import bytes_to_unicode
from toksmith.errors import BytelmError, TokenizerFormatError
from toksmith.tokenizer import Tokenizer

ModelFn = Callable[[list[list[int]]], Any]
Text = Union[str, bytes]

# Names of end-of-text tokens, most specific first.
EOS_NAMES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<|im_end|>", "<eos>", "<|eot_id|>")
EOT = 256


def _template_prefix(text: str) -> list[int]:
    """The special-token ids a `TemplateProcessing` post-processor puts before a single text (a BOS such as
    `<s>`), else []."""
    if '"TemplateProcessing"' not in text:
        return []
    import json

    pp = json.loads(text).get("post_processor") or {}
    steps = pp.get("processors", [pp]) if pp.get("type") == "Sequence" else [pp]
    for st in steps:
        if st.get("type") != "TemplateProcessing":
            continue
        out: list[int] = []
        for piece in st.get("single", []):
            sp = piece.get("SpecialToken")
            if sp is None:
                break
            out += [int(i) for i in st.get("special_tokens", {}).get(sp.get("id"), {}).get("ids", [])]
        return out
    return []


def _from_json(text: str) -> tuple[Tokenizer, int | None]:
    tok, top = _from_json_inner(text)
    tok._bos_context = _template_prefix(text)
    return tok, top


def _from_json_inner(text: str) -> tuple[Tokenizer, int | None]:
    """Load tokenizer.json text. Some real vocabularies lack a few byte tokens (SmolLM2 has no token for 0x04
    or 0xF5..0xFF): those are added after the last id, and the model's rows are later padded with zero
    probability for them, so texts with such bytes get probability 0, as with the original tokenizer."""
    try:
        return Tokenizer.from_str(text), None
    except TokenizerFormatError as e:
        if "has no token for byte" not in str(e):
            raise
    import json

    d = json.loads(text)
    vocab = d["model"]["vocab"]
    top = max(list(vocab.values()) + [a["id"] for a in d.get("added_tokens", [])]) + 1
    k = 0
    for _b, ch in sorted(bytes_to_unicode().items()):
        if ch not in vocab:
            vocab[ch] = top + k
            k += 1
    tok = Tokenizer.from_str(json.dumps(d))
    tok._model_ids = top  # remembered when the tokenizer is passed on to ByteLM
    return tok, top


def as_tokenizer(tokenizer: Any) -> Tokenizer:
    """A toksmith `Tokenizer` from a `Tokenizer`, a path (`tokenizer.json`, a folder holding one, a `.tiktoken`
    file) or a Hugging Face tokenizer object (`PreTrainedTokenizerFast`, `tokenizers.Tokenizer`)."""
    return _as_tokenizer(tokenizer)[0]


def _as_tokenizer(tokenizer: Any) -> tuple[Tokenizer, int | None]:
    """(tokenizer, number of ids the model knows if byte tokens had to be added, else None)."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer, getattr(tokenizer, "_model_ids", None)
    try:
        if isinstance(tokenizer, (str, os.PathLike)):
            p = Path(tokenizer)
            if p.suffix == ".tiktoken":
                return Tokenizer.from_tiktoken(p), None
            if p.is_dir():
                p = p / "tokenizer.json"
            if not p.exists():
                raise BytelmError(f"unsupported tokenizer: no such file {p}")
            return _from_json(p.read_text(encoding="utf-8"))
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None and hasattr(backend, "to_str"):
            return _from_json(backend.to_str())
        if hasattr(tokenizer, "to_str"):
            return _from_json(tokenizer.to_str())
    except (TokenizerFormatError, ValueError, KeyError) as e:
        raise BytelmError(f"unsupported tokenizer: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    raise BytelmError(
        f"unsupported tokenizer type {type(tokenizer).__name__}: pass a toksmith Tokenizer, a tokenizer.json or "
        ".tiktoken path, or a Hugging Face fast tokenizer of a byte-level BPE or a byte-fallback BPE"
    )


def _find_eos(tok: Tokenizer, hf: Any = None) -> int | None:
    hf_eos = getattr(hf, "eos_token_id", None)
    if isinstance(hf_eos, int):
        return hf_eos
    added = {content: i for content, i, _special in tok.added_tokens}
    for name in EOS_NAMES:
        if name in added:
            return added[name]
    return None


def _as_bytes(text: Text) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8")
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise TypeError(f"expected str or bytes, got {type(text).__name__}")


def _log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


class ByteLM:
    """A token-level language model seen as a model over bytes (see the module docs).

    `eos_id`: the end-of-text token (`"auto"`: the tokenizer's `<|endoftext|>`, `</s>`, ... if any; `None`:
    texts never end). `context`: token ids put before every text (a BOS token, a chat template ending in a
    special token); the text is tokenized on its own after them. `"auto"`: the special tokens the tokenizer's
    `TemplateProcessing` post-processor puts before a text (Llama's `<s>`), if any. `mode`: `"canonical"`
    (exact) or `"beam"` (approximate marginal over all tokenizations, `beam` states). `prune` > 0 drops
    covering states below that fraction of the best one (faster, approximate). `max_batch`: prefixes per model
    call.

    `fast_forward` (default on): when conditioning on a new prompt (`logp_next_byte`, `generate`), the prompt's
    head up to its last stable pre-token chunk start is tokenized canonically and given to the model as context,
    so only the tail is followed byte by byte (about one model row per tail byte instead of one per prompt
    byte). The next-byte distributions are exactly the same (every cover encoding shares the head's tokens, whose
    probability cancels); `logprob` never fast-forwards, since it needs the head's probability too.
    """

    def __init__(
        self,
        model: ModelFn,
        tokenizer: Any,
        *,
        eos_id: int | str | None = "auto",
        context: Sequence[int] | str = "auto",
        mode: str = "canonical",
        beam: int = 16,
        prune: float = 0.0,
        max_batch: int = 64,
        fast_forward: bool = True,
    ):
        if mode not in ("canonical", "beam"):
            raise ValueError(f"mode must be 'canonical' or 'beam', not {mode!r}")
        if not callable(model):
            raise BytelmError(f"model must be callable (prefixes -> log-probs), got {type(model).__name__}")
        self.tokenizer, self._model_ids = _as_tokenizer(tokenizer)
        self.eos_id = _find_eos(self.tokenizer, tokenizer) if eos_id == "auto" else eos_id
        if isinstance(context, str):
            if context != "auto":
                raise ValueError(f"context must be token ids or 'auto', not {context!r}")
            context = getattr(self.tokenizer, "_bos_context", [])
        self.context = [int(t) for t in context]
        self.model = model
        self.mode = mode
        self.max_batch = max(1, int(max_batch))
        self._cover = _core.ByteCover(self.tokenizer._core, self.eos_id, mode == "canonical", beam, prune)
        # Bytes every token sequence spells before the text (SentencePiece's dummy-prefix space): held by the
        # covering structure as a fixed part of the prefix, hidden from callers.
        self._prefix = bytes(self._cover.stream_prefix)
        self._prefix_lp = 0.0
        self.vocab_size = self._cover.vocab_size
        need = self._model_ids or self.vocab_size
        declared = getattr(model, "vocab_size", None)
        if isinstance(declared, int) and declared < need:
            raise BytelmError(
                f"model/tokenizer vocabulary mismatch: the model has {declared} ids, the tokenizer {need}"
            )
        for t in self.context:
            if not 0 <= t < self.vocab_size:
                raise BytelmError(f"context token id {t} is outside the vocabulary (0..{self.vocab_size - 1})")
        self.fast_forward = bool(fast_forward)
        # Tokens of a prompt's stable head (see `_goto`): fed to the model after `context`, not tracked by the
        # covering structure, whose text is then the prompt's tail.
        self._ff_tokens: list[int] = []
        self._ff_text = b""
        self.lm_calls = 0
        self.lm_rows = 0

    # ----- the covering structure ----------------------------------------------------------------------
    def _rows(self, prefixes: list[list[int]]) -> np.ndarray:
        out = np.asarray(self.model(prefixes), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != len(prefixes):
            raise BytelmError(
                f"the model must return an array of shape (batch={len(prefixes)}, vocab), got {out.shape}"
            )
        need = self._model_ids or self.vocab_size
        if out.shape[1] < need:
            raise BytelmError(
                f"model/tokenizer vocabulary mismatch: the model returns {out.shape[1]} log-probabilities per "
                f"row, the tokenizer has {need} ids"
            )
        if out.shape[1] < self.vocab_size:  # byte tokens the model does not know: probability 0
            pad = np.full((out.shape[0], self.vocab_size - out.shape[1]), -np.inf)
            out = np.concatenate([out, pad], axis=1)
        self.lm_calls += 1
        self.lm_rows += len(prefixes)
        return out

    def _fill(self) -> None:
        """Run the model on every covering state that waits for its next-token distribution."""
        pend = self._cover.pending()
        for i in range(0, len(pend), self.max_batch):
            part = pend[i : i + self.max_batch]
            head = self.context + self._ff_tokens
            rows = self._rows([head + self._cover.tokens(s) for s in part])
            top = rows.max(axis=1, keepdims=True)
            top[~np.isfinite(top)] = 0.0
            with np.errstate(invalid="ignore", over="ignore"):
                probs = np.exp(rows - top)
            for s, p in zip(part, probs):
                self._cover.provide(s, np.ascontiguousarray(p, dtype=np.float64).tobytes())

    def _stable_head(self, prefix: bytes) -> tuple[bytes, list[int]]:
        """The longest head of `prefix` ending at a pre-token chunk start that stays one whatever follows,
        with its canonical tokens (`(b"", [])` when there is none or when re-encoding disagrees)."""
        try:
            text = prefix.decode("utf-8")
        except UnicodeDecodeError as e:
            text = prefix[: e.start].decode("utf-8")
        cut = self._cover.stable_start(text)
        if cut <= 0:
            return b"", []
        head = prefix[:cut]
        ids = self._cover.encode_stream(head.decode("utf-8"))
        full = self._cover.encode_stream(text)
        if full[: len(ids)] != ids:  # the head's tokens are not those of the whole prompt: do not skip
            return b"", []
        return head, [int(t) for t in ids]

    def _goto(self, prefix: bytes, fast_forward: bool = False) -> None:
        """Make the text `prefix`, extending the current text when it is a prefix of `prefix`. With
        `fast_forward`, a fresh start skips the prompt's stable head (conditional distributions only)."""
        prefix = self._prefix + prefix
        cur = self._ff_text + self._cover.text
        extend = prefix.startswith(cur) and len(cur) >= len(self._prefix)
        if extend and self._ff_text and not fast_forward:
            extend = False  # the head's probability is needed: start over without skipping
        if extend and fast_forward and self.fast_forward and len(prefix) - len(cur) > 32:
            extend = False  # a long new stretch: skipping its stable head is cheaper than following it
        if not extend:
            self._ff_text, self._ff_tokens = b"", []
            if fast_forward and self.fast_forward:
                self._ff_text, self._ff_tokens = self._stable_head(prefix)
            self._cover.reset(tail=bool(self._ff_text))
            cur = self._ff_text
            self._fill()
            # the hidden stream prefix (probability 1 in the canonical mode)
            self._prefix_lp = 0.0
            for b in prefix[len(cur) : len(self._prefix)]:
                self._prefix_lp += self._cover.push(b)
                self._fill()
            cur = prefix[: max(len(cur), len(self._prefix))]
        self._fill()
        for b in prefix[len(cur) :]:
            self._cover.push(b)
            self._fill()

    def _push(self, b: int) -> float:
        lp = self._cover.push(b)
        self._fill()
        return lp

    def _next(self) -> np.ndarray:
        return np.asarray(self._cover.next_byte(), dtype=np.float64)

    # ----- public API -----------------------------------------------------------------------------------
    def logp_next_byte(self, prefix: Text) -> np.ndarray:
        """log P(next byte | prefix): 257 values, the 256 bytes then end of text (index 256)."""
        self._goto(_as_bytes(prefix), fast_forward=True)
        return _log(self._next())

    def logprob(self, text: Text, eos: bool = True) -> float:
        """Byte-level log-likelihood (natural log) of `text`; with `eos`, of `text` being the whole text, else
        of `text` being a prefix."""
        data = _as_bytes(text)
        self._goto(data)
        lp = self._log_prefix
        if eos:
            lp += float(_log(self._next()[EOT]))
        return float(lp)

    def generate(
        self,
        prompt: Text = b"",
        max_bytes: int = 64,
        greedy: bool = True,
        temperature: float = 1.0,
        seed: int | None = None,
        stop_at_eot: bool = True,
    ) -> Text:
        """Continue `prompt` byte by byte (greedy, or sampling at `temperature`). Returns the continuation, as
        `str` for a `str` prompt (finishing a started UTF-8 character) else `bytes`."""
        rng = np.random.default_rng(seed)
        self._goto(_as_bytes(prompt), fast_forward=True)
        out = bytearray()
        as_str = isinstance(prompt, str)
        while len(out) < max_bytes or (as_str and _incomplete_utf8(out)):
            p = self._next()
            if not stop_at_eot:
                p[EOT] = 0.0
            b = _choose(p, greedy, temperature, rng)
            if b == EOT or b < 0:
                break
            self._push(b)
            out.append(b)
        return out.decode("utf-8", errors="replace") if as_str else bytes(out)

    @property
    def text(self) -> bytes:
        """The text currently held: the fast-forwarded head (if any) and the covering structure's text,
        without the hidden stream prefix."""
        return (self._ff_text + self._cover.text)[len(self._prefix) :]

    @property
    def _log_prefix(self) -> float:
        """log P(the text so far is a prefix), given the hidden stream prefix."""
        return self._cover.log_prefix_prob - self._prefix_lp

    def stats(self) -> dict:
        """Rust-side counters and the number of model calls/rows."""
        d = dict(self._cover.stats())
        d.update(lm_calls=self.lm_calls, lm_rows=self.lm_rows)
        return d


def _incomplete_utf8(b: bytearray) -> bool:
    try:
        b.decode("utf-8")
        return False
    except UnicodeDecodeError as e:
        return e.end == len(b) and e.reason.startswith("unexpected end")


def _choose(p: np.ndarray, greedy: bool, temperature: float, rng: np.random.Generator) -> int:
    total = p.sum()
    if not total > 0:
        return -1
    if greedy or temperature <= 0:
        return int(np.argmax(p))
    q = p ** (1.0 / temperature)
    q /= q.sum()
    return int(rng.choice(len(q), p=q))


ENSEMBLE_MODES = ("mixture", "interpolate", "product")


class ByteEnsemble:
    """Models with different tokenizers combined at the byte level.

    `mode="mixture"`: the mixture `sum_k w_k P_k` of the members' distributions over texts; its next-byte
    distribution weights each member by its posterior `w_k P_k(prefix)` (exact; `logprob` is
    `log sum_k w_k P_k(text)`). `mode="interpolate"`: fixed weights at every byte,
    `P(b | x) = sum_k w_k P_k(b | x)` (linear interpolation of the next-byte distributions, the usual way to
    ensemble models with different vocabularies). `mode="product"`: a product of experts,
    `P(b | x) ~ prod_k P_k(b | x) ** w_k`, normalised at every byte.
    """

    def __init__(self, members: Sequence[ByteLM], weights: Sequence[float] | None = None, mode: str = "mixture"):
        if mode not in ENSEMBLE_MODES:
            raise ValueError(f"mode must be one of {', '.join(ENSEMBLE_MODES)}, not {mode!r}")
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        w = np.ones(len(self.members)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.members),) or (w < 0).any() or not w.sum() > 0:
            raise ValueError("weights: one non-negative number per member, not all zero")
        self.weights = w / w.sum() if mode in ("mixture", "interpolate") else w
        self.mode = mode

    def _goto(self, prefix: bytes, fast_forward: bool = False) -> None:
        # The mixture's posterior weights need each member's whole-prefix probability: no fast-forward there.
        ff = fast_forward and self.mode != "mixture"
        for m in self.members:
            m._goto(prefix, fast_forward=ff)

    def _next(self) -> np.ndarray:
        ps = np.stack([m._next() for m in self.members])
        if self.mode == "mixture":
            lw = _log(self.weights) + np.array([m._log_prefix for m in self.members])
            lw -= lw.max()
            post = np.exp(lw)
            post /= post.sum()
            p = post @ ps
        elif self.mode == "interpolate":
            p = self.weights @ ps
        else:
            lp = (self.weights[:, None] * _log(ps)).sum(axis=0)
            if not np.isfinite(lp).any():
                return np.zeros(257)
            p = np.exp(lp - lp.max())
        return p / p.sum()

    def logp_next_byte(self, prefix: Text) -> np.ndarray:
        self._goto(_as_bytes(prefix), fast_forward=True)
        return _log(self._next())

    def logprob(self, text: Text, eos: bool = True) -> float:
        data = _as_bytes(text)
        if self.mode == "mixture":
            lps = []
            for m in self.members:
                try:
                    lps.append(m.logprob(data, eos=eos))
                except BytelmError:
                    lps.append(-np.inf)
            v = _log(self.weights) + np.array(lps)
            top = v.max()
            return float(top + np.log(np.exp(v - top).sum())) if np.isfinite(top) else float("-inf")
        self._goto(b"")
        total = 0.0
        for b in data:
            p = self._next()
            total += float(_log(p[b]))
            self._push_all(b)
        if eos:
            total += float(_log(self._next()[EOT]))
        return total

    def _push_all(self, b: int) -> None:
        for m in self.members:
            m._push(b)

    def generate(
        self,
        prompt: Text = b"",
        max_bytes: int = 64,
        greedy: bool = True,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> Text:
        rng = np.random.default_rng(seed)
        self._goto(_as_bytes(prompt), fast_forward=True)
        out = bytearray()
        as_str = isinstance(prompt, str)
        while len(out) < max_bytes or (as_str and _incomplete_utf8(out)):
            b = _choose(self._next(), greedy, temperature, rng)
            if b == EOT or b < 0:
                break
            self._push_all(b)
            out.append(b)
        return out.decode("utf-8", errors="replace") if as_str else bytes(out)


def ensemble(members: Sequence[ByteLM], weights: Sequence[float] | None = None, mode: str = "mixture") -> ByteEnsemble:
    """Combine byte-level models (any tokenizers): `mode="mixture"`, `"interpolate"` or `"product"` (see
    `ByteEnsemble`)."""
    return ByteEnsemble(members, weights, mode)


__all__ = ["EOT", "ByteEnsemble", "ByteLM", "as_tokenizer", "ensemble"]
