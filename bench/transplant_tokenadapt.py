"""The TokenAdapt peer for issue 5: its own code, run here on the no-donor setup (SmolLM2-135M-Instruct <- GPT-2).

    python bench/transplant_tokenadapt.py --tokenadapt DIR [--faiss-site DIR] [--out DIR]

DIR is a checkout of TokenAdapt (github.com/Tinycompany-AI/tokenadapt or a fork; its `src/transplant.py`); nothing
of it is copied into this repository. It needs `faiss-cpu` (`pip install --target SITE faiss-cpu` and
`--faiss-site SITE`, or installed). The run is TokenAdapt's `main(args)` in a child process with the settings the
issue measured (MiniLM as auxiliary embedder, temperature 0.6, weight 0.3, top-k 3, float32), with one change of
environment, not of its code: its last step uploads the model to the Hugging Face Hub (`push_to_hub`), which
this machine cannot reach, so `push_to_hub` of models and tokenizers is pointed at `save_pretrained(OUT)`.
The new tokenizer is GPT-2's, written as an HF folder from `../shared/tokenizers/gpt2.tiktoken` (the same
conversion `toksmith transplant` uses). Prints wall time and peak RSS of the child; then evaluate the output with
`python bench/transplant.py --part tokenadapt` (same sets and scoring as `--part nodonor`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

MIB = 1 << 20

BOOT = r"""
import os, runpy, sys, transformers
out = sys.argv.pop(1)
sys.path.insert(0, os.path.dirname(sys.argv[1]))  # its modules import each other by bare name
def save(self, *a, **k):
    self.save_pretrained(out)
transformers.PreTrainedModel.push_to_hub = save
transformers.PreTrainedTokenizerBase.push_to_hub = save
sys.argv[0] = sys.argv[1]
del sys.argv[1]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def gpt2_folder(dest: Path) -> Path:
    from toksmith.corpora import find_shared
    from toksmith.transplant.model_io import load_tokenizer

    tok = load_tokenizer(find_shared() / "tokenizers" / "gpt2.tiktoken")
    dest.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(dest))
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenadapt", type=Path, required=True, help="a checkout of TokenAdapt (holds src/transplant.py)")
    ap.add_argument("--faiss-site", type=Path, help="a folder holding faiss (pip install --target)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/toksmith-transplant-bench/tokenadapt"))
    ap.add_argument("--temperature", type=float, default=0.6)
    ap.add_argument("--weight", type=float, default=0.3)
    ap.add_argument("--top-k", type=int, default=3)
    args = ap.parse_args()
    script = args.tokenadapt / "src" / "transplant.py"
    if not script.exists():
        sys.exit(f"error: {script} not found")
    from toksmith.models import ensure

    base, minilm = ensure("smollm2"), ensure("minilm")
    work = args.out.parent / (args.out.name + "-work")
    work.mkdir(parents=True, exist_ok=True)
    new_tok = gpt2_folder(work / "gpt2-tokenizer")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if args.faiss_site:
        env["PYTHONPATH"] = os.pathsep.join(x for x in (str(args.faiss_site), env.get("PYTHONPATH")) if x)
    cmd = [
        sys.executable, "-c", BOOT, str(args.out), str(script),
        "--model_path", str(base), "--new_tokenizer_path", str(new_tok), "--embedding_model_path", str(minilm),
        "--new_model_name", "local/tokenadapt-out", "--hf_token", "unused",
        "--temperature", str(args.temperature), "--weight", str(args.weight), "--top_k", str(args.top_k),
        "--dtype", "fp32",
    ]  # fmt: skip
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    t0 = time.perf_counter()
    with open(work / "log.txt", "w") as fh:
        p = subprocess.Popen(cmd, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    load2 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    ok = code == 0 and (args.out / "config.json").exists()
    row = {
        "method": "TokenAdapt (its own code)",
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(ru.ru_maxrss * 1024 / MIB),
        "exit": code,
        "output": str(args.out) if ok else None,
        "log": str(work / "log.txt"),
        "load_before": load,
        "load_after": load2,
        "settings": {"temperature": args.temperature, "weight": args.weight, "top_k": args.top_k},
    }
    print(json.dumps(row, indent=1))
    (work / "run.json").write_text(json.dumps(row, indent=1))
    if not ok:
        sys.exit(f"TokenAdapt failed (exit {code}); see {work / 'log.txt'}")


if __name__ == "__main__":
    main()
