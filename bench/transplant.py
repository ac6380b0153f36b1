"""Vocabulary transplant benchmark (issue 5): methods side by side, bits per byte, time and peak RSS.

    python bench/transplant.py --part donor      # SmolLM2 <- MiniLM WordPiece (donor MiniLM): omp, subword-mean
    python bench/transplant.py --part nodonor    # SmolLM2 <- GPT-2 tokenizer: subword-mean, hybrid
    python bench/transplant.py --part langs      # the no-donor models on other FLORES languages
    python bench/transplant.py --part peer       # evaluate mergekit-tokensurgeon's outputs (bench/transplant_peer.py)
    python bench/transplant.py --part tokenadapt # evaluate TokenAdapt's output (bench/transplant_tokenadapt.py)

Each part writes `--json-dir/PART.json`; `--results` then writes the "Transplant" section of bench/RESULTS.md
from whatever parts exist. Transplants run as child processes (`toksmith transplant ...`), timed with their peak
RSS (`os.wait4`); evaluations run in this process, one model loaded at a time.

Protocol (issue 5): documents of 10 FLORES-200 sentences (first N of devtest), each conditioned on the fixed prefix
of `toksmith.evalbpb`, scored on the continuation; corpus BPB = sum of bits / UTF-8 bytes, 95% bootstrap CI
over documents. The donor setup is BERT-normalised (lower-cased, accents stripped) for every model. Code: the first
155,000 characters of the Python standard library's top-level modules (sorted by name) in 2,000-character
documents. Digits: FLORES eng_Latn devtest+dev sentences that contain a digit (first N).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

MIB = 1 << 20


def shared() -> Path:
    from toksmith.corpora import find_shared

    s = find_shared() or Path("/work/shared")
    return s


def flores(lang: str, n: int, digits: bool = False) -> list[str]:
    with zipfile.ZipFile(shared() / "corpora" / "flores200" / "flores200.zip") as z:
        lines = z.read(f"devtest/{lang}.devtest").decode("utf-8").split("\n")
        if digits:
            lines += z.read(f"dev/{lang}.dev").decode("utf-8").split("\n")
    lines = [ln for ln in lines if ln.strip()]
    if digits:
        lines = [ln for ln in lines if re.search(r"[0-9]", ln)]
    return lines[:n]


def python_code(chars: int = 155_000) -> str:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    text = ""
    for f in files:
        text += f.read_text(encoding="utf-8", errors="replace") + "\n"
        if len(text) >= chars:
            break
    return text[:chars]


def run_timed(cmd: list[str]) -> tuple[int, float, float, str]:
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT / "python")}
        )
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    return os.waitstatus_to_exitcode(status), wall, ru.ru_maxrss * 1024 / MIB, text


def load_avg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def transplant_cli(base: Path, tok: str, out: Path, method: str, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "toksmith", "transplant", str(base), tok, str(out), "--method", method]
    cmd += ["--overwrite", "--json", "-q", *extra]
    code, wall, rss, text = run_timed(cmd)
    if code != 0:
        raise SystemExit(f"transplant failed ({code}): {text[-2000:]}")
    rep = json.loads(text[text.index("{") :])
    print(
        f"  transplant {method}: {wall:.1f} s, peak RSS {rss:,.0f} MiB, {rep['anchors']} anchors, "
        f"{rep['initialised']} initialised (load {load_avg()})",
        flush=True,
    )
    return {
        "method": method,
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(rss),
        "anchors": rep["anchors"],
        "initialised": rep["initialised"],
        "init_s": rep["init_seconds"],
        "cmd": " ".join(cmd[1:]),
    }


def evaluate(model_dir: Path, sets: dict[str, list[str]], args: argparse.Namespace) -> dict:
    import transformers

    from toksmith.evalbpb import eval_bpb
    from toksmith.transplant.model_io import load_causal_lm, load_tokenizer

    transformers.logging.set_verbosity_error()
    model = load_causal_lm(model_dir)
    tok = load_tokenizer(model_dir)
    out = {}
    for name, docs in sets.items():
        t0 = time.perf_counter()
        r = eval_bpb(model, docs, tokenizer=tok, batch_tokens=args.batch_tokens)
        out[name] = {**r.to_dict(), "seconds": round(time.perf_counter() - t0, 1)}
        print(
            f"  {model_dir.name} {name}: {r.bpb:.4f} [{r.ci_low:.3f}, {r.ci_high:.3f}] {r.tokens} tokens "
            f"{r.bytes_per_token:.2f} B/tok ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return out


def docs_of_lines(lines: list[str], per: int = 10, normalize: bool = False) -> list[str]:
    from toksmith.transplant.vocab import bert_normalize

    docs = [" ".join(lines[i : i + per]) for i in range(0, len(lines), per)]
    return [bert_normalize(d) for d in docs] if normalize else docs


def part_donor(args: argparse.Namespace) -> dict:
    from toksmith.models import ensure

    base, minilm = ensure("smollm2"), ensure("minilm")
    sets = {"eng (BERT-normalised)": docs_of_lines(flores("eng_Latn", args.sentences), normalize=True)}
    res: dict = {"setup": "SmolLM2-135M-Instruct <- all-MiniLM-L6-v2 WordPiece (donor MiniLM)", "rows": []}
    res["rows"].append({"method": "original SmolLM2", "bpb": evaluate(base, sets, args)})
    for method, extra in (("omp", ["--donor", str(minilm), "--k", "64"]), ("subword-mean", [])):
        out = args.work / f"donor-{method}"
        t = transplant_cli(base, str(minilm), out, method, extra)
        res["rows"].append({**t, "bpb": evaluate(out, sets, args)})
    return res


def nodonor_sets(args: argparse.Namespace) -> dict[str, list[str]]:
    code = python_code(args.code_chars)
    return {
        "eng": docs_of_lines(flores("eng_Latn", args.sentences)),
        "code": [code[i : i + 2000] for i in range(0, len(code), 2000)],
        "digits": docs_of_lines(flores("eng_Latn", args.sentences, digits=True)),
    }


def part_nodonor(args: argparse.Namespace) -> dict:
    from toksmith.models import ensure

    base, minilm = ensure("smollm2"), ensure("minilm")
    gpt2 = str(shared() / "tokenizers" / "gpt2.tiktoken")
    sets = nodonor_sets(args)
    res: dict = {"setup": "SmolLM2-135M-Instruct <- GPT-2 tokenizer (gpt2.tiktoken), no donor", "rows": []}
    res["rows"].append({"method": "original SmolLM2", "bpb": evaluate(base, sets, args)})
    variants = [("subword-mean", "subword-mean", []), ("hybrid", "hybrid", ["--aux-embedder", str(minilm)])]
    if args.hybrid_base:
        variants.append(("hybrid-base", "hybrid", ["--aux-embedder", "base"]))
    for label, method, extra in variants:
        out = args.work / f"nodonor-{label}"
        t = transplant_cli(base, gpt2, out, method, extra)
        res["rows"].append({**t, "label": label, "bpb": evaluate(out, sets, args)})
    return res


def part_langs(args: argparse.Namespace) -> dict:
    from toksmith.models import ensure

    base = ensure("smollm2")
    sets = {lang: docs_of_lines(flores(lang, args.lang_sentences)) for lang in args.langs.split(",")}
    res: dict = {"setup": f"SmolLM2 <- GPT-2, first {args.lang_sentences} FLORES devtest sentences", "rows": []}
    res["rows"].append({"method": "original SmolLM2", "bpb": evaluate(base, sets, args)})
    for label in ("subword-mean", "hybrid"):
        out = args.work / f"nodonor-{label}"
        if not (out / "config.json").exists():
            raise SystemExit(f"{out} missing: run --part nodonor first")
        res["rows"].append({"method": label, "bpb": evaluate(out, sets, args)})
    return res


def part_peer(args: argparse.Namespace) -> dict:
    sets = {"eng (BERT-normalised)": docs_of_lines(flores("eng_Latn", args.sentences), normalize=True)}
    res: dict = {"setup": "mergekit-tokensurgeon 0.1.5 outputs (bench/transplant_peer.py)", "rows": []}
    for d in sorted(Path(args.peer_cache).glob("mergekit-*-k64")):
        if (d / "config.json").exists():
            res["rows"].append({"method": d.name, "bpb": evaluate(d, sets, args)})
    return res


def part_tokenadapt(args: argparse.Namespace) -> dict:
    """TokenAdapt's own output (bench/transplant_tokenadapt.py) on the no-donor sets and the other languages."""
    out = args.work / "tokenadapt"
    if not (out / "config.json").exists():
        raise SystemExit(f"{out} missing: run bench/transplant_tokenadapt.py first")
    run = args.work / "tokenadapt-work" / "run.json"
    t = json.loads(run.read_text()) if run.exists() else {}
    sets = nodonor_sets(args)
    sets.update({lang: docs_of_lines(flores(lang, args.lang_sentences)) for lang in args.langs.split(",") if lang})
    res: dict = {"setup": "SmolLM2-135M-Instruct <- GPT-2 tokenizer, TokenAdapt's own code", "rows": []}
    row = {k: t[k] for k in ("wall_s", "peak_rss_mib") if k in t}
    res["rows"].append({"method": "TokenAdapt", **row, "bpb": evaluate(out, sets, args)})
    return res


def write_results(args: argparse.Namespace) -> None:
    parts = {
        p: json.loads((args.json_dir / f"{p}.json").read_text())
        for p in ("donor", "nodonor", "langs", "peer", "tokenadapt")
        if (args.json_dir / f"{p}.json").exists()
    }
    lines = ["## Transplant", ""]
    lines.append(
        "Vocabulary transplant (issue 5), produced by `python bench/transplant.py --part PART` and "
        "`--results`. Machine: 2-core x86_64 VM shared with other jobs (load averages per part below), "
        "CPU only, torch float32. BPB = corpus bits per UTF-8 byte (95% bootstrap CI over documents)."
    )
    lines.append("")
    for d in parts.values():
        lines.append(f"### {d['setup']}")
        lines.append("")
        lines.append(
            f"Load average before/after: {d.get('load_before', '?')} / {d.get('load_after', '?')}; {d.get('when', '')}"
        )
        lines.append("")
        sets = list(d["rows"][0]["bpb"])
        lines.append(
            "| method | " + " | ".join(f"{s} BPB" for s in sets) + " | B/token | transplant s | peak RSS MiB |"
        )
        lines.append("| --- | " + " | ".join("---" for _ in sets) + " | --- | --- | --- |")
        for r in d["rows"]:
            cells = [
                f"{r['bpb'][s]['bpb']:.3f} [{r['bpb'][s]['ci_low']:.3f}, {r['bpb'][s]['ci_high']:.3f}]" for s in sets
            ]
            bpt = " / ".join(f"{r['bpb'][s]['bytes_per_token']:.2f}" for s in sets)
            name = r.get("label") or r["method"]
            lines.append(
                f"| {name} | " + " | ".join(cells) + f" | {bpt} | {r.get('wall_s', '-')} | "
                f"{r.get('peak_rss_mib', '-')} |"
            )
        cmds = [r["cmd"] for r in d["rows"] if "cmd" in r]
        if cmds:
            lines.append("")
            lines.append("Commands: " + "; ".join(f"`{c}`" for c in cmds))
        lines.append("")
    section = "\n".join(lines).rstrip() + "\n"
    res = ROOT / "bench" / "RESULTS.md"
    text = res.read_text(encoding="utf-8") if res.exists() else ""
    start = text.find("\n## Transplant\n")
    if start >= 0:
        end = text.find("\n## ", start + 5)
        text = text[: start + 1] + section + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    from toksmith.atomic import write_text

    write_text(res, text)
    print(f"wrote the Transplant section of {res}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["donor", "nodonor", "langs", "peer", "tokenadapt"])
    ap.add_argument("--results", action="store_true", help="write bench/RESULTS.md's Transplant section")
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--langs", default="fra_Latn,deu_Latn,spa_Latn,por_Latn,ita_Latn,nld_Latn")
    ap.add_argument("--lang-sentences", type=int, default=100)
    ap.add_argument("--code-chars", type=int, default=155_000, help="characters of standard-library code")
    ap.add_argument("--hybrid-base", action="store_true", help="also the hybrid with the base model as aux space")
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "toksmith-transplant-bench")
    ap.add_argument("--json-dir", type=Path, default=Path(tempfile.gettempdir()) / "toksmith-transplant-bench")
    ap.add_argument("--peer-cache", default="/tmp/toksmith-peer-cache")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.json_dir.mkdir(parents=True, exist_ok=True)
    if args.part:
        before = load_avg()
        t0 = time.perf_counter()
        parts = {
            "donor": part_donor,
            "nodonor": part_nodonor,
            "langs": part_langs,
            "peer": part_peer,
            "tokenadapt": part_tokenadapt,
        }
        res = parts[args.part](args)
        res["load_before"], res["load_after"] = before, load_avg()
        res["when"] = (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) + f", part took {time.perf_counter() - t0:.0f} s"
        )
        (args.json_dir / f"{args.part}.json").write_text(json.dumps(res, indent=1))
    if args.results:
        write_results(args)


if __name__ == "__main__":
    main()
