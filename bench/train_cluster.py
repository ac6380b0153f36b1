#!/usr/bin/env python3
"""Training with counting on a Ray cluster vs local, on the gutenberg-en shards (bench for issue 9).

Starts its own two-node Ray cluster on 127.0.0.1 (`ray start --head` + `ray start --address`, one CPU each, so the
two workers share the same 2 cores as the local run) and stops it at the end. Every training run is a child
process of this script (`--one ...`), so its peak RSS is its own (`os.wait4`); Ray tasks report the peak RSS of
their worker process during that task (VmHWM, reset at the task's start through /proc/self/clear_refs).

Measures:
1. tokenizer.json of engine=ray (2 workers) == engine=local, byte for byte, with and without a memory budget;
2. time: counting phase and end to end, ray / local on the same 2 cores;
3. memory: peak RSS of the driver and of each worker, with no budget and with a budget below a shard's count
   table (the tasks spill sorted runs);
4. count-table growth: distinct chunks (types) vs chunks (tokens) on 1..8 shards, a Heaps' law fit
   V = K * N^beta, and an extrapolation to 100 GB and 1 TB with the driver memory the merge loop would need
   (fitted from the local runs' driver RSS per type).

    python bench/train_cluster.py                        # all of it, writes bench/RESULTS_cluster.md
    python bench/train_cluster.py --vocab 32768 --repeat 2 --budget 4MB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CORPUS = Path("/work/shared/corpora/gutenberg-en")


def shards(n: int) -> list[str]:
    files = sorted(str(p) for p in CORPUS.glob("train-*.txt.zst"))
    if len(files) < n:
        sys.exit(f"need {n} shards in {CORPUS}, found {len(files)}")
    return files[:n]


# ------------------------------------------------------------------------------------------------ children


def one_train(args: argparse.Namespace) -> dict[str, Any]:
    import toksmith
    from toksmith.train import peak_rss_mb

    rss0 = peak_rss_mb()
    files = shards(args.shards)
    t0 = time.perf_counter()
    kw: dict[str, Any] = {"vocab_size": args.vocab, "pretokenizer": "cl100k", "threads": args.threads}
    if args.engine == "ray":
        kw.update(engine="ray", address=args.address, threads=None)
    tok = toksmith.train(files, memory_budget=args.budget, **kw)
    total = time.perf_counter() - t0
    js = tok.to_json()
    Path(args.save).write_text(js, encoding="utf-8")
    st = tok.stats
    out = {
        "engine": args.engine,
        "shards": args.shards,
        "budget": args.budget,
        "seconds_total": total,
        "seconds_count": st.seconds_count,
        "seconds_merge": st.seconds_merge,
        "bytes": st.bytes,
        "types": st.unique_chunks,
        "merges": st.merges,
        "spill_runs": st.spill_runs,
        "sha256": hashlib.sha256(js.encode()).hexdigest(),
        "rss_before_mb": rss0,
        "peak_rss_mb_self": peak_rss_mb(),
    }
    reports = getattr(tok, "_ray_reports", None)
    if reports is not None:
        out["tasks"] = reports
    return out


def one_count(args: argparse.Namespace) -> dict[str, Any]:
    """Count only (no training): one Rust counter over all shards, the work of one worker on a big shard."""
    from toksmith import _core
    from toksmith.distributed import parse_size
    from toksmith.train import peak_rss_mb

    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    c = _core.Counter("cl100k", args.threads, parse_size(args.budget))
    for f in shards(args.shards):
        c.feed_file(f)
    secs = time.perf_counter() - t0
    est = c.table_bytes_estimate
    peak_counting = peak_rss_mb()
    types = c.unique
    return {
        "budget": args.budget,
        "seconds": secs,
        "types": types,
        "rss_before_mb": rss0,
        "peak_rss_counting_mb": peak_counting,
        "table_estimate_end": est,
        "peak_table_estimate": c.peak_table_estimate,
        "spill_runs": c.spill_runs,
        "spilled_bytes": c.spilled_bytes,
    }


def one_tasks(args: argparse.Namespace) -> dict[str, Any]:
    """The Ray task function run shard after shard in one plain process (no Ray): its own memory per task."""
    from toksmith.distributed import Shard, count_shard, parse_size

    reps = []
    for f in shards(args.shards):
        rep, _ = count_shard(Shard("file", f, paths=[f]), "cl100k", "text", parse_size(args.budget), 1)
        reps.append(rep)
    return {"tasks": reps}


def one_heaps(args: argparse.Namespace) -> dict[str, Any]:
    from toksmith import _core

    c = _core.Counter("cl100k", args.threads)
    points = []
    for i, f in enumerate(shards(args.shards), 1):
        c.feed_file(f)
        info = _core.table_info(c.to_table_bytes())
        points.append(
            {
                "shards": i,
                "bytes": info["bytes"],
                "tokens": info["total"],
                "types": info["entries"],
                "table_bytes_estimate": c.table_bytes_estimate,
                "table_bytes_serialized": len(c.to_table_bytes()),
            }
        )
        print(f"  heaps: {i} shard(s): {info['total']:,} tokens, {info['entries']:,} types", file=sys.stderr)
    return {"points": points}


def child_main(args: argparse.Namespace) -> None:
    if args.one == "heaps":
        res = one_heaps(args)
    elif args.one == "count":
        res = one_count(args)
    elif args.one == "tasks":
        res = one_tasks(args)
    else:
        # Let the ray path hand back the per-task reports: wrap count_ray to keep them.
        import toksmith.distributed as d
        import toksmith.train as tr

        keep: list[dict] = []
        phases: dict[str, float] = {}
        orig = d.count_ray

        def spy(*a: Any, **k: Any) -> Any:
            r = orig(*a, **k)
            keep.extend(r.reports)
            phases.update(connect=r.seconds_connect, tasks=r.seconds_tasks, driver_merge=r.seconds_driver_merge)
            return r

        d.count_ray = spy
        res = one_train(args)
        if keep:
            res["tasks"] = keep
            res["phases"] = phases
        _ = tr
    Path(args.result).write_text(json.dumps(res), encoding="utf-8")


def run_child(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result = f.name
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, __file__, *argv, "--result", result], env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"child {argv} failed with {status}")
    res = json.loads(Path(result).read_text())
    os.unlink(result)
    res["peak_rss_mb"] = ru.ru_maxrss / 1024
    res["child_wall"] = wall
    return res


# ------------------------------------------------------------------------------------------------ analysis


def fit_heaps(points: list[dict]) -> tuple[float, float]:
    xs = [math.log(p["tokens"]) for p in points]
    ys = [math.log(p["types"]) for p in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    beta = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    k = math.exp(my - beta * mx)
    return k, beta


def mb(x: float) -> str:
    return f"{x:,.0f} MB"


def human_bytes(b: float) -> str:
    for unit, s in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if b >= s:
            return f"{b / s:,.1f} {unit}"
    return f"{b:,.0f} B"


def worker_peaks(tasks: list[dict]) -> dict[int, float]:
    peaks: dict[int, float] = {}
    for t in tasks:
        peaks[t["pid"]] = max(peaks.get(t["pid"], 0.0), t["peak_rss_mb"])
    return peaks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2, help="threads of the local run (the cluster has 2 CPUs)")
    ap.add_argument("--budget", default="4MB", help="memory budget below one shard's count table")
    ap.add_argument("--repeat", type=int, default=1, help="timing runs per engine (best is reported)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_cluster.md")))
    ap.add_argument("--json", default=None)
    ap.add_argument("--skip-heaps", action="store_true")
    # child mode
    ap.add_argument("--one", choices=["local", "ray", "heaps", "count", "tasks"], help=argparse.SUPPRESS)
    ap.add_argument("--engine", default="local", help=argparse.SUPPRESS)
    ap.add_argument("--address", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--save", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-budget", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        args.budget = args.child_budget
        child_main(args)
        return

    from toksmith.raycluster import LocalRayCluster

    tmp = Path(tempfile.mkdtemp(prefix="tsbench-"))
    load0 = os.getloadavg()[0]
    base = ["--shards", str(args.shards), "--vocab", str(args.vocab), "--threads", str(args.threads)]
    runs: dict[str, list[dict]] = {"local": [], "ray": [], "ray_budget": [], "local_budget": []}
    cmds = [" ".join([sys.executable, *sys.argv])]

    def local(name: str, budget: str | None = None, n: int | None = None) -> dict:
        argv = ["--one", "local", *base, "--save", str(tmp / f"{name}.json")]
        if n is not None:
            argv[argv.index("--shards") + 1] = str(n)
        if budget:
            argv += ["--child-budget", budget]
        r = run_child(argv)
        print(f"{name}: {r['seconds_total']:.1f} s (count {r['seconds_count']:.1f} s), {r['peak_rss_mb']:.0f} MB",
              file=sys.stderr)  # fmt: skip
        return r

    cluster = LocalRayCluster(nodes=2, cpus_per_node=1, memory_per_node=4 << 30, object_store_memory=512 << 20)
    t0 = time.perf_counter()
    cluster.start()
    cluster_start = time.perf_counter() - t0
    print(f"cluster up at {cluster.address} in {cluster_start:.1f} s", file=sys.stderr)
    try:

        def ray_run(name: str, budget: str | None = None) -> dict:
            argv = ["--one", "ray", *base, "--engine", "ray", "--address", cluster.address]
            argv += ["--save", str(tmp / f"{name}.json")]
            if budget:
                argv += ["--child-budget", budget]
            r = run_child(argv, env=dict(os.environ))
            peaks = sorted(round(v) for v in worker_peaks(r["tasks"]).values())
            t, c, d = r["seconds_total"], r["seconds_count"], r["peak_rss_mb"]
            print(f"{name}: {t:.1f} s (count {c:.1f} s), driver {d:.0f} MB, workers {peaks} MB", file=sys.stderr)
            return r

        # Warm-up: the first tasks on a fresh cluster start worker processes (not counted).
        ray_run("warmup")
        for _ in range(args.repeat):
            runs["local"].append(local("local"))
            runs["ray"].append(ray_run("ray"))
            runs["ray_budget"].append(ray_run("ray_budget", args.budget))
            runs["local_budget"].append(local("local_budget", args.budget))
    finally:
        cluster.stop()
    one_shard = local("local_1shard", n=1)
    counts = [run_child(["--one", "count", *base, *(["--child-budget", b] if b else [])]) for b in (None, args.budget)]
    for r in counts:
        print(f"count only, budget {r['budget']}: {r['peak_rss_mb']:.0f} MB, {r['spill_runs']} runs", file=sys.stderr)
    plain_tasks = [
        run_child(["--one", "tasks", *base, *(["--child-budget", b] if b else [])]) for b in (None, args.budget)
    ]
    heaps = None if args.skip_heaps else run_child(["--one", "heaps", *base])

    load = (load0, os.getloadavg()[0])
    report = build_report(args, runs, one_shard, heaps, cluster_start, tmp, cmds, counts, plain_tasks, load)
    shutil.rmtree(tmp, ignore_errors=True)
    Path(args.out).write_text(report, encoding="utf-8")
    print(report)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "one_shard": one_shard, "heaps": heaps}, indent=1))


def build_report(
    args: argparse.Namespace,
    runs: dict[str, list[dict]],
    one_shard: dict,
    heaps: dict | None,
    cluster_start: float,
    tmp: Path,
    cmds: list[str],
    counts: list[dict],
    plain_tasks: list[dict],
    runs_load: tuple[float, float] = (0.0, 0.0),
) -> str:
    best = {k: min(v, key=lambda r: r["seconds_total"]) for k, v in runs.items() if v}
    loc, ray_, rb, lb = best["local"], best["ray"], best["ray_budget"], best["local_budget"]
    same = {
        k: (tmp / f"{k}.json").read_bytes() == (tmp / "local.json").read_bytes()
        for k in ("ray", "ray_budget", "local_budget")
    }
    gb = loc["bytes"] / 1e6
    L: list[str] = []
    L.append("# Counting on a Ray cluster (issue 9)\n")
    L.append(
        f"Machine: {platform.node()}, {os.cpu_count()} cores (shared with other engineers' work; timings are noisy), "
        f"Python {platform.python_version()}, ray {__import__('ray').__version__}. Corpus: gutenberg-en, "
        f"{args.shards} zstd shards, {gb:,.0f} MB of text; pre-tokenizer cl100k; vocabulary {args.vocab}.\n"
    )
    L.append("Command:\n\n```sh\n" + "\n".join(cmds) + "\n```\n")
    L.append(
        "Cluster: `ray start --head --node-ip-address=127.0.0.1 --num-cpus=1` and one "
        "`ray start --address=127.0.0.1:PORT --num-cpus=1` node (so 2 workers on the same 2 cores as local, "
        "which counts with 2 threads); started in "
        f"{cluster_start:.0f} s (not included below), stopped at the end. A warm-up run started the worker processes.\n"
    )
    L.append("## Same tokenizer\n")
    L.append("| run | tokenizer.json sha256 | identical to local |")
    L.append("|---|---|---|")
    L.append(f"| local, 2 threads | `{loc['sha256'][:16]}…` | — |")
    L.append(f"| ray, 2 workers | `{ray_['sha256'][:16]}…` | {'yes' if same['ray'] else '**NO**'} |")
    yes = {k: "yes" if v else "**NO**" for k, v in same.items()}
    L.append(f"| ray, 2 workers, budget {args.budget} | `{rb['sha256'][:16]}…` | {yes['ray_budget']} |")
    L.append(
        f"| local, budget {args.budget} | `{lb['sha256'][:16]}…` | {'yes' if same['local_budget'] else '**NO**'} |"
    )
    L.append("")
    L.append(f"## Time ({args.repeat} runs each, interleaved local/ray; median, then best)\n")
    L.append(
        f"Load average (1 min) from other work on the machine: {runs_load[0]:.1f} at the start, {runs_load[1]:.1f} "
        "at the end. With that much foreign load the spread between repeats is larger than the difference between "
        "the engines; the local run also has its reader/decompressor thread competing with its 2 counting threads "
        'on the 2 cores. Read the ratio as "no measurable overhead from Ray at this size", not as a speed-up.\n'
    )
    L.append("| run | counting (median) | merge loop (median) | end to end (median) | end to end (best) |")
    L.append("|---|---:|---:|---:|---:|")

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    labels = {
        "local": "local, 2 threads",
        "ray": "ray, 2 workers",
        "ray_budget": f"ray, 2 workers, budget {args.budget}",
        "local_budget": f"local, budget {args.budget}",
    }
    for name, label in labels.items():
        if runs[name]:
            L.append(
                f"| {label} | {med(name, 'seconds_count'):.1f} s | {med(name, 'seconds_merge'):.1f} s | "
                f"{med(name, 'seconds_total'):.1f} s | {best[name]['seconds_total']:.1f} s |"
            )
    L.append("")
    r_med = med("ray", "seconds_total") / med("local", "seconds_total")
    r_best = best["ray"]["seconds_total"] / best["local"]["seconds_total"]
    c_med = med("ray", "seconds_count") / med("local", "seconds_count")
    L.append(
        f"**ray / local, end to end: {r_med:.2f}× (medians), {r_best:.2f}× (bests); counting phase alone "
        f"{c_med:.2f}× (medians).** All runs (end to end): local "
        + ", ".join(f"{r['seconds_total']:.1f}" for r in runs["local"])
        + " s; ray "
        + ", ".join(f"{r['seconds_total']:.1f}" for r in runs["ray"])
        + " s.\n"
    )
    ph = [r["phases"] for r in runs["ray"]]
    task_sum = statistics.median(sum(t["seconds"] for t in r["tasks"]) for r in runs["ray"])
    L.append(
        "Where ray's counting time goes (medians): connecting the driver "
        f"{statistics.median(p['connect'] for p in ph):.1f} s; the shard tasks until the last report "
        f"{statistics.median(p['tasks'] for p in ph):.1f} s, of which the tasks themselves add up to {task_sum:.1f} s "
        "of worker time on 2 workers (the rest: starting this job's worker processes — Ray does not share workers "
        "between jobs — and scheduling); the tree of merge tasks and the driver's merge into one Counter "
        f"{statistics.median(p['driver_merge'] for p in ph):.1f} s. Each run is a fresh driver process, as a "
        "`toksmith train` command is.\n"
    )
    L.append("## Memory (peak RSS)\n")
    est = max(t["peak_table_estimate"] for t in rb["tasks"])
    tab = [t["table_bytes"] for t in ray_["tasks"]]

    def task_mem(tasks: list[dict]) -> str:
        d = [t["peak_rss_mb"] - t["rss_before_mb"] for t in tasks]
        return (
            f"{max(t['peak_rss_mb'] for t in tasks):,.0f} MB | +{min(d):,.0f}…+{max(d):,.0f} MB | "
            f"{min(t['rss_before_mb'] for t in tasks):,.0f}→{max(t.get('rss_after_mb', 0) for t in tasks):,.0f} MB"
        )

    L.append(
        "| run | driver peak | worker peak (max over tasks) | a task's peak over the RSS at its start | "
        "worker RSS between tasks (first→last) | spilled runs |"
    )
    L.append("|---|---:|---:|---:|---:|---:|")
    L.append(f"| local, 2 threads | {mb(loc['peak_rss_mb'])} | — | — | — | 0 |")
    L.append(f"| local, budget {args.budget} | {mb(lb['peak_rss_mb'])} | — | — | — | {lb['spill_runs']} |")
    L.append(f"| ray, no budget | {mb(ray_['peak_rss_mb'])} | {task_mem(ray_['tasks'])} | 0 |")
    L.append(
        f"| ray, budget {args.budget} | {mb(rb['peak_rss_mb'])} | {task_mem(rb['tasks'])} | "
        f"{sum(t['spill_runs'] for t in rb['tasks'])} |"
    )
    for r, label in zip(plain_tasks, ("no budget", f"budget {args.budget}")):
        L.append(
            f"| the task function {args.shards}× in one plain process, {label} | — | {task_mem(r['tasks'])} | "
            f"{sum(t['spill_runs'] for t in r['tasks'])} |"
        )
    L.append("")
    L.append(
        "A task's own need (peak over its starting RSS) is about 70 MB for a 32 MiB zstd shard: the decoder's "
        "32 MiB window (the shards are compressed with a 32 MiB window), 16 MiB of text waiting to be cut at a "
        "safe point, 16 MiB of read-ahead, plus the count maps (≈10 MB without a budget, ≤ the budget + one "
        "block's growth with it). The budget bounds only the count maps, so with 32 MiB shards its effect on a "
        "task's peak is within the noise; the counting-only table below (one counter over all shards, maps of "
        "42 MB) shows it. Between tasks a Ray worker keeps more memory than the same function run shard after "
        "shard in a plain process (last column).\n"
    )
    sizes = [t["table_estimate"] for t in ray_["tasks"]]
    L.append(
        f"One shard's count table: {len(tab)} tasks, serialized {human_bytes(min(tab))}–{human_bytes(max(tab))} "
        f"(what travels to the reduce), in memory before spilling up to {human_bytes(est)} under the budget "
        f"(estimate; {human_bytes(max(sizes) if any(sizes) else 0)} without a budget). The driver must hold "
        f"every distinct chunk for the merge loop, so the budget bounds the counters (workers, and a local run's "
        f"counting), not the driver's merge loop.\n"
    )
    L.append(
        f"Counting only (no merge loop), one counter over all {args.shards} shards ({args.threads} threads) — the work "
        "of one worker given a large shard:\n"
    )
    L.append(
        "| budget | peak RSS | RSS before counting | count maps at the end (est.) | spilled runs | spilled bytes |"
    )
    L.append("|---|---:|---:|---:|---:|---:|")
    for r in counts:
        L.append(
            f"| {r['budget'] or 'none'} | {mb(r['peak_rss_mb'])} | {mb(r['rss_before_mb'])} | "
            f"{human_bytes(r['table_estimate_end'])} | {r['spill_runs']} | {human_bytes(r['spilled_bytes'])} |"
        )
    L.append("")
    if heaps:
        pts = heaps["points"]
        k, beta = fit_heaps(pts)
        tpb = pts[-1]["tokens"] / pts[-1]["bytes"]
        # Driver memory for the merge loop: RSS = a + b * types from the 1-shard and n-shard local runs.
        b = (loc["peak_rss_mb"] - one_shard["peak_rss_mb"]) / max(1, loc["types"] - one_shard["types"])
        a = loc["peak_rss_mb"] - b * loc["types"]
        ser = pts[-1]["table_bytes_serialized"] / pts[-1]["types"]
        L.append("## Count-table growth (Heaps' law)\n")
        L.append(
            "| shards | text | tokens (chunks) | types (distinct chunks) | table in memory (est.) | serialized table |"
        )
        L.append("|---:|---:|---:|---:|---:|---:|")
        for p in pts:
            L.append(
                f"| {p['shards']} | {human_bytes(p['bytes'])} | {p['tokens']:,} | {p['types']:,} | "
                f"{human_bytes(p['table_bytes_estimate'])} | {human_bytes(p['table_bytes_serialized'])} |"
            )
        L.append("")
        L.append(
            f"Fit V = K·N^β over the {len(pts)} points: K = {k:.2f}, **β = {beta:.3f}**; {tpb:.3f} chunks per byte. "
            f"Driver RSS of the local runs: {one_shard['peak_rss_mb']:.0f} MB at {one_shard['types']:,} types "
            f"(1 shard), {loc['peak_rss_mb']:.0f} MB at {loc['types']:,} types ({args.shards} shards) → about "
            f"{b * 2**20:,.0f} "
            f"bytes per type for counting + the merge loop (vocabulary {args.vocab}); serialized tables take "
            f"{ser:.1f} bytes per type.\n"
        )
        L.append("| corpus | tokens | types (extrapolated) | driver memory for the merge loop | serialized table |")
        L.append("|---:|---:|---:|---:|---:|")
        for label, nbytes in (("this corpus", pts[-1]["bytes"]), ("10 GB", 1e10), ("100 GB", 1e11), ("1 TB", 1e12)):
            n = nbytes * tpb
            v = k * n**beta
            L.append(f"| {label} | {n:,.3g} | {v:,.3g} | {human_bytes((a + b * v) * 2**20)} | {human_bytes(v * ser)} |")
        L.append("")
        L.append(
            "The extrapolation assumes the corpus keeps Gutenberg's vocabulary growth; web text (URLs, code, many "
            "languages, noise) grows faster (larger β), so read these as lower bounds. Pruning rare chunks "
            "(`prune_below`) cuts the driver's table but makes training approximate (see docs/DISTRIBUTED.md).\n"
        )
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
