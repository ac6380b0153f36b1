"""Baselines: zero rows, the mean row, and the subword mean (FVT: the mean of the old pieces' rows)."""

from __future__ import annotations

from typing import Any

from toksmith.transplant.methods.context import Context
from toksmith.transplant.methods.pieces import old_pieces


def mean_row(ctx: Context, which: str) -> Any:
    import torch

    m = ctx.old_matrix(which)
    ids = torch.tensor(ctx.regular_old_ids(), dtype=torch.long)
    return m[ids].mean(0) if len(ids) else m.mean(0)


def init_zero(ctx: Context, ids: list[int], which: str) -> Any:
    import torch

    m = ctx.old_matrix(which)
    return torch.zeros(len(ids), m.shape[1], dtype=m.dtype)


def init_mean(ctx: Context, ids: list[int], which: str) -> Any:
    return mean_row(ctx, which).unsqueeze(0).repeat(len(ids), 1)


def init_subword_mean(ctx: Context, ids: list[int], which: str) -> Any:
    import torch

    m = ctx.old_matrix(which)
    fallback = mean_row(ctx, which)
    rows = []
    for i in ids:
        p = old_pieces(ctx, i)
        rows.append(m[torch.tensor(p, dtype=torch.long)].mean(0) if p else fallback)
    return torch.stack(rows) if rows else torch.zeros(0, m.shape[1], dtype=m.dtype)
