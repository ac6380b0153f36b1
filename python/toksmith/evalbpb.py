"""Corpus-level bits per byte of a Hugging Face causal LM with its own tokenizer.

BPB = (sum over scored tokens of -log2 p(token | context)) / (UTF-8 bytes of the scored text). Unlike per-token
perplexity it compares models with different tokenizers fairly. Each document is tokenised on its own and
conditioned on a fixed prefix (scored tokens are the document's only); the confidence interval is a bootstrap
over documents (resampling documents, the ratio of sums each time).

Needs torch and transformers (`pip install 'toksmith[transplant]'`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from toksmith.errors import TransplantError

DEFAULT_PREFIX = "The following is a text.\n\n"


@dataclass
class BPBResult:
    bpb: float
    ci_low: float
    ci_high: float
    tokens: int
    bytes: int
    documents: int
    bits: float

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens if self.tokens else float("nan")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bytes_per_token"] = self.bytes_per_token
        return d


def load_documents(
    paths: Sequence[str | os.PathLike],
    lines_per_doc: int = 10,
    chars_per_doc: Optional[int] = None,
    max_lines: Optional[int] = None,
    max_chars: Optional[int] = None,
    normalize: str = "none",
) -> list[str]:
    """Documents from text files: groups of `lines_per_doc` lines joined by a space (the first `max_lines`
    lines of each file), or with `chars_per_doc` consecutive chunks of that many characters (of the first
    `max_chars` characters). `normalize="bert"` applies BERT's uncased normaliser first (see
    `toksmith.transplant.vocab.bert_normalize`)."""
    if normalize not in ("none", "bert"):
        raise TransplantError(f"unknown normalisation {normalize!r}: none or bert")
    if lines_per_doc < 1 or (chars_per_doc is not None and chars_per_doc < 1):
        raise TransplantError("documents need at least one line / character")
    docs: list[str] = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise TransplantError(f"no such text file: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise TransplantError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        if chars_per_doc is not None:
            text = text[:max_chars] if max_chars is not None else text
            chunks = [text[i : i + chars_per_doc] for i in range(0, len(text), chars_per_doc)]
        else:
            lines = [ln for ln in text.split("\n") if ln.strip()]
            lines = lines[:max_lines] if max_lines is not None else lines
            chunks = [" ".join(lines[i : i + lines_per_doc]) for i in range(0, len(lines), lines_per_doc)]
        if normalize == "bert":
            from toksmith.transplant.vocab import bert_normalize

            chunks = [bert_normalize(c) for c in chunks]
        docs.extend(c for c in chunks if c)
    if not docs:
        raise TransplantError("no text to evaluate")
    return docs


def bootstrap_ci(bits: np.ndarray, nbytes: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of sum(bits)/sum(bytes) over documents resampled with replacement."""
    if len(bits) < 2 or n < 1:
        v = float(bits.sum() / max(nbytes.sum(), 1))
        return v, v
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(bits), size=(n, len(bits)))
    ratios = bits[idx].sum(1) / np.maximum(nbytes[idx].sum(1), 1)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def document_bits(
    model: Any,
    tok: Any,
    docs: Sequence[str],
    prefix: str = DEFAULT_PREFIX,
    device: str = "cpu",
    batch_tokens: int = 4096,
    progress: Optional[Callable[[int], None]] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(bits, scored tokens) of every document under `model`, conditioned on `prefix`."""
    import torch

    start = tok(prefix, add_special_tokens=False)["input_ids"] if prefix else []
    if not start:
        first = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if first is None:
            raise TransplantError("an empty prefix needs a tokenizer with a bos or eos token")
        start = [int(first)]
    seqs = [list(start) + list(tok(d, add_special_tokens=False)["input_ids"]) for d in docs]
    n_rows = int(model.get_input_embeddings().weight.shape[0])
    limit = getattr(model.config, "max_position_embeddings", None)
    for s in seqs:
        if max(s) >= n_rows:
            raise TransplantError(f"the tokenizer produced id {max(s)} but the model has {n_rows} rows")
        if limit and len(s) > limit:
            raise TransplantError(f"a document has {len(s)} tokens, more than the model's {limit}: shorter documents")
    bits = np.zeros(len(docs))
    ntok = np.array([len(s) - len(start) for s in seqs])
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    pos = 0
    with torch.inference_mode():
        while pos < len(order):
            width = len(seqs[order[pos]])
            take = max(1, batch_tokens // max(width, 1))
            batch = order[pos : pos + take]
            pos += len(batch)
            x = torch.zeros(len(batch), width, dtype=torch.long)
            mask = torch.zeros(len(batch), width, dtype=torch.long)
            for r, i in enumerate(batch):
                x[r, : len(seqs[i])] = torch.tensor(seqs[i])
                mask[r, : len(seqs[i])] = 1
            logits = model(input_ids=x.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            tgt = x[:, 1:].to(device)
            nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)  # [B, width-1]
            for r, i in enumerate(batch):
                lo, hi = len(start) - 1, len(seqs[i]) - 1
                bits[i] = float(nll[r, lo:hi].double().sum()) / math.log(2)
            if progress is not None:
                progress(len(batch))
    return bits, ntok


def eval_bpb(
    model: Any,
    docs: Sequence[str],
    tokenizer: Any = None,
    prefix: str = DEFAULT_PREFIX,
    device: str = "cpu",
    batch_tokens: int = 4096,
    bootstrap: int = 1000,
    seed: int = 0,
    progress: Optional[Callable[[int], None]] = None,
    byte_level: bool = False,
) -> BPBResult:
    """Bits per byte of `docs` under `model` (a loaded causal LM or an HF directory) and its tokenizer (default:
    the model directory's). `byte_level=True` scores each document's bytes exactly under the model seen as a
    byte-level model (`toksmith.evalbpb_bytes`; about one model row per byte, for small evaluation sets)."""
    from toksmith.transplant.model_io import load_causal_lm, load_tokenizer

    if isinstance(model, (str, os.PathLike)):
        tokenizer = tokenizer if tokenizer is not None else model
        model = load_causal_lm(model, device=device)
    if tokenizer is None:
        raise TransplantError("pass the tokenizer of a loaded model")
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else tokenizer
    if byte_level:
        from toksmith.evalbpb_bytes import byte_level_bits

        bits, ntok, _stats = byte_level_bits(model, tok, docs, prefix, device, progress)
    else:
        bits, ntok = document_bits(model, tok, docs, prefix, device, batch_tokens, progress)
    nbytes = np.array([len(d.encode("utf-8")) for d in docs], dtype=np.float64)
    lo, hi = bootstrap_ci(bits, nbytes, bootstrap, seed)
    return BPBResult(
        bpb=float(bits.sum() / nbytes.sum()),
        ci_low=lo,
        ci_high=hi,
        tokens=int(ntok.sum()),
        bytes=int(nbytes.sum()),
        documents=len(docs),
        bits=float(bits.sum()),
    )
