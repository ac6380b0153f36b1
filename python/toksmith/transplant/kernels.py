"""Batched torch kernels for the vocabulary transplant: Batch-OMP and tiled top-k cosine search.

Both run wherever the input tensors live (CPU or CUDA) with plain torch operations, and are tiled so that memory
stays bounded by the tile sizes rather than by the number of targets / queries.

`batch_omp` is Orthogonal Matching Pursuit (pick the atom most correlated with the residual, re-fit all selected
atoms by least squares, repeat k times) for every target row over one shared dictionary D (n atoms × d), computed
the Batch-OMP way (Rubinstein, Zibulevsky & Elad 2008): the least-squares coefficients come from a Cholesky factor
of G[I, I] (G = D Dᵀ) grown by one row per step (s² work instead of a fresh d·s² least-squares solve and no
re-projection of the residual onto an orthonormal basis), and the correlations with all atoms can be updated in atom
space, ``alpha = alpha0 - G[:, I] @ gamma`` (n·s multiply-adds per step instead of n·d for ``D @ residual``).
That second saving is a FLOP saving but a memory-bound one (each target streams its own s rows of G), while
``D @ residual`` is a dense GEMM; so the first `gram_steps` steps use the Gram update and the rest the GEMM
(`default_gram_steps` picks the split from a simple cost model, 0 for small d). Both give the same numbers up to
rounding.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from toksmith.errors import TransplantError

__all__ = ["batch_omp", "default_gram_steps", "default_workspace_bytes", "topk_cosine"]

_GIB = 1 << 30


def _check_matrix(name: str, t: object) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TransplantError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != 2:
        raise TransplantError(f"{name} must be a 2-D tensor, got shape {tuple(t.shape)}")
    if not (t.is_floating_point()):
        raise TransplantError(f"{name} must be a floating-point tensor, got {t.dtype}")
    return t


def _work_dtype(a: torch.Tensor, b: torch.Tensor) -> torch.dtype:
    dtype = torch.promote_types(a.dtype, b.dtype)
    # Half precision is not enough for Cholesky updates / cosine ranking: compute in float32.
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _check_pair(a_name: str, a: object, b_name: str, b: object) -> tuple[torch.Tensor, torch.Tensor]:
    a_t = _check_matrix(a_name, a)
    b_t = _check_matrix(b_name, b)
    if a_t.shape[1] != b_t.shape[1]:
        raise TransplantError(
            f"{a_name} and {b_name} must have the same number of columns, got {a_t.shape[1]} and {b_t.shape[1]}"
        )
    if a_t.device != b_t.device:
        raise TransplantError(f"{a_name} is on {a_t.device} but {b_name} is on {b_t.device}")
    for name, t in ((a_name, a_t), (b_name, b_t)):
        if t.numel() and not bool(torch.isfinite(t).all()):
            raise TransplantError(f"{name} contains NaN or infinite values")
    return a_t, b_t


#: Assumed machine balance: flops a dense GEMM does in the time the Gram update streams one element of G (with its
#: gathers and bookkeeping). On the 2-core CPU VM of bench/RESULTS.md, 24 Gram steps at d = 384 were slower than the
#: GEMM steps they replaced, which puts it above 60; float32 GEMM vs memory bandwidth on an H100 is about 60 too.
FLOPS_PER_READ = 64


def default_gram_steps(k: int, dim: int, n_atoms: int, n_targets: int) -> int:
    """How many OMP steps update the correlations from the Gram matrix before switching to the residual GEMM.

    Step s of the Gram update streams s rows of G per target (memory-bound); the GEMM update costs 2·d flops per
    atom and target (compute-bound). With `FLOPS_PER_READ` = ρ the Gram update is cheaper while s < 2d/ρ, and it
    is used only when the saving over all targets is at least four times the 2·n²·d flops of computing G;
    otherwise 0 (no Gram matrix at all). For d = 384 that is at most 12 of 64 steps, and none below about 0.73
    targets per atom; for d = 4096 every step from about 0.09 targets per atom."""
    s_star = min(k - 1, (2 * dim) // FLOPS_PER_READ)
    if s_star <= 0:
        return 0
    saving = n_targets * n_atoms * (2 * dim * s_star - FLOPS_PER_READ * s_star * (s_star + 1) / 2)
    # G must pay four times over: it also costs n² memory, and a small predicted gain is within the model's error.
    return s_star if saving > 4 * (2 * n_atoms * n_atoms * dim) else 0


def default_workspace_bytes(device: torch.device) -> int:
    """Tile workspace for `batch_omp`: 1 GiB on CPU; on CUDA a quarter of the device's free memory, between 1 and
    16 GiB. On an H100 the 128k-target × 30k-atom × 4096-dim case (bench/RESULTS.md section 6) took 65 s with 1 GiB
    tiles (134 targets each: a step's ~25 kernel launches and host syncs cost more than its memory traffic)."""
    if device.type != "cuda":
        return 1 * _GIB
    free, _total = torch.cuda.mem_get_info(device)
    return int(min(16 * _GIB, max(1 * _GIB, free // 4)))


def batch_omp(
    dictionary: torch.Tensor,
    targets: torch.Tensor,
    k: int,
    *,
    chunk_size: int = 2048,
    gram_steps: Optional[int] = None,
    max_gram_bytes: int = 4 * _GIB,
    max_workspace_bytes: Optional[int] = None,
    tol: Optional[float] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthogonal Matching Pursuit of every row of `targets` over the rows (atoms) of `dictionary`.

    Returns ``(indices, coefs)``, both of shape ``(m, k)``, with ``targets[i] ≈ coefs[i] @ dictionary[indices[i]]``.
    Each step selects the unselected atom with the largest ``|atom · residual|`` (atoms are not normalised, ties go
    to the lower index) and re-fits all selected atoms by least squares. The indices of a row are distinct. When a
    row's residual is (numerically) zero - a zero target, an exactly sparse target, k ≥ rank - the remaining slots
    get the lowest-numbered unselected atoms with coefficient 0. An atom that lies (numerically) in the span of the
    already selected ones (a duplicate, a zero atom) gets coefficient 0 instead of breaking the factorisation.

    Work happens on the inputs' device in float32 or float64 (half-precision inputs are computed in float32). Memory:
    the Gram matrix (n_atoms², skipped when larger than `max_gram_bytes`: then every step uses the GEMM update) plus a
    workspace of at most `max_workspace_bytes` for a tile of at most `chunk_size` targets (default
    `default_workspace_bytes`: 1 GiB on CPU, more on a GPU, where each step's fixed cost of about 1 ms wants big tiles).

    `gram_steps` (default `default_gram_steps(k, d, n_atoms, m)`) is the number of correlation updates that use
    the Gram matrix; `tol` (default √eps of the work dtype) is the relative size of the largest remaining
    correlation at which a row counts as fitted exactly. `progress` is called with the number of target rows
    finished after each tile.
    """
    dictionary, targets = _check_pair("dictionary", dictionary, "targets", targets)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TransplantError(f"k must be an integer, got {k!r}")
    n_atoms, dim = dictionary.shape
    m = targets.shape[0]
    if k < 1:
        raise TransplantError(f"k must be at least 1, got {k}")
    if k > n_atoms:
        raise TransplantError(f"k = {k} is larger than the number of dictionary atoms ({n_atoms})")
    if chunk_size < 1:
        raise TransplantError(f"chunk_size must be at least 1, got {chunk_size}")
    dtype = _work_dtype(dictionary, targets)
    device = dictionary.device
    itemsize = torch.finfo(dtype).bits // 8
    eps = torch.finfo(dtype).eps
    if tol is None:
        tol = math.sqrt(eps)
    pivot_tol = 1e3 * eps

    D = dictionary.to(dtype)
    indices = torch.empty((m, k), dtype=torch.long, device=device)
    coefs = torch.zeros((m, k), dtype=dtype, device=device)
    if m == 0:
        return indices, coefs

    gs = default_gram_steps(k, dim, n_atoms, m) if gram_steps is None else max(0, min(k - 1, int(gram_steps)))
    use_gram = gs > 0 and n_atoms * n_atoms * itemsize <= max_gram_bytes
    if not use_gram:
        gs = 0
    # Steps s = 0..k-2 update the correlations; the Gram update is used while s < gs.
    need_dsel = gs < k - 1 or not use_gram  # the GEMM update and G[I, j] without G need the selected atoms
    G = D @ D.T if use_gram else None
    atom_sq = torch.diagonal(G).clone() if G is not None else (D * D).sum(dim=1)

    if max_workspace_bytes is None:
        max_workspace_bytes = default_workspace_bytes(device)
    per_row = itemsize * (3 * n_atoms + gs * n_atoms + (k * dim if need_dsel else 0) + 2 * k * k + dim + 4 * k)
    rows = max(1, min(chunk_size, max_workspace_bytes // max(per_row, 1)))

    for start in range(0, m, rows):
        stop = min(m, start + rows)
        idx, cf = _omp_tile(D, G, atom_sq, targets[start:stop].to(dtype), k, gs, need_dsel, tol, pivot_tol)
        indices[start:stop] = idx
        coefs[start:stop] = cf
        if progress is not None:
            progress(stop - start)
    return indices, coefs


def _omp_tile(
    D: torch.Tensor,
    G: Optional[torch.Tensor],
    atom_sq: torch.Tensor,
    X: torch.Tensor,
    k: int,
    gs: int,
    need_dsel: bool,
    tol: float,
    pivot_tol: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    c, dim = X.shape
    n_atoms = D.shape[0]
    device, dtype = X.device, X.dtype
    rows = torch.arange(c, device=device)

    a0 = X @ D.T  # (c, n): correlations of the targets with every atom
    scale = a0.abs().amax(dim=1) * tol  # a row whose best remaining correlation is below this is done
    idx = torch.zeros((c, k), dtype=torch.long, device=device)
    L = torch.zeros((c, k, k), dtype=dtype, device=device)  # Cholesky factor of G[I, I] (lower)
    b = torch.zeros((c, k), dtype=dtype, device=device)  # a0 at the selected atoms (0 for dead slots)
    live = torch.zeros((c, k), dtype=dtype, device=device)  # 1 where the slot's atom is in the factorisation
    gamma = torch.zeros((c, k), dtype=dtype, device=device)
    gsel = torch.empty((c, gs, n_atoms), dtype=dtype, device=device) if gs > 0 else None
    dsel = torch.empty((c, k, dim), dtype=dtype, device=device) if need_dsel else None
    done = torch.zeros(c, dtype=torch.bool, device=device)
    alpha = a0
    score = torch.empty_like(a0)

    for s in range(k):
        torch.abs(alpha, out=score)
        if bool(done.any()):
            score.masked_fill_(done[:, None], 0.0)  # finished rows take the lowest-numbered unselected atom
        if s > 0:
            score.scatter_(1, idx[:, :s], -1.0)  # never re-select an atom
        best, j = score.max(dim=1)  # ties: the first maximum, i.e. the lowest index
        newly = (best <= scale) & ~done
        if bool(newly.any()):
            done |= newly
            if bool(done.all()):
                _fill_unselected(idx, s, k)
                break
            score.masked_fill_(newly[:, None], 0.0)
            if s > 0:
                score.scatter_(1, idx[:, :s], -1.0)
            j = score.argmax(dim=1)
        idx[:, s] = j

        # Grow the Cholesky factor: L[s, :s] = w with L[:s, :s] w = G[I, j]; L[s, s] = sqrt(G[j, j] - |w|²).
        g_jj = atom_sq[j]
        if s > 0:
            if G is not None:
                g_ij = G[idx[:, :s], j[:, None]]
            else:
                g_ij = torch.bmm(dsel[:, :s], D[j].unsqueeze(-1)).squeeze(-1)
            g_ij = g_ij * live[:, :s]
            w = torch.linalg.solve_triangular(L[:, :s, :s], g_ij.unsqueeze(-1), upper=False).squeeze(-1)
            piv2 = g_jj - (w * w).sum(dim=1)
        else:
            w = None
            piv2 = g_jj
        dead = done | (piv2 <= pivot_tol * g_jj)
        if w is not None:
            L[:, s, :s] = torch.where(dead[:, None], torch.zeros_like(w), w)
        L[:, s, s] = torch.where(dead, torch.ones_like(piv2), piv2.clamp(min=0).sqrt())
        b[:, s] = torch.where(dead, torch.zeros_like(g_jj), a0[rows, j])
        live[:, s] = (~dead).to(dtype)
        gamma[:, : s + 1] = torch.cholesky_solve(b[:, : s + 1].unsqueeze(-1), L[:, : s + 1, : s + 1]).squeeze(-1)

        if dsel is not None:
            dsel[:, s] = D.index_select(0, j)  # (index_select into a strided slice is very slow on CPU)
        if s == k - 1:
            break
        if s < gs:
            # Batch-OMP update in atom space: alpha = a0 - G[I] gamma (n·(s+1) per row).
            gsel[:, s] = G.index_select(0, j)
            alpha = torch.baddbmm(a0.unsqueeze(1), gamma[:, None, : s + 1], gsel[:, : s + 1], alpha=-1).squeeze(1)
        else:
            # Residual update: alpha = D (x - D_I^T gamma) (a dense GEMM, n·d per row).
            approx = torch.bmm(gamma[:, None, : s + 1], dsel[:, : s + 1]).squeeze(1)
            alpha = (X - approx) @ D.T
    return idx, gamma


def _fill_unselected(idx: torch.Tensor, s: int, k: int) -> None:
    """Fill slots s..k-1 of every row with its lowest-numbered atoms not among idx[:, :s], in ascending order.

    With s atoms taken, at least k - s of the atoms 0..k-1 are free, so those are the only candidates."""
    if s >= k:
        return
    c = idx.shape[0]
    cand = torch.arange(k, device=idx.device).expand(c, k)
    if s > 0:
        taken = (cand.unsqueeze(-1) == idx[:, None, :s]).any(dim=-1)
    else:
        taken = torch.zeros((c, k), dtype=torch.bool, device=idx.device)
    order = torch.sort(taken.to(torch.int8), dim=1, stable=True).indices  # free candidates first, ascending
    idx[:, s:] = torch.gather(cand, 1, order[:, : k - s])


def topk_cosine(
    queries: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    *,
    tile: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The `k` keys most cosine-similar to each query: ``(similarities, indices)``, both ``(m, k)``, sorted by
    similarity descending, ties broken by the lower key index. A zero vector has similarity 0 with everything.

    Computed in tiles of ``tile`` queries × ``tile`` keys with a running top-k merge, so memory is O(tile² + m·k).
    """
    queries, keys = _check_pair("queries", queries, "keys", keys)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TransplantError(f"k must be an integer, got {k!r}")
    if k < 1:
        raise TransplantError(f"k must be at least 1, got {k}")
    n = keys.shape[0]
    if k > n:
        raise TransplantError(f"k = {k} is larger than the number of keys ({n})")
    if tile < 1:
        raise TransplantError(f"tile must be at least 1, got {tile}")
    dtype = _work_dtype(queries, keys)
    device = queries.device
    m = queries.shape[0]
    out_vals = torch.empty((m, k), dtype=dtype, device=device)
    out_idx = torch.empty((m, k), dtype=torch.long, device=device)
    if m == 0:
        return out_vals, out_idx
    tiny = torch.finfo(dtype).tiny
    kn = keys.to(dtype)
    kn = kn / kn.norm(dim=1, keepdim=True).clamp(min=tiny)
    for q0 in range(0, m, tile):
        q = queries[q0 : q0 + tile].to(dtype)
        q = q / q.norm(dim=1, keepdim=True).clamp(min=tiny)
        best_v: Optional[torch.Tensor] = None
        best_i: Optional[torch.Tensor] = None
        for k0 in range(0, n, tile):
            sims = q @ kn[k0 : k0 + tile].T
            v, i = _topk_first(sims, min(k, sims.shape[1]))
            i = i + k0
            if best_v is None:
                best_v, best_i = v, i
            else:
                # Running entries all have lower key indices than this tile's, and both lists are sorted by
                # (similarity desc, index asc): a stable sort by similarity keeps that order.
                v = torch.cat([best_v, v], dim=1)
                i = torch.cat([best_i, i], dim=1)
                order = torch.sort(v, dim=1, descending=True, stable=True).indices[:, :k]
                best_v = torch.gather(v, 1, order)
                best_i = torch.gather(i, 1, order)
        out_vals[q0 : q0 + tile] = best_v
        out_idx[q0 : q0 + tile] = best_i
    return out_vals, out_idx


def _topk_first(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k along dim 1 sorted by (value desc, column asc): exactly the first k of a stable descending sort.

    torch.topk picks arbitrarily among equal values, so its selection is put in (value desc, column asc) order, and
    the rows where the k-th value is tied with an unselected entry (topk's (k+1)-th value equals its k-th) are
    redone exactly: every entry strictly above the k-th value, then the lowest columns among those equal to it."""
    rows, cols = x.shape
    if k == cols:
        order = torch.sort(x, dim=1, descending=True, stable=True).indices
        return torch.gather(x, 1, order), order
    v, i = torch.topk(x, k + 1, dim=1, sorted=True)
    tied = v[:, k] == v[:, k - 1]
    v, i = _order(v[:, :k], i[:, :k])
    if bool(tied.any()):
        t = tied.nonzero().squeeze(1)
        xt = x[t]
        kth = v[t, k - 1 :]
        above = xt > kth
        equal = xt == kth
        need = k - above.sum(dim=1, keepdim=True)
        keep = above | (equal & (torch.cumsum(equal, dim=1) <= need))
        col = torch.nonzero(keep)[:, 1].reshape(t.shape[0], k)  # row-major: each row's columns ascending
        v[t], i[t] = _order(torch.gather(xt, 1, col), col)
    return v, i


def _order(v: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder each row of (values, indices) by value descending, index ascending."""
    o = torch.argsort(i, dim=1)
    v, i = torch.gather(v, 1, o), torch.gather(i, 1, o)
    o = torch.sort(v, dim=1, descending=True, stable=True).indices
    return torch.gather(v, 1, o), torch.gather(i, 1, o)
