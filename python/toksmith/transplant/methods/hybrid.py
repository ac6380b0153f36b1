"""Hybrid heuristic (after TokenAdapt, arXiv 2505.09738): no donor needed.

* Local estimate: the new token's bytes re-tokenised by the old tokenizer; the pieces' rows are combined with
  weights softmax(cos(aux(token), aux(piece)) / tau) times the piece's share of the bytes.
* Global estimate: the k old tokens most similar to the new token in the auxiliary space, weighted by
  softmax(similarity / tau).
* Row = (1 - w) * local + w * global.
* Sparse estimate (ours, `w_sparse`, default 0.5): the new token's auxiliary vector coded by OMP over the
  auxiliary vectors of *every* regular old token (`k_sparse` atoms, centred), the coefficients applied to their
  rows; final row = (1 - w_sparse) * row + w_sparse * sparse. On SmolLM2 <- GPT-2 (reduced no-donor sets, MiniLM
  aux) it moved the share of the gap to the original model that the hybrid closes from 34/35/35% to 39/41/46%
  (English/code/digits; `bench/RESULTS.md`). `w_sparse=0` is the TokenAdapt-style hybrid alone.

The auxiliary space is a sentence embedder (`aux_embedder`: an HF directory such as all-MiniLM-L6-v2) run on
token strings, or (`aux_embedder=None`/`"base"`) the base model's own input embeddings, where a new token's
vector is its subword mean.
"""

from __future__ import annotations

from typing import Any

from toksmith.transplant.methods.aux import SentenceEmbedder, embed_token_strings
from toksmith.transplant.methods.baselines import mean_row
from toksmith.transplant.methods.context import Context
from toksmith.transplant.methods.pieces import old_pieces

DEFAULTS = {"tau": 0.6, "w_global": 0.3, "k_global": 8, "w_sparse": 0.5, "k_sparse": 16}


def _topk(queries: Any, keys: Any, k: int) -> tuple[Any, Any]:
    from toksmith.transplant.kernels import topk_cosine

    return topk_cosine(queries, keys, k)


def _aux_vectors(ctx: Context, ids: list[int]) -> tuple[Any, Any]:
    """(aux vectors of the new tokens `ids`, aux vectors of every old id) — unit rows."""
    import torch
    import torch.nn.functional as F

    if "aux" in ctx.options and ctx.options.get("aux_ids") == ids:
        return ctx.options["aux"]
    if ctx.aux_embedder in (None, "", "base"):
        e = ctx.old_input.to(torch.float32)
        old_aux = F.normalize(e, dim=-1)
        new = []
        for i in ids:
            p = old_pieces(ctx, i)
            new.append(e[torch.tensor(p)].mean(0) if p else e.mean(0))
        new_aux = F.normalize(torch.stack(new), dim=-1) if new else torch.zeros(0, e.shape[1])
    else:
        emb = ctx.options.get("embedder") or SentenceEmbedder(ctx.aux_embedder, device=ctx.device)
        ctx.options["embedder"] = emb
        new_aux, old_aux = embed_token_strings(emb, ctx, ids, "embedding")
    ctx.options["aux"] = (new_aux, old_aux)
    ctx.options["aux_ids"] = list(ids)
    return new_aux, old_aux


def init_hybrid(ctx: Context, ids: list[int], which: str) -> Any:
    import torch

    m = ctx.old_matrix(which).to(torch.float32)
    if not ids:
        return torch.zeros(0, m.shape[1])
    opt = {**DEFAULTS, **{k: v for k, v in ctx.options.items() if k in DEFAULTS}}
    tau, w, kg = float(opt["tau"]), float(opt["w_global"]), int(opt["k_global"])
    new_aux, old_aux = _aux_vectors(ctx, ids)
    regular = torch.zeros(ctx.old_limit, dtype=torch.bool)
    regular[torch.tensor(ctx.regular_old_ids(), dtype=torch.long)] = True
    keys = old_aux.clone()
    keys[~regular] = 0.0  # specials and gaps are never neighbours
    kg = min(kg, int(regular.sum()))
    fallback = mean_row(ctx, which).to(torch.float32)
    out = torch.empty(len(ids), m.shape[1])
    if w > 0 and kg > 0:
        sims, nbr = _topk(new_aux.to(ctx.device), keys.to(ctx.device), kg)
        sims, nbr = sims.cpu(), nbr.cpu()
        gw = torch.softmax(sims / tau, dim=-1)
        glob = torch.einsum("mk,mkd->md", gw, m[nbr])
    else:
        glob = None
    for j, i in enumerate(ids):
        p = old_pieces(ctx, i)
        if p:
            pt = torch.tensor(p, dtype=torch.long)
            sim = old_aux[pt] @ new_aux[j]
            lens = torch.tensor([max(len(ctx.old.tokens[q] or b""), 1) for q in p], dtype=torch.float32)
            lw = torch.softmax(sim / tau, dim=0) * (lens / lens.sum())
            local = (lw / lw.sum()) @ m[pt]
        else:
            local = fallback
        out[j] = local if glob is None else (1 - w) * local + w * glob[j]
    ws, ks = float(opt["w_sparse"]), min(int(opt["k_sparse"]), int(regular.sum()))
    if ws > 0 and ks > 0:
        from toksmith.transplant.methods.omp import sparse_transfer

        reg = regular.nonzero().squeeze(1)
        dev = ctx.device
        sparse = sparse_transfer(
            old_aux[reg].to(dev, torch.float32), new_aux.to(dev, torch.float32), m[reg].to(dev), ks
        ).cpu()
        out = (1 - ws) * out + ws * sparse
    return out.to(ctx.old_matrix(which).dtype)
