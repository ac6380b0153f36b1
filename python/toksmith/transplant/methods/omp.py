"""OMP (Goddard & Fernandes Neto 2025): write each new token's donor row as a sparse combination of k anchor
tokens' donor rows (Orthogonal Matching Pursuit), then apply the same coefficients to the anchors' base rows.

The donor natively uses the new tokenizer: its row i is new token i. The input embeddings use the donor's input
embeddings; an untied head uses the donor's head when it has one (an encoder donor such as BERT has none, and
its input embeddings serve for both).

Centring (default; `center=False` is the plain form of the paper and of mergekit-tokensurgeon): the anchors' mean
row is subtracted in the donor space (dictionary and targets) and in the base space before coding, and the base
mean is added back, so each new row is the base mean plus a sparse combination of anchor offsets. Embedding
matrices carry a large common component that plain sparse codes transfer badly: on SmolLM2 <- MiniLM WordPiece
(100 FLORES English sentences, BERT-normalised, k=8) plain OMP scored 1.968 bits/byte and centred OMP 1.461
(`bench/RESULTS.md`, transplant section).
"""

from __future__ import annotations

from typing import Any

from toksmith.errors import TransplantError
from toksmith.transplant.methods.context import Context


def _batch_omp(dictionary: Any, targets: Any, k: int) -> tuple[Any, Any]:
    from toksmith.transplant.kernels import batch_omp

    return batch_omp(dictionary, targets, k)


def init_omp(ctx: Context, ids: list[int], which: str) -> Any:
    import torch

    donor = ctx.donor_head if which == "head" and ctx.donor_head is not None else ctx.donor_input
    if donor is None:
        raise TransplantError("method omp needs a donor model that uses the new tokenizer (--donor)")
    m = ctx.old_matrix(which)
    if not ids:
        return torch.zeros(0, m.shape[1], dtype=m.dtype)
    n_donor = int(donor.shape[0])
    anchors = [(a, b) for a, b in ctx.matching.pairs if a < n_donor]
    if ctx.k > len(anchors):
        raise TransplantError(f"k={ctx.k} is larger than the anchor set ({len(anchors)} shared tokens)")
    if ctx.k < 1:
        raise TransplantError(f"k must be at least 1, not {ctx.k}")
    have = [i for i in ids if i < n_donor]
    out = torch.zeros(len(ids), m.shape[1], dtype=m.dtype)
    if have:
        dev = ctx.device
        a_new = torch.tensor([a for a, _ in anchors], dtype=torch.long)
        a_old = torch.tensor([b for _, b in anchors], dtype=torch.long)
        dictionary = donor[a_new].to(dev, torch.float32)
        targets = donor[torch.tensor(have, dtype=torch.long)].to(dev, torch.float32)
        base_atoms = m[a_old].to(dev, torch.float32)  # [n_anchors, d]
        center = bool(ctx.options.get("center", True))
        if center:  # code each row relative to the anchors' mean row, in both spaces
            d_mean, b_mean = dictionary.mean(0), base_atoms.mean(0)
            dictionary, targets, base_atoms = dictionary - d_mean, targets - d_mean, base_atoms - b_mean
        idx, coef = _batch_omp(dictionary, targets, ctx.k)
        rows = torch.einsum("mk,mkd->md", coef.to(torch.float32), base_atoms[idx])
        if center:
            rows = rows + b_mean
        pos = {i: j for j, i in enumerate(ids)}
        out[torch.tensor([pos[i] for i in have], dtype=torch.long)] = rows.to("cpu", m.dtype)
    missing = [j for j, i in enumerate(ids) if i >= n_donor]
    if missing:  # new ids past the donor's rows (added control tokens): the mean row
        from toksmith.transplant.methods.baselines import mean_row

        out[torch.tensor(missing, dtype=torch.long)] = mean_row(ctx, which).to(m.dtype)
    return out
