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

Donor space (`donor_space`): `static` (default, the paper's form) codes in the donor's input-embedding rows over
the anchors (tokens both vocabularies share). `contextual` runs the donor model itself on token strings (mean
pooling over its last hidden states, L2-normalised, as the hybrid's auxiliary space), so every token of the *old*
vocabulary has a donor vector, not only the anchors: the dictionary is the donor vectors of all regular old tokens
and the atoms their base rows. On SmolLM2 <- MiniLM (same 100 sentences, k=8) it scored 1.409 against 1.461 for
the static space. The old vocabulary's vectors are cached in ~/.cache/toksmith/aux.
"""

from __future__ import annotations

from typing import Any

from toksmith.errors import TransplantError
from toksmith.transplant.methods.context import Context


def _batch_omp(dictionary: Any, targets: Any, k: int) -> tuple[Any, Any]:
    from toksmith.transplant.kernels import batch_omp

    return batch_omp(dictionary, targets, k)


DONOR_SPACES = ("static", "contextual")


def _contextual(ctx: Context, ids: list[int], which: str) -> Any:
    """OMP in the donor's contextual space over every regular old token (see the module docs)."""
    import torch

    from toksmith.transplant.methods.aux import SentenceEmbedder, embed_token_strings

    path = ctx.options.get("donor_path")
    if path is None:
        raise TransplantError("method omp needs a donor model that uses the new tokenizer (--donor)")
    m = ctx.old_matrix(which)
    regular = ctx.regular_old_ids()
    if ctx.k > len(regular):
        raise TransplantError(f"k={ctx.k} is larger than the old vocabulary ({len(regular)} tokens)")
    if "donor_vectors" not in ctx.options:
        new_vec, old_vec = embed_token_strings(SentenceEmbedder(path, device=ctx.device), ctx, ids, "donor:")
        ctx.options["donor_vectors"] = (list(ids), new_vec, old_vec)
    have_ids, new_vec, old_vec = ctx.options["donor_vectors"]
    if have_ids != list(ids):
        raise TransplantError("internal error: contextual OMP called with a different id list")
    reg = torch.tensor(regular, dtype=torch.long)
    dev = ctx.device
    dictionary = old_vec[reg].to(dev, torch.float32)
    targets = new_vec.to(dev, torch.float32)
    base_atoms = m[reg].to(dev, torch.float32)
    return _code(ctx, dictionary, targets, base_atoms).to("cpu", m.dtype)


def _code(ctx: Context, dictionary: Any, targets: Any, base_atoms: Any) -> Any:
    return sparse_transfer(dictionary, targets, base_atoms, ctx.k, bool(ctx.options.get("center", True)))


def sparse_transfer(dictionary: Any, targets: Any, base_atoms: Any, k: int, center: bool = True) -> Any:
    """Sparse-code `targets` over `dictionary` (k atoms, OMP) and apply the coefficients to `base_atoms`
    (row i of `base_atoms` belongs to row i of `dictionary`); `center` codes around each side's mean row."""
    import torch

    if center:  # code each row relative to the dictionary's mean row, in both spaces
        d_mean, b_mean = dictionary.mean(0), base_atoms.mean(0)
        dictionary, targets, base_atoms = dictionary - d_mean, targets - d_mean, base_atoms - b_mean
    idx, coef = _batch_omp(dictionary, targets, k)
    rows = torch.einsum("mk,mkd->md", coef.to(torch.float32), base_atoms[idx])
    return rows + b_mean if center else rows


def init_omp(ctx: Context, ids: list[int], which: str) -> Any:
    import torch

    space = ctx.options.get("donor_space", "static")
    if space not in DONOR_SPACES:
        raise TransplantError(f"unknown donor space {space!r}: one of {', '.join(DONOR_SPACES)}")
    if space == "contextual":
        m = ctx.old_matrix(which)
        return _contextual(ctx, ids, which) if ids else torch.zeros(0, m.shape[1], dtype=m.dtype)
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
        rows = _code(ctx, dictionary, targets, base_atoms)
        pos = {i: j for j, i in enumerate(ids)}
        out[torch.tensor([pos[i] for i in have], dtype=torch.long)] = rows.to("cpu", m.dtype)
    missing = [j for j, i in enumerate(ids) if i >= n_donor]
    if missing:  # new ids past the donor's rows (added control tokens): the mean row
        from toksmith.transplant.methods.baselines import mean_row

        out[torch.tensor(missing, dtype=torch.long)] = mean_row(ctx, which).to(m.dtype)
    return out
