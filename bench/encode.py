#!/usr/bin/env python3
"""Encoding throughput benchmark: toksmith vs tiktoken (and HF tokenizers for reference).

Encodes ``heldout.txt`` with public tiktoken ranks (cl100k_base and GPT-2 by default) in these modes:

* whole: the whole file as one string;
* per doc: the file split on ``"\\n\\n"`` into documents, encoded one by one in a Python loop;
* batch: toksmith's ``encode_batch(docs, threads=N)`` (N = 1 and 2 by default).

Every measurement is the best of ``--repeat`` runs (GC disabled while timing, as ``timeit`` does).
The ids of every toksmith / HF run are checked against tiktoken's (same mode).
Throughput in MB/s, MB = 10^6 bytes of UTF-8 input.

Examples::

    python bench/encode.py
    python bench/encode.py --encodings cl100k_base --repeat 5
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKENIZERS_DIR = Path("/work/shared/tokenizers")
UNPACK = Path("/work/shared/corpora/unpack")
CORPUS = "gutenberg-en"

# tiktoken 0.14.0 tiktoken_ext/openai_public.py
TIKTOKEN_ENCODINGS: dict[str, dict[str, Any]] = {
    "cl100k_base": {
        "file": "cl100k_base.tiktoken",
        "pat_str": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
        r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        "special_tokens": {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        "explicit_n_vocab": None,
    },
    "gpt2": {
        "file": "gpt2.tiktoken",
        "pat_str": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
        "special_tokens": {"<|endoftext|>": 50256},
        "explicit_n_vocab": 50257,
    },
}


@dataclass
class Row:
    encoding: str
    library: str
    mode: str
    nbytes: int
    seconds: float
    tokens: int
    ids_ok: str  # "yes" / "NO" / "ref"

    @property
    def mbps(self) -> float:
        return self.nbytes / self.seconds / 1e6


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of `repeat` calls (GC collected before and disabled during each), and the last result."""
    best = float("inf")
    out: Any = None
    for _ in range(repeat):
        out = None
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
        finally:
            gc.enable()
        best = min(best, dt)
    return best, out


def unpack_corpus() -> Path:
    out = subprocess.run([str(UNPACK), CORPUS], check=True, capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def toksmith_build() -> str:
    """Which toksmith is measured: git HEAD of its source tree (+dirty) and the extension's mtime."""
    import toksmith._core as core

    so = Path(core.__file__)
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(so.stat().st_mtime))
    try:
        root = so.parents[2]
        head = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%h %s"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        head, dirty = "?", ""
    return f"toksmith {so.name} built {built}; source HEAD {head[:60]}{' (+uncommitted changes)' if dirty else ''}"


def bench_encoding(name: str, text: str, docs: list[str], args: argparse.Namespace, libs: set[str]) -> list[Row]:
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    import toksmith

    spec = TIKTOKEN_ENCODINGS[name]
    path = args.tokenizers / spec["file"]
    kw = {"explicit_n_vocab": spec["explicit_n_vocab"]} if spec["explicit_n_vocab"] else {}
    enc = tiktoken.Encoding(
        name=name,
        pat_str=spec["pat_str"],
        mergeable_ranks=load_tiktoken_bpe(str(path)),
        special_tokens=spec["special_tokens"],
        **kw,
    )
    ts = toksmith.Tokenizer.from_tiktoken(path)
    whole_bytes = len(text.encode("utf-8"))
    docs_bytes = sum(len(d.encode("utf-8")) for d in docs)
    rows: list[Row] = []
    r = args.repeat

    def add(lib: str, mode: str, nbytes: int, secs: float, ids: list[int], ref: list[int] | None) -> None:
        ok = "ref" if ref is None else ("yes" if ids == ref else "NO")
        rows.append(Row(name, lib, mode, nbytes, secs, len(ids), ok))
        print(
            f"  {name:12s} {lib:9s} {mode:22s} {nbytes / secs / 1e6:8.2f} MB/s  ids {ok}",
            file=sys.stderr,
            flush=True,
        )

    def flat(lists: list[list[int]]) -> list[int]:
        return [i for ids in lists for i in ids]

    # tiktoken (reference ids)
    secs, ref_whole = best_of(lambda: enc.encode_ordinary(text), r)
    add("tiktoken", "whole", whole_bytes, secs, ref_whole, None)
    secs, out = best_of(lambda: [enc.encode_ordinary(d) for d in docs], r)
    ref_docs = flat(out)
    add("tiktoken", "per doc", docs_bytes, secs, ref_docs, None)

    # toksmith
    secs, ids = best_of(lambda: ts.encode(text, added_tokens=False), r)
    add("toksmith", "whole", whole_bytes, secs, ids, ref_whole)
    secs, out = best_of(lambda: [ts.encode(d, added_tokens=False) for d in docs], r)
    add("toksmith", "per doc", docs_bytes, secs, flat(out), ref_docs)
    for n in args.threads:
        secs, out = best_of(lambda n=n: ts.encode_batch(docs, added_tokens=False, threads=n), r)
        add("toksmith", f"batch threads={n}", docs_bytes, secs, flat(out), ref_docs)

    # HF tokenizers, from toksmith's tokenizer.json export
    if "hf" in libs:
        from tokenizers import Tokenizer as HFTokenizer

        hf = HFTokenizer.from_str(ts.to_json())
        secs, out = best_of(lambda: hf.encode(text, add_special_tokens=False), r)
        add("hf", "whole", whole_bytes, secs, out.ids, ref_whole)
        secs, out = best_of(lambda: [hf.encode(d, add_special_tokens=False) for d in docs], r)
        add("hf", "per doc", docs_bytes, secs, flat([e.ids for e in out]), ref_docs)
    return rows


def print_table(rows: list[Row]) -> None:
    head = ["encoding", "library", "mode", "MB/s", "tokens", "ids == tiktoken", "vs tiktoken (same input)"]
    ref: dict[tuple[str, str], float] = {}
    for row in rows:
        if row.library == "tiktoken":
            ref[(row.encoding, "whole" if row.mode == "whole" else "docs")] = row.mbps
    table: list[list[str]] = []
    for row in rows:
        base = ref.get((row.encoding, "whole" if row.mode == "whole" else "docs"))
        table.append(
            [
                row.encoding,
                row.library,
                row.mode,
                f"{row.mbps:.2f}",
                f"{row.tokens:,}",
                row.ids_ok,
                f"{row.mbps / base:.2f}x" if base else "-",
            ]
        )
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for t in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(t, widths)) + " |")
    print()
    print(
        "vs tiktoken: MB/s / tiktoken's MB/s on the same input (whole string vs tiktoken whole; per doc and "
        "batch vs tiktoken per doc). >1 = faster than tiktoken. tiktoken is single-threaded in both modes."
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--text", type=Path, default=None, help=f"text file (default: heldout.txt of {CORPUS})")
    ap.add_argument(
        "--encodings",
        default="cl100k_base,gpt2",
        help=f"comma-separated, from {', '.join(TIKTOKEN_ENCODINGS)}",
    )
    ap.add_argument("--tokenizers", type=Path, default=TOKENIZERS_DIR, help="folder with the .tiktoken files")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts for toksmith encode_batch")
    ap.add_argument("--no-hf", action="store_true", help="skip the HF tokenizers reference")
    args = ap.parse_args(argv)
    args.threads = [int(x) for x in args.threads.split(",") if x.strip()]
    names = [n.strip() for n in args.encodings.split(",") if n.strip()]
    bad = [n for n in names if n not in TIKTOKEN_ENCODINGS]
    if bad:
        ap.error(f"unknown encoding(s) {bad}")
    libs = set() if args.no_hf else {"hf"}

    path = args.text or unpack_corpus() / "heldout.txt"
    text = path.read_text(encoding="utf-8")
    docs = text.split("\n\n")
    import tiktoken
    import tokenizers

    import toksmith

    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs; {path}: {len(text.encode('utf-8')):,} "
        f"bytes, {len(docs):,} documents (split on \\n\\n); best of {args.repeat}; toksmith "
        f"{toksmith.__version__}, tiktoken {tiktoken.__version__}, tokenizers {tokenizers.__version__}",
        flush=True,
    )
    print(toksmith_build(), flush=True)
    rows: list[Row] = []
    for name in names:
        rows += bench_encoding(name, text, docs, args, libs)
    print()
    print_table(rows)
    mismatches = [r for r in rows if r.ids_ok == "NO"]
    if mismatches:
        print()
        print("IDS MISMATCH: " + ", ".join(f"{r.encoding}/{r.library}/{r.mode}" for r in mismatches))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
