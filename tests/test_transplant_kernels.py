"""Batch-OMP and tiled top-k cosine kernels (toksmith.transplant.kernels) against brute-force references."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from toksmith.errors import TransplantError  # noqa: E402
from toksmith.transplant.kernels import batch_omp, default_gram_steps, topk_cosine  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def naive_omp(D: torch.Tensor, X: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Textbook OMP, one target at a time: pick argmax |D r| over unselected atoms, least squares (lstsq) on the
    selected atoms, new residual."""
    all_idx, all_coef = [], []
    for x in X:
        r = x.clone()
        sel: list[int] = []
        coef = torch.zeros(0, dtype=X.dtype)
        for _ in range(k):
            corr = (D @ r).abs()
            if sel:
                corr[sel] = -1.0
            sel.append(int(torch.argmax(corr)))
            A = D[sel].T
            coef = torch.linalg.lstsq(A, x.unsqueeze(1), driver="gelsd").solution.squeeze(1)
            r = x - A @ coef
        all_idx.append(torch.tensor(sel))
        all_coef.append(coef)
    return torch.stack(all_idx), torch.stack(all_coef)


def rand(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


@pytest.mark.parametrize(
    ("n", "d", "m", "k", "gram_steps"),
    [
        (40, 16, 25, 8, None),
        (40, 16, 25, 8, 0),  # residual-GEMM update only
        (40, 16, 25, 8, 8),  # Gram update only
        (30, 64, 20, 12, 5),  # switch in the middle; more dims than atoms
        (10, 6, 7, 1, None),
        (12, 12, 9, 11, 3),
    ],
)
def test_batch_omp_equals_naive_reference(n: int, d: int, m: int, k: int, gram_steps: int | None) -> None:
    D = rand(n, d, seed=n * 100 + d)
    X = rand(m, d, seed=m * 7 + k)
    idx, coef = batch_omp(D, X, k, gram_steps=gram_steps)
    ref_idx, ref_coef = naive_omp(D, X, k)
    assert idx.dtype == torch.long and idx.shape == (m, k) and coef.shape == (m, k)
    assert coef.dtype == torch.float64
    assert torch.equal(idx, ref_idx)
    torch.testing.assert_close(coef, ref_coef, rtol=0, atol=1e-8)


def test_default_gram_steps_cost_model() -> None:
    assert default_gram_steps(64, 16, 40, 25) == 0  # tiny d: the GEMM update is always cheaper
    assert default_gram_steps(64, 4096, 30000, 128000) == 63  # large d: every update from G
    assert 0 < default_gram_steps(64, 384, 25000, 20000) < 63  # MiniLM-sized donor: the first steps only
    assert default_gram_steps(64, 384, 25000, 10) == 0  # too few targets to pay for G


def test_batch_omp_gram_budget_fallback_matches() -> None:
    D = rand(50, 20, seed=1)
    X = rand(30, 20, seed=2)
    a = batch_omp(D, X, 10)
    b = batch_omp(D, X, 10, max_gram_bytes=0)  # no Gram matrix: every step re-projects the residual
    ref_idx, ref_coef = naive_omp(D, X, 10)
    for idx, coef in (a, b):
        assert torch.equal(idx, ref_idx)
        torch.testing.assert_close(coef, ref_coef, rtol=0, atol=1e-8)


def test_batch_omp_recovers_sparse_support() -> None:
    # unit-norm atoms in enough dimensions that OMP provably-in-practice recovers 4-sparse supports
    n, d, m, s = 100, 128, 20, 4
    D = rand(n, d, seed=3)
    D = D / D.norm(dim=1, keepdim=True)
    g = torch.Generator().manual_seed(4)
    support = torch.stack([torch.randperm(n, generator=g)[:s] for _ in range(m)])
    weights = (torch.rand(m, s, generator=g, dtype=torch.float64) + 0.5) * torch.where(
        torch.rand(m, s, generator=g) < 0.5, -1.0, 1.0
    ).double()
    X = torch.einsum("ms,msd->md", weights, D[support])
    idx, coef = batch_omp(D, X, s + 3)
    for i in range(m):
        assert set(idx[i, :s].tolist()) == set(support[i].tolist())
        got = dict(zip(idx[i].tolist(), coef[i].tolist()))
        for a, w in zip(support[i].tolist(), weights[i].tolist()):
            assert got[a] == pytest.approx(w, abs=1e-9)
        # residual is zero after s atoms: the extra slots get coefficient exactly 0 and distinct, unused atoms
        assert torch.all(coef[i, s:] == 0)
        rest = [a for a in range(n) if a not in set(idx[i, :s].tolist())][:3]
        assert idx[i, s:].tolist() == rest
    torch.testing.assert_close(torch.einsum("mk,mkd->md", coef, D[idx]), X, rtol=0, atol=1e-10)


def test_batch_omp_zero_rows_and_exact_fit() -> None:
    n, d = 20, 6
    D = rand(n, d, seed=5)
    X = rand(5, d, seed=6)
    X[2] = 0
    idx, coef = batch_omp(D, X, 10)  # k > d: exact after d atoms
    assert torch.isfinite(coef).all()
    assert idx[2].tolist() == list(range(10)) and torch.all(coef[2] == 0)
    for i in range(5):
        assert len(set(idx[i].tolist())) == 10
    torch.testing.assert_close(torch.einsum("mk,mkd->md", coef, D[idx]), X, rtol=0, atol=1e-10)
    ref_idx, ref_coef = naive_omp(D, X[[0, 1, 3, 4]], d)
    assert torch.equal(idx[[0, 1, 3, 4], :d], ref_idx)
    torch.testing.assert_close(coef[[0, 1, 3, 4], :d], ref_coef, rtol=0, atol=1e-8)
    assert torch.all(coef[:, d:] == 0)


def test_batch_omp_duplicate_and_zero_atoms() -> None:
    d = 8
    base = rand(6, d, seed=7)
    # duplicates, a scaled copy, a zero atom and a combination of two atoms
    D = torch.cat([base, base[:2], 2 * base[3:4], torch.zeros(1, d), (base[0] + base[1]).unsqueeze(0)])
    X = rand(10, d, seed=8)
    for gram_steps in (0, None, 10):
        idx, coef = batch_omp(D, X, 10, gram_steps=gram_steps)
        assert torch.isfinite(coef).all()
        for i in range(10):
            assert len(set(idx[i].tolist())) == 10
        # the best fit from span(base) (6 independent atoms in 8 dims)
        proj = torch.linalg.lstsq(base.T, X.T).solution.T @ base
        torch.testing.assert_close(torch.einsum("mk,mkd->md", coef, D[idx]), proj, rtol=0, atol=1e-9)


def test_batch_omp_chunking_does_not_change_results() -> None:
    D = rand(80, 24, seed=9)
    X = rand(37, 24, seed=10)
    ref = batch_omp(D, X, 12)
    for kwargs in ({"chunk_size": 1}, {"chunk_size": 5}, {"chunk_size": 36}, {"max_workspace_bytes": 1}):
        idx, coef = batch_omp(D, X, 12, **kwargs)
        assert torch.equal(idx, ref[0])
        torch.testing.assert_close(coef, ref[1], rtol=0, atol=1e-12)


def test_batch_omp_progress_counts_rows() -> None:
    seen: list[int] = []
    batch_omp(rand(20, 8, seed=11), rand(13, 8, seed=12), 3, chunk_size=4, progress=seen.append)
    assert seen == [4, 4, 4, 1]


def test_batch_omp_float32_close_to_float64() -> None:
    D = rand(200, 48, seed=13)
    X = rand(64, 48, seed=14)
    i64, c64 = batch_omp(D, X, 16)
    i32, c32 = batch_omp(D.float(), X.float(), 16)
    assert c32.dtype == torch.float32
    same = (i32 == i64).all(dim=1)
    assert same.float().mean() >= 0.9  # near-ties in late steps may flip
    torch.testing.assert_close(c32[same].double(), c64[same], rtol=1e-3, atol=1e-4)
    err64 = (torch.einsum("mk,mkd->md", c64, D[i64]) - X).norm(dim=1)
    err32 = (torch.einsum("mk,mkd->md", c32.double(), D[i32]) - X).norm(dim=1)
    torch.testing.assert_close(err32, err64, rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_batch_omp_device_and_half_inputs(device: str) -> None:
    D = rand(50, 16, seed=15).to(device)
    X = rand(9, 16, seed=16).to(device)
    idx, coef = batch_omp(D, X, 6)
    assert idx.device.type == device and coef.device.type == device
    ref_idx, ref_coef = naive_omp(D.cpu(), X.cpu(), 6)
    assert torch.equal(idx.cpu(), ref_idx)
    torch.testing.assert_close(coef.cpu(), ref_coef, rtol=0, atol=1e-8)
    idx16, coef16 = batch_omp(D.to(torch.bfloat16), X.to(torch.bfloat16), 6)
    assert coef16.dtype == torch.float32 and torch.isfinite(coef16).all()


def test_batch_omp_errors() -> None:
    D = rand(5, 4, seed=17)
    X = rand(3, 4, seed=18)
    with pytest.raises(TransplantError, match="larger than the number of dictionary atoms"):
        batch_omp(D, X, 6)
    with pytest.raises(TransplantError, match="same number of columns"):
        batch_omp(D, rand(3, 5, seed=1), 2)
    with pytest.raises(TransplantError, match="at least 1"):
        batch_omp(D, X, 0)
    with pytest.raises(TransplantError, match="2-D"):
        batch_omp(D[0], X, 1)
    with pytest.raises(TransplantError, match="floating-point"):
        batch_omp(D.long(), X, 1)
    bad = X.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(TransplantError, match="NaN"):
        batch_omp(D, bad, 1)
    idx, coef = batch_omp(D, X[:0], 2)
    assert idx.shape == (0, 2) and coef.shape == (0, 2)


# --- top-k cosine -----------------------------------------------------------------------------------------------


def full_topk_cosine(q: torch.Tensor, keys: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole similarity matrix, stable descending sort, first k (ties: lower index first)."""
    qn = q / q.norm(dim=1, keepdim=True).clamp(min=1e-300)
    kn = keys / keys.norm(dim=1, keepdim=True).clamp(min=1e-300)
    sims = qn @ kn.T
    order = torch.sort(sims, dim=1, descending=True, stable=True).indices[:, :k]
    return torch.gather(sims, 1, order), order


@st.composite
def exact_vectors(draw: st.DrawFn, rows: int, dim: int) -> torch.Tensor:
    """Rows with exactly 4 (or 0) nonzero entries of ±2^e: norms are powers of two, so every cosine is a multiple of
    1/4 computed exactly in any summation order - lots of exact ties."""
    out = torch.zeros(rows, dim, dtype=torch.float64)
    for r in range(rows):
        if draw(st.integers(0, 9)) == 0:
            continue  # a zero vector
        cols = draw(st.lists(st.integers(0, dim - 1), min_size=4, max_size=4, unique=True))
        scale = 2.0 ** draw(st.integers(-2, 2))
        for c in cols:
            out[r, c] = scale * draw(st.sampled_from([-1.0, 1.0]))
    return out


@given(data=st.data())
def test_topk_cosine_equals_full_sort_with_ties(data: st.DataObject) -> None:
    dim = data.draw(st.integers(4, 6))
    m = data.draw(st.integers(1, 12))
    n = data.draw(st.integers(1, 15))
    q = data.draw(exact_vectors(m, dim))
    keys = data.draw(exact_vectors(n, dim))
    k = data.draw(st.integers(1, n))
    tile = data.draw(st.integers(1, 16))
    vals, idx = topk_cosine(q, keys, k, tile=tile)
    ref_vals, ref_idx = full_topk_cosine(q, keys, k)
    assert torch.equal(idx, ref_idx)
    assert torch.equal(vals, ref_vals)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("m", "n", "k", "tile"), [(50, 70, 5, 16), (33, 33, 33, 7), (10, 200, 1, 64), (5, 9, 4, 4096)])
def test_topk_cosine_random(device: str, m: int, n: int, k: int, tile: int) -> None:
    q = rand(m, 12, seed=m).to(device)
    keys = rand(n, 12, seed=n + 1).to(device)
    vals, idx = topk_cosine(q, keys, k, tile=tile)
    ref_vals, ref_idx = full_topk_cosine(q.cpu(), keys.cpu(), k)
    assert torch.equal(idx.cpu(), ref_idx)
    torch.testing.assert_close(vals.cpu(), ref_vals, rtol=0, atol=1e-12)
    v32, i32 = topk_cosine(q.float(), keys.float(), k, tile=tile)
    assert v32.dtype == torch.float32
    torch.testing.assert_close(v32.cpu().double(), ref_vals, rtol=0, atol=1e-5)


def test_topk_cosine_errors() -> None:
    q = rand(3, 4, seed=1)
    keys = rand(5, 4, seed=2)
    with pytest.raises(TransplantError, match="larger than the number of keys"):
        topk_cosine(q, keys, 6)
    with pytest.raises(TransplantError, match="same number of columns"):
        topk_cosine(q, rand(5, 3, seed=3), 2)
    with pytest.raises(TransplantError, match="at least 1"):
        topk_cosine(q, keys, 0)
    with pytest.raises(TransplantError, match="tile"):
        topk_cosine(q, keys, 2, tile=0)
    v, i = topk_cosine(q[:0], keys, 2)
    assert v.shape == (0, 2) and i.shape == (0, 2)
