"""The peer for issue 5: mergekit-tokensurgeon end to end on the donor setup (SmolLM2-135M-Instruct ← MiniLM WordPiece).

    python bench/transplant_peer.py [--mergekit /tmp/mergekit-venv/bin/mergekit-tokensurgeon] [--cache DIR]
                                    [--methods omp subword] [--k 64]

mergekit needs its own virtual environment (it pins other library versions):
`python -m venv --system-site-packages /tmp/mergekit-venv && /tmp/mergekit-venv/bin/pip install mergekit` (0.1.5).

Base: SmolLM2-135M-Instruct converted to a plain HF directory (`python -m toksmith.models smollm2`). Donor:
all-MiniLM-L6-v2 (`python -m toksmith.models minilm`), a `BertModel` directory without a head.

mergekit 0.1.5 refuses that donor as it is: its BertModel architecture has no output-embedding weight, and
`get_stuff` then dereferences `None` (`AttributeError: 'NoneType' object has no attribute 'name'`). The edit this
script makes, in a copy of the donor (never in mergekit or the cache): config.json's `architectures` becomes
`["BertForMaskedLM"]` and every tensor gets the `bert.` prefix that architecture expects; its optional
`cls.predictions.decoder.weight` is tied to `bert.embeddings.word_embeddings.weight`, so mergekit reads the word
embeddings as the donor head. SmolLM2 has tied embeddings, so that head is loaded but not used.

Each method runs as `mergekit-tokensurgeon BASE DONOR OUT -a METHOD -k K -v` (CLI defaults otherwise: batches of
512 tokens, CPU, no prefix/byte matching) in a child process; printed: wall time and the child's peak RSS
(`os.wait4`), mergekit's own token-match counts from its log, and where the output directory is. Outputs go to
`--cache` (default /tmp/toksmith-peer-cache), one directory per method, replaced on each run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MIB = 1 << 20


def model_dir(name: str) -> Path:
    try:
        from toksmith.models import ensure

        return Path(ensure(name))
    except ImportError:
        p = (
            Path.home()
            / ".cache"
            / "toksmith"
            / "models"
            / {"smollm2": "smollm2-135m-instruct"}.get(name, "all-minilm-l6-v2")
        )
        if not p.exists():
            sys.exit(f"error: {p} missing and toksmith.models not available to convert it")
        return p


def donor_as_masked_lm(src: Path, dest: Path) -> Path:
    """A copy of the BERT donor that mergekit 0.1.5 accepts (see the module docstring)."""
    from safetensors.torch import load_file, save_file

    if (dest / "config.json").exists():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in ("model.safetensors", "config.json"):
            shutil.copy2(f, tmp / f.name)
    cfg = json.loads((src / "config.json").read_text())
    cfg["architectures"] = ["BertForMaskedLM"]
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2))
    sd = load_file(str(src / "model.safetensors"))
    save_file({f"bert.{k}": v.contiguous() for k, v in sd.items()}, str(tmp / "model.safetensors"))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def run(cmd: list[str], log: Path) -> tuple[int, float, int]:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    return os.waitstatus_to_exitcode(status), wall, ru.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mergekit", default="/tmp/mergekit-venv/bin/mergekit-tokensurgeon")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/toksmith-peer-cache"))
    ap.add_argument("--methods", nargs="+", default=["omp", "subword"])
    ap.add_argument("--k", type=int, default=64)
    args = ap.parse_args()
    if not Path(args.mergekit).exists():
        sys.exit(f"error: {args.mergekit} not found (see --help for the venv recipe)")
    base = model_dir("smollm2")
    donor = donor_as_masked_lm(model_dir("minilm"), args.cache / "minilm-as-bert-masked-lm")
    print(f"base {base}\ndonor (edited copy) {donor}")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"load average before: {load}")
    print("| method | wall s | peak RSS MiB | exact matches | to approximate | exit | output |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for method in args.methods:
        out = args.cache / f"mergekit-{method}-k{args.k}"
        shutil.rmtree(out, ignore_errors=True)
        log = args.cache / f"mergekit-{method}-k{args.k}.log"
        cmd = [args.mergekit, str(base), str(donor), str(out), "-a", method, "-k", str(args.k), "-v"]
        code, wall, peak = run(cmd, log)
        text = log.read_text(errors="replace")
        exact = re.findall(r"Exact matches: (\d+)", text)
        approx = re.findall(r"Tokens to approximate: (\d+)", text)
        print(
            f"| {method} | {wall:.1f} | {peak / MIB:,.0f} | {'/'.join(exact) or '-'} | {'/'.join(approx) or '-'} "
            f"| {code} | {out if code == 0 else log} |",
            flush=True,
        )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"load average after: {load}")
    print(f"command lines: {args.mergekit} BASE DONOR OUT -a METHOD -k {args.k} -v")


if __name__ == "__main__":
    main()
