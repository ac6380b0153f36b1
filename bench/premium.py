#!/usr/bin/env python3
"""`toksmith premium` benchmark on FLORES-200: the whole report (204 languages × 5 tokenizers, HTML with plots)
and the counting side by side with the same counting done with tiktoken / HF `tokenizers` in Python loops.

Measured (wall clock, and CPU time of this process, threads included):

* `premium`: `compute_premium` for cl100k_base, GPT-2, SmolLM2-135M, all-MiniLM-L6-v2 and bytes on all lines
  (dev+devtest, per line, 1000 bootstrap resamples, zstd-9 compressor premium) plus the HTML report;
* per tokenizer, the per-line token counts of every line of every language, three ways: toksmith (what
  `premium` runs), the reference library in a Python loop (`enc.encode_ordinary(line)` / `tok.encode(line)`), and
  the reference library's own batch call (`encode_ordinary_batch` / `encode_batch_fast`);
* exactness: every per-line count of toksmith equals the reference library's; with `--petrov CSV` (Petrov et al.'s
  `assets/tokenization_lengths.csv` and `compute/flores_language_map.csv` from their repository) the joined
  totals of cl100k_base, GPT-2, bytes (their ByT5 column) and chars (UTF-32) are compared for all languages.

Examples::

    python bench/premium.py                        # everything (the Python loops take minutes)
    python bench/premium.py --langs 40 --no-loops  # quicker
    python bench/premium.py --screenshot /tmp/premium.png
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from toksmith.analysis.corpus import open_parallel
from toksmith.analysis.premium import compute_premium
from toksmith.analysis.report import render_premium
from toksmith.analysis.tokenizers import load
from toksmith.corpora import find_shared

TIKTOKEN_PATTERNS = {
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
}
TOKENIZERS = ["cl100k_base", "gpt2", "smollm2-135m", "all-minilm-l6-v2", "bytes"]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(f: Callable[[], Any]) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), cpu()
    out = f()
    return out, time.perf_counter() - t0, cpu() - c0


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def references(tokdir: Path) -> dict[str, tuple[Callable[[list[str]], list[int]], Callable[[list[str]], list[int]]]]:
    """name → (Python loop counter, library batch counter)."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    from tokenizers import Tokenizer

    out: dict[str, Any] = {}
    for name, pat in TIKTOKEN_PATTERNS.items():
        enc = tiktoken.Encoding(
            name=name,
            pat_str=pat,
            mergeable_ranks=load_tiktoken_bpe(str(tokdir / f"{name}.tiktoken")),
            special_tokens={},
        )
        out[name] = (
            lambda lines, e=enc: [len(e.encode_ordinary(x)) for x in lines],
            lambda lines, e=enc: [len(x) for x in e.encode_ordinary_batch(lines, num_threads=os.cpu_count() or 1)],
        )
    for name in ("smollm2-135m", "all-minilm-l6-v2"):
        h = Tokenizer.from_file(str(tokdir / name / "tokenizer.json"))
        h.no_padding()
        h.no_truncation()
        out[name] = (
            lambda lines, h=h: [len(h.encode(x, add_special_tokens=False)) for x in lines],
            lambda lines, h=h: [len(e) for e in h.encode_batch_fast(lines, add_special_tokens=False)],
        )
    out["bytes"] = (lambda lines: [len(x.encode("utf-8")) for x in lines], None)
    return out


def petrov_check(csv_path: Path, map_path: Path, flores: Path) -> list[str]:
    code = {r[0].strip(): r[1].strip() for r in list(csv.reader(map_path.open(encoding="utf-8")))[1:]}
    rows = {code[r["Language"]]: r for r in csv.DictReader(csv_path.open(encoding="utf-8"))}
    rep = compute_premium(["cl100k_base", "gpt2", "bytes", "chars"], corpus=flores, joined=True, compressors=None)
    lines = []
    for tok, col in zip(rep.tokenizers, ("cl100k_base", "GPT-2", "ByT5", "UTF-32")):
        ok = sum(int(tok.ctc[i]) == int(rows[lang][col]) for i, lang in enumerate(rep.langs))
        lines.append(f"- joined totals, {tok.name} vs Petrov et al.'s `{col}` column: {ok}/{len(rep.langs)} equal")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--langs", type=int, default=0, help="Use the first N languages (default: all 204).")
    ap.add_argument("--no-loops", action="store_true", help="Skip the (slow) Python-loop references.")
    ap.add_argument("--petrov", type=Path, help="Petrov et al.'s tokenization_lengths.csv (checks joined totals).")
    ap.add_argument("--petrov-map", type=Path, help="Their flores_language_map.csv (default: beside --petrov).")
    ap.add_argument("--screenshot", type=Path, help="Render the HTML in headless Chromium into this PNG.")
    args = ap.parse_args()

    shared = find_shared()
    if shared is None:
        sys.exit("shared data folder not found (set TOKSMITH_SHARED)")
    flores = shared / "corpora" / "flores200" / "flores200.zip"
    tokdir = shared / "tokenizers"
    corp = open_parallel(flores)
    langs = corp.langs[: args.langs] if args.langs else corp.langs
    if "eng_Latn" not in langs:
        langs = ["eng_Latn", *langs]
    print(f"## `toksmith premium` on FLORES-200 ({len(langs)} languages × {len(TOKENIZERS)} tokenizers)\n")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average before: {load_avg()}.\n"
    )

    # 1. the whole report
    def report() -> tuple[Any, str]:
        rep = compute_premium(TOKENIZERS, corpus=flores, langs=langs)
        return rep, render_premium(rep, "html")

    (rep, html), wall, cpu_s = timed(report)
    print("| step | wall s |\n| --- | ---: |")
    for k, v in rep.timings.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| **premium + HTML report** | **{wall:.2f}** (CPU {cpu_s:.1f} s, HTML {len(html) / 1e6:.1f} MB) |\n")

    # 2. counting side by side
    lines = [x for lang in langs for x in corp.lines(lang)]
    mb = sum(len(x.encode("utf-8")) for x in lines) / 1e6
    refs = references(tokdir)
    print(f"Per-line counting of {len(lines):,} lines ({mb:.1f} MB); seconds wall (CPU):\n")
    print("| tokenizer | toksmith | Python loop | library batch | loop / toksmith | exact lines |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in TOKENIZERS:
        tok = load(name)
        mine, w_m, c_m = timed(lambda tok=tok: tok.count(lines))
        loop_f, batch_f = refs[name]
        cell_loop = cell_batch = ratio = "–"
        ref_counts = None
        if not args.no_loops:
            ref_counts, w_l, c_l = timed(lambda f=loop_f: f(lines))
            cell_loop, ratio = f"{w_l:.2f} ({c_l:.1f})", f"{w_l / w_m:.1f}×"
        if batch_f is not None:
            bc, w_b, c_b = timed(lambda f=batch_f: f(lines))
            cell_batch = f"{w_b:.2f} ({c_b:.1f})"
            ref_counts = ref_counts if ref_counts is not None else bc
        exact = "–" if ref_counts is None else f"{int((np.asarray(ref_counts) == mine).sum()):,}/{len(lines):,}"
        print(f"| {name} ({tok.backend}) | {w_m:.2f} ({c_m:.1f}) | {cell_loop} | {cell_batch} | {ratio} | {exact} |")
    print(f"\nLoad average after: {load_avg()}.")

    if args.petrov:
        m = args.petrov_map or args.petrov.parent.parent / "compute" / "flores_language_map.csv"
        print()
        print("\n".join(petrov_check(args.petrov, m, flores)))

    if args.screenshot:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            print("\nchromium not found: no screenshot")
            return
        with tempfile.TemporaryDirectory() as d:
            page = Path(d) / "premium.html"
            page.write_text(html, encoding="utf-8")
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    "--virtual-time-budget=20000",
                    f"--screenshot={args.screenshot}",
                    "--window-size=1280,2400",
                    page.as_uri(),
                ],
                capture_output=True,
                timeout=300,
                check=False,
            )
        print(f"\nscreenshot: {args.screenshot} ({args.screenshot.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
