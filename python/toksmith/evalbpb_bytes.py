"""Exact byte-level bits per byte: the byte mode of `toksmith eval-bpb --byte-level`.

Each document is scored as the byte-level log-probability of its bytes, `log P(doc ..)`, under the model
seen as a model over bytes (`toksmith.bytelm.ByteLM`: the canonicalised model summed over every canonical
token sequence that covers the document's bytes), conditioned on the same fixed prefix tokens as the token-level
mode. The token-level number scores only the document's own tokenization; the byte-level number also counts
every other canonical way of producing the same bytes and removes the mass that the model puts on
non-canonical token sequences, so it is the fairer number when tokenizers differ. It costs about one model row
per byte (the token-level mode needs one forward pass per document), so use it on small evaluation sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np

from toksmith.errors import BytelmError, TransplantError


def byte_level_bits(
    model: Any,
    hf_tokenizer: Any,
    docs: Sequence[str],
    prefix: str,
    device: str = "cpu",
    progress: Optional[Callable[[int], None]] = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(bits, canonical tokens, stats) of every document under `model` (a loaded causal LM or a folder) and
    its Hugging Face fast tokenizer, conditioned on `prefix`."""
    from toksmith.bytelm import ByteLM
    from toksmith.bytelm_hf import HFCausalLM

    start = list(hf_tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else []
    if not start:
        first = hf_tokenizer.bos_token_id if hf_tokenizer.bos_token_id is not None else hf_tokenizer.eos_token_id
        if first is None:
            raise TransplantError("an empty prefix needs a tokenizer with a bos or eos token")
        start = [int(first)]
    lm = HFCausalLM(model, device=device, cache_states=64)
    try:
        blm = ByteLM(lm, hf_tokenizer, eos_id=None, context=start)
    except BytelmError as e:
        raise TransplantError(f"--byte-level: {e}") from None
    bits = np.zeros(len(docs))
    ntok = np.zeros(len(docs), dtype=np.int64)
    for i, d in enumerate(docs):
        bits[i] = -blm.logprob(d, eos=False) / math.log(2)
        ntok[i] = len(blm.tokenizer.encode(d, added_tokens=False))
        if progress is not None:
            progress(1)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    stats = {"model_rows": blm.lm_rows, "rows_per_byte": blm.lm_rows / max(1, nbytes)}
    return bits, ntok, stats
