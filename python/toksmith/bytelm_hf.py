"""Hugging Face causal language models as next-token models for `toksmith.bytelm.ByteLM`.

Needs torch and transformers (`pip install 'toksmith[lm]'`); imported lazily, so `import toksmith` and
`toksmith.bytelm` work without them.

`HFCausalLM(model_or_dir)` is a callable `prefixes -> log-probabilities (batch x vocab)`. Covering states
grow one token at a time, so it keeps the key/value cache of recent prefixes and runs a child state as one new
token on a copy of its parent's cache (CPU or CUDA). `naive_generate` and `token_healing_generate` are the two
token-level baselines of `toksmith complete`.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toksmith.errors import BytelmError

LM_EXTRA = "the byte-level language model needs torch and transformers: pip install 'toksmith[lm]'"


def require_lm() -> tuple[Any, Any]:
    """(torch, transformers), or a one-line BytelmError when they are missing."""
    try:
        import torch
        import transformers
    except (ImportError, OSError) as e:  # OSError: a broken torch install (missing shared libraries)
        detail = "" if isinstance(e, ImportError) else f" ({str(e).splitlines()[0]})"
        raise BytelmError(LM_EXTRA + detail) from None
    return torch, transformers


class HFCausalLM:
    """A Hugging Face causal LM (a loaded model or a model directory) as `prefixes -> next-token log-probs`.

    `cache_states`: how many prefixes keep their key/value cache (0 disables reuse: every prefix is run in
    full). `bos_id`: the token run for an empty prefix (default: the model config's BOS).
    """

    def __init__(
        self,
        model: Any,
        device: str | None = None,
        dtype: Any = None,
        cache_states: int = 64,
        bos_id: int | None = None,
    ):
        torch, transformers = require_lm()
        self.torch = torch
        if isinstance(model, (str, os.PathLike)):
            path = Path(model)
            extra: dict[str, Any] = {}
            ggufs = sorted(path.glob("*.gguf")) if path.is_dir() else []
            if ggufs and not (path / "config.json").exists():  # a folder holding only a GGUF file
                extra["gguf_file"] = ggufs[0].name
            try:
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    str(model), dtype=dtype or torch.float32, **extra
                )
            except (OSError, ValueError) as e:
                raise BytelmError(f"cannot load a causal LM from {model}: {str(e).splitlines()[0]}") from None
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        cfg = self.model.config
        out = self.model.get_output_embeddings()
        self.vocab_size = int(out.weight.shape[0]) if out is not None else int(cfg.vocab_size)
        self.bos_id = bos_id if bos_id is not None else getattr(cfg, "bos_token_id", None)
        self.cache_states = cache_states
        # transformers 5 calls the key/value cache `cache` (`past_key_values` before).
        params = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self.forward_calls = 0
        self.tokens_run = 0

    def _run(self, ids: list[int], past: Any) -> tuple[np.ndarray, Any]:
        torch = self.torch
        x = torch.tensor([ids], device=self.device)
        with torch.no_grad():
            out = self.model(input_ids=x, use_cache=self.cache_states > 0, **{self._cache_kw: past})
        self.forward_calls += 1
        self.tokens_run += len(ids)
        logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        new = getattr(out, "cache", None)
        if new is None:
            new = getattr(out, "past_key_values", None)
        return logp.cpu().numpy().astype(np.float64), new

    def _one(self, prefix: Sequence[int]) -> np.ndarray:
        key = tuple(int(t) for t in prefix)
        if not key:
            if self.bos_id is None:
                raise BytelmError("the model needs a first token: pass context=[BOS id] to ByteLM")
            key = (int(self.bos_id),)
        parent = self._cache.get(key[:-1]) if self.cache_states > 0 else None
        if parent is not None:
            self._cache.move_to_end(key[:-1])
            logp, past = self._run([key[-1]], copy.deepcopy(parent))
        else:
            logp, past = self._run(list(key), None)
        if self.cache_states > 0 and past is not None:
            self._cache[key] = past
            while len(self._cache) > self.cache_states:
                self._cache.popitem(last=False)
        return logp

    def __call__(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        return np.stack([self._one(p) for p in prefixes])


def naive_generate(lm: HFCausalLM, ids: list[int], max_tokens: int, eos_id: int | None) -> list[int]:
    """Greedy token decoding after the prompt's tokens."""
    out: list[int] = []
    for _ in range(max_tokens):
        t = int(np.argmax(lm([ids + out])[0]))
        if t == eos_id:
            break
        out.append(t)
    return out


def token_healing_generate(
    lm: HFCausalLM, ids: list[int], token_bytes: list[bytes | None], max_tokens: int, eos_id: int | None
) -> tuple[list[int], bytes]:
    """Token healing: drop the prompt's last token and make the first new token start with its bytes.
    Returns (new tokens, the bytes given back)."""
    if not ids:
        return naive_generate(lm, ids, max_tokens, eos_id), b""
    back = token_bytes[ids[-1]] or b""
    base = ids[:-1]
    row = lm([base])[0]
    allowed = np.array([(b or b"").startswith(back) for b in token_bytes] + [False] * (len(row) - len(token_bytes)))
    first = int(np.argmax(np.where(allowed[: len(row)], row, -np.inf)))
    return [first] + naive_generate(lm, base + [first], max_tokens - 1, eos_id), back
