"""Transplant kernels (issue 5): toksmith's Batch-OMP against mergekit-tokensurgeon's OMP, and tiled top-k cosine.

    /tmp/mergekit-venv/bin/python bench/transplant_kernels.py [--targets N] [--variants] [--scaled] [--topk]

(run with `PYTHONPATH=python` from the repository root; any Python with torch works, mergekit is optional: without
it only toksmith's numbers are printed).

1. Donor case at MiniLM size: the dictionary is 25,000 rows of all-MiniLM-L6-v2's word-embedding matrix (384 dims,
   float32; a seeded random split of its 30,522 rows plays "anchors"), the targets are the remaining rows ("new
   tokens"), k = 64. `toksmith.transplant.kernels.batch_omp` and `mergekit.tokensurgeon.omp.batch_omp` (imported
   from mergekit 0.1.5, called the way tokensurgeon calls it: all targets in one batch) run on the same tensors.
   Printed per method: wall time, process CPU time, peak RSS of the process during the call (VmHWM, reset before each
   call through /proc/self/clear_refs) and its increase over the RSS before the call, analytic FLOPs, and the
   agreement of the two results (identical atom sequences, shared atoms, coefficient differences, residuals).
   `--variants` also runs toksmith with the Gram update for every step and for none.
2. `--scaled`: the 4096-dim tiling, scaled down: Gaussian dictionary (`--scaled-atoms`, 4096 dims), Gaussian targets
   at two counts (peak RSS should grow only by the targets and outputs), mergekit on a slice for the per-target
   ratio, and the memory each needs at 128k targets × 30k atoms by their own formulas.
3. `--topk`: `topk_cosine` of all MiniLM rows against the anchors (k = 64), and the full-matrix torch.topk on a
   slice for agreement and per-query time.

`--device cuda` runs every kernel on the GPU (timed with torch.cuda.synchronize; the table's memory columns are then
the GPU's peak allocated memory during the call and its increase over what was allocated before, from
torch.cuda.max_memory_allocated). Where the MiniLM folder is not available (a GPU machine without the package),
`--save-embeddings FILE` writes its word-embedding matrix once (float16 safetensors, 23 MB) and `--embeddings FILE`
reads it back (as float32). `--mergekit-batch 512` calls mergekit's batch_omp on batches of 512 targets, as the
`mergekit-tokensurgeon` CLI does by default; `--workspace-gib` sets toksmith's tile workspace (default 1 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from toksmith.transplant.kernels import batch_omp, default_gram_steps, topk_cosine

MIB = 1 << 20


def load_mergekit_omp() -> Callable[..., Any] | None:
    try:
        from mergekit.tokensurgeon.omp import batch_omp as mk_omp
    except Exception as e:  # noqa: BLE001 - any import problem means "no peer"
        print(f"mergekit not importable ({type(e).__name__}: {e}); peer skipped", file=sys.stderr)
        return None
    return mk_omp


EMBEDDINGS: Path | None = None
DEVICE = torch.device("cpu")


def minilm_embeddings() -> torch.Tensor:
    from safetensors.torch import load_file

    if EMBEDDINGS is not None:
        return load_file(str(EMBEDDINGS))["weight"].float().contiguous()
    try:
        from toksmith.models import ensure

        path = ensure("minilm")
    except Exception:  # noqa: BLE001 - fall back to the default cache location
        path = Path.home() / ".cache" / "toksmith" / "models" / "all-minilm-l6-v2"
    sd = load_file(str(Path(path) / "model.safetensors"))
    (name,) = [k for k in sd if k.endswith("word_embeddings.weight")]
    return sd[name].float().contiguous()


def rss_now() -> int:
    return _status_kib("VmRSS") * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def measure(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Wall and CPU seconds of fn(); memory: on CPU the process's peak RSS (VmHWM) and its increase over the RSS
    before the call; on CUDA the peak allocated GPU memory and its increase over what was allocated before."""
    import gc

    gc.collect()
    cuda = DEVICE.type == "cuda"
    if cuda:
        _sync()
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated(DEVICE)
        torch.cuda.reset_peak_memory_stats(DEVICE)
    else:
        before = rss_now()
        reset_ok = reset_peak()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    out = fn()
    _sync()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    if cuda:
        peak = torch.cuda.max_memory_allocated(DEVICE)
    else:
        peak = _status_kib("VmHWM") * 1024 if reset_ok else ru1.ru_maxrss * 1024
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return out, {"wall": wall, "cpu": cpu, "peak": peak, "extra": peak - before}


def flops_mergekit(m: int, n: int, d: int, k: int) -> float:
    """mergekit batch_omp: per step residuals @ points.T, Gram-Schmidt of the new atom against Q, re-projection of
    the targets onto Q and the new residual; a final triangular solve."""
    f = 0.0
    for t in range(k):
        f += 2 * m * n * d  # correlations
        f += 4 * m * d * t  # projections of the new atom on Q and its removal
        f += 4 * m * d * (t + 1)  # Q^T x and Q (Q^T x)
    f += 2 * m * d * k + m * k * k  # final Q^T x and triangular solve
    return f


def flops_toksmith(m: int, n: int, d: int, k: int, gs: int) -> float:
    f = 2.0 * n * n * d if gs > 0 else 0.0  # Gram matrix
    f += 2 * m * n * d  # alpha0 = X D^T
    for s in range(k):
        f += 3 * m * s * s + 2 * m * s * (0 if gs > 0 else d)  # Cholesky row + solve; G[I, j] from atoms without G
        if s == k - 1:
            break
        if s < gs:
            f += 2 * m * n * (s + 1)  # alpha0 - G_I gamma
        else:
            f += 2 * m * d * (s + 1) + 2 * m * n * d  # residual and D r
    return f


def agreement(D: torch.Tensor, X: torch.Tensor, a: tuple, b: tuple) -> dict[str, float]:
    ia, ca = a
    ib, cb = b
    same = (ia == ib).all(dim=1)
    shared = torch.tensor(
        [len(set(x.tolist()) & set(y.tolist())) / ia.shape[1] for x, y in zip(ia, ib)], dtype=torch.float64
    )
    out = {
        "identical_rows": float(same.double().mean()),
        "shared_atoms": float(shared.mean()),
        "first_step_same": float((ia[:, 0] == ib[:, 0]).double().mean()),
        "max_coef_diff_identical": float((ca[same].double() - cb[same].double()).abs().max()) if same.any() else 0.0,
    }
    return out


def rel_residual(D: torch.Tensor, X: torch.Tensor, idx: torch.Tensor, coef: torch.Tensor, chunk: int = 4096) -> float:
    errs = []
    for s in range(0, X.shape[0], chunk):
        i, c, x = idx[s : s + chunk], coef[s : s + chunk].double(), X[s : s + chunk].double()
        approx = torch.einsum("mk,mkd->md", c, D.double()[i])
        errs.append((approx - x).norm(dim=1) / x.norm(dim=1).clamp(min=1e-30))
    return float(torch.cat(errs).mean())


def fmt(name: str, r: dict[str, float], flops: float) -> str:
    return (
        f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['peak'] / MIB:,.0f} | {r['extra'] / MIB:,.0f} "
        f"| {flops / 1e12:.2f} |"
    )


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def save_split(path: Path) -> None:
    """The anchors (MiniLM ids of tokens SmolLM2 also has, by canonical bytes) and the new tokens of the donor
    transplant, as `toksmith transplant SMOLLM2 MINILM OUT --method omp --donor MINILM` finds them."""
    from toksmith.models import ensure
    from toksmith.transplant.model_io import load_tokenizer, tokenizer_vocab
    from toksmith.transplant.vocab import match_anchors

    new = tokenizer_vocab(load_tokenizer(ensure("minilm")))
    old = tokenizer_vocab(load_tokenizer(ensure("smollm2")))
    m = match_anchors(new, old)
    path.write_text(json.dumps({"anchors": [a for a, _ in m.pairs], "targets": list(m.unmatched)}))
    print(f"wrote {path}: {len(m.pairs):,} anchors, {len(m.unmatched):,} new tokens")


def ours(args: argparse.Namespace, D: torch.Tensor, X: torch.Tensor, k: int, **kw: Any) -> tuple:
    if args.workspace_gib:
        kw["max_workspace_bytes"] = int(args.workspace_gib * (1 << 30))
    return batch_omp(D, X, k, **kw)


def theirs(mk_omp: Callable[..., Any], args: argparse.Namespace, D: torch.Tensor, X: torch.Tensor, k: int) -> tuple:
    """mergekit's batch_omp on all targets at once, or on batches of --mergekit-batch (tokensurgeon's CLI: 512)."""
    b = args.mergekit_batch or X.shape[0]
    parts = [mk_omp(X[i : i + b], D, k) for i in range(0, X.shape[0], b)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def mk_name(args: argparse.Namespace) -> str:
    return f"mergekit 0.1.5 batch_omp ({f'batches of {args.mergekit_batch}' if args.mergekit_batch else 'one batch'})"


def where() -> str:
    if DEVICE.type == "cuda":
        return f"device {torch.cuda.get_device_name(DEVICE)} (memory columns: GPU allocated)"
    return f"{torch.get_num_threads()} CPU threads (memory columns: process RSS)"


def donor_case(args: argparse.Namespace, mk_omp: Callable[..., Any] | None) -> None:
    E = minilm_embeddings()
    if args.split:
        sp = json.loads(args.split.read_text())
        D = E[sp["anchors"]].contiguous().to(DEVICE)
        X = E[sp["targets"][: args.targets or None]].contiguous().to(DEVICE)
        what = f"the real SmolLM2 <- MiniLM split ({args.split.name})"
    else:
        g = torch.Generator().manual_seed(0)
        perm = torch.randperm(E.shape[0], generator=g)
        D = E[perm[: args.anchors]].contiguous().to(DEVICE)
        rest = perm[args.anchors :]
        X = E[rest[: args.targets] if args.targets else rest].contiguous().to(DEVICE)
        what = "a seeded random split"
    m, n, d, k = X.shape[0], D.shape[0], D.shape[1], args.k
    gs = default_gram_steps(k, d, n, m)
    print(f"\n## Donor case: MiniLM word embeddings ({what}), {n:,} atoms x {d} dims, {m:,} targets, k = {k}")
    print(f"torch {torch.__version__}, {where()}; load average before: {loadavg()}")
    print(f"toksmith default gram_steps = {gs}")
    print("| method | wall s | CPU s | peak MiB | + over before MiB | TFLOP |")
    print("| --- | --- | --- | --- | --- | --- |")
    results: dict[str, tuple] = {}
    runs: list[tuple[str, Callable[[], Any], float]] = [
        (f"toksmith batch_omp (gram_steps={gs})", lambda: ours(args, D, X, k), flops_toksmith(m, n, d, k, gs))
    ]
    if args.variants or args.also_gram_steps:
        for v in args.also_gram_steps or (0, k - 1):
            if v != gs:
                runs.append(
                    (
                        f"toksmith batch_omp (gram_steps={v})",
                        lambda v=v: ours(args, D, X, k, gram_steps=v),
                        flops_toksmith(m, n, d, k, v),
                    )
                )
    if mk_omp is not None:
        runs.append((mk_name(args), lambda: theirs(mk_omp, args, D, X, k), flops_mergekit(m, n, d, k)))
    for name, fn, fl in runs:
        out, r = measure(fn)
        results[name] = out
        print(fmt(name, r, fl), flush=True)
    print(f"load average after: {loadavg()}")
    names = list(results)
    base = names[0]
    print(
        "\nrelative residual |x - x_hat| / |x| (mean): "
        + ", ".join(f"{nm}: {rel_residual(D, X, *results[nm]):.4f}" for nm in names)
    )
    for nm in names[1:]:
        print(f"agreement {base} vs {nm}: {agreement(D, X, results[base], results[nm])}")
    if mk_omp is not None:
        print(
            "FLOP ratio mergekit / toksmith default: "
            f"{flops_mergekit(m, n, d, k) / flops_toksmith(m, n, d, k, gs):.1f}; with every update from G: "
            f"{flops_mergekit(m, n, d, k) / flops_toksmith(m, n, d, k, k - 1):.1f}"
        )


def scaled_case(args: argparse.Namespace, mk_omp: Callable[..., Any] | None) -> None:
    n, d, k = args.scaled_atoms, 4096, args.k
    g = torch.Generator(device=DEVICE).manual_seed(1)
    D = torch.randn(n, d, generator=g, device=DEVICE) / d**0.5
    print(f"\n## Scaled 4096-dim check: Gaussian dictionary {n:,} atoms x {d} dims, k = {k}")
    print(f"torch {torch.__version__}, {where()}; load average before: {loadavg()}")
    print("| method | targets | wall s | CPU s | peak MiB | + over before MiB | TFLOP |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    per_target: dict[str, float] = {}
    G, r = measure(lambda: D @ D.T)
    t_gram = r["wall"]
    del G
    for m in args.scaled_targets:
        X = torch.randn(m, d, generator=g, device=DEVICE)
        gs = default_gram_steps(k, d, n, m)
        out, r = measure(lambda X=X: ours(args, D, X, k))
        print(
            f"| toksmith (gram_steps={gs}) | {m:,} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['peak'] / MIB:,.0f} | "
            f"{r['extra'] / MIB:,.0f} | {flops_toksmith(m, n, d, k, gs) / 1e12:.2f} |",
            flush=True,
        )
        per_target["toksmith"] = (r["wall"] - (t_gram if gs > 0 else 0.0)) / m
        del out
    print(f"Gram matrix alone: {t_gram:.1f} s; toksmith per target without it: {per_target['toksmith'] * 1e3:.1f} ms")
    if mk_omp is not None:
        Xs = X[: args.scaled_mergekit_targets]
        out, r = measure(lambda: theirs(mk_omp, args, D, Xs, k))
        per_target["mergekit"] = r["wall"] / Xs.shape[0]
        print(
            f"| {mk_name(args)} | {Xs.shape[0]:,} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['peak'] / MIB:,.0f} | "
            f"{r['extra'] / MIB:,.0f} | {flops_mergekit(Xs.shape[0], n, d, k) / 1e12:.2f} |"
        )
        mine = ours(args, D, Xs, k)
        print(f"agreement on that slice: {agreement(D, Xs, mine, out)}")
        print(f"per-target time ratio mergekit / toksmith: {per_target['mergekit'] / per_target['toksmith']:.1f}")
    print(f"load average after: {loadavg()}")
    M, N = 128_000, 30_000
    gb = 1e9
    print(
        f"At {M:,} targets x {N:,} atoms x {d} dims, float32, k = {k}: toksmith holds D {N * d * 4 / gb:.1f} GB + "
        f"G {N * N * 4 / gb:.1f} GB + workspace <= 1.07 GB (+ the caller's targets {M * d * 4 / gb:.1f} GB and "
        f"outputs {M * k * 12 / gb:.2f} GB); mergekit's one batch allocates Q {M * d * k * 4 / gb:.0f} GB + "
        f"|residuals @ D^T| {M * N * 4 / gb:.1f} GB + mask {M * N / gb:.1f} GB. "
        f"FLOP ratio mergekit / toksmith: {flops_mergekit(M, N, d, k) / flops_toksmith(M, N, d, k, k - 1):.1f}"
    )


def topk_case(args: argparse.Namespace) -> None:
    E = minilm_embeddings()
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(E.shape[0], generator=g)
    E = E.to(DEVICE)
    keys = E[perm[: args.anchors].to(DEVICE)].contiguous()
    print(f"\n## topk_cosine: {E.shape[0]:,} MiniLM rows against {keys.shape[0]:,} keys, k = 64")
    print(f"torch {torch.__version__}, {where()}; load average before: {loadavg()}")
    (vals, idx), r = measure(lambda: topk_cosine(E, keys, 64))
    print(
        f"toksmith topk_cosine (tile 4096): {r['wall']:.2f} s wall, {r['cpu']:.1f} s CPU, peak "
        f"{r['peak'] / MIB:,.0f} MiB (+{r['extra'] / MIB:,.0f})"
    )
    q = E[:4096]

    def full() -> tuple[torch.Tensor, torch.Tensor]:
        qn = q / q.norm(dim=1, keepdim=True)
        kn = keys / keys.norm(dim=1, keepdim=True)
        return torch.topk(qn @ kn.T, 64, dim=1)

    (fv, fi), r2 = measure(full)
    print(
        f"full matrix + torch.topk on 4,096 queries: {r2['wall']:.2f} s wall, peak +{r2['extra'] / MIB:,.0f} "
        f"MiB; same indices: {float((fi == idx[:4096]).double().mean()):.5f} of entries, max |value diff| "
        f"{float((fv - vals[:4096]).abs().max()):.2e}"
    )
    print(f"load average after: {loadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anchors", type=int, default=25_000)
    ap.add_argument("--targets", type=int, default=0, help="number of targets (0: all non-anchor rows)")
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--variants", action="store_true", help="also toksmith with gram_steps = 0 and k - 1")
    ap.add_argument("--also-gram-steps", type=int, nargs="+", default=[], help="toksmith with these gram_steps too")
    ap.add_argument("--scaled", action="store_true")
    ap.add_argument("--scaled-atoms", type=int, default=8192)
    ap.add_argument("--scaled-targets", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--scaled-mergekit-targets", type=int, default=256)
    ap.add_argument("--topk", action="store_true")
    ap.add_argument("--no-donor", action="store_true", help="skip the donor case")
    ap.add_argument("--no-mergekit", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where every kernel runs")
    ap.add_argument("--embeddings", type=Path, help="MiniLM word embeddings written by --save-embeddings")
    ap.add_argument("--save-embeddings", type=Path, help="write MiniLM's word embeddings (float16) here and exit")
    ap.add_argument("--mergekit-batch", type=int, default=0, help="mergekit batch size (0: all targets at once)")
    ap.add_argument("--workspace-gib", type=float, default=0.0, help="toksmith tile workspace (0: its default)")
    ap.add_argument(
        "--split",
        type=Path,
        help="JSON {anchors: [...], targets: [...]} of MiniLM ids (--save-split writes the real transplant's)",
    )
    ap.add_argument(
        "--save-split",
        type=Path,
        help="write the SmolLM2 <- MiniLM WordPiece anchor / new-token ids (canonical-byte matching) here and exit",
    )
    args = ap.parse_args()
    global EMBEDDINGS, DEVICE
    if args.save_embeddings:
        from safetensors.torch import save_file

        save_file({"weight": minilm_embeddings().half().contiguous()}, str(args.save_embeddings))
        print(f"wrote {args.save_embeddings}")
        return
    if args.save_split:
        save_split(args.save_split)
        return
    EMBEDDINGS = args.embeddings
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device available")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# bench/transplant_kernels.py at {head}: {' '.join(sys.argv[1:])}; {os.cpu_count()} CPUs")
    mk_omp = None if args.no_mergekit else load_mergekit_omp()
    if not args.no_donor:
        donor_case(args, mk_omp)
    if args.scaled:
        scaled_case(args, mk_omp)
    if args.topk:
        topk_case(args)


if __name__ == "__main__":
    main()
