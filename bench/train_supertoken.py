#!/usr/bin/env python3
"""Supertoken (SuperBPE) training benchmark: toksmith superbpe vs toksmith plain BPE (and HF tokenizers BPE).

Every run is a child process (this script with ``--one SPEC``) so that peak RSS and CPU time are its own (read
with ``os.wait4``). Runs alternate (baseline, superbpe, baseline, ...) ``--repeat`` times and the median is
reported, because the machine this project runs on is shared and timings move with its load.

Reported per run: training wall time and CPU time (user + sys), peak RSS, vocabulary, transition, held-out
bytes/token on ``heldout.txt``, order-0 bits/byte, gzip -9 / zstd -19 / xz sizes of the held-out token-id stream
(little-endian u16, or u32 above 65536 ids), bytes/token on FLORES-200 devtest for a few languages, and for
superbpe whether HF ``tokenizers`` loading the saved ``tokenizer.json`` gives the same ids on the held-out text.

Examples::

    python bench/train_supertoken.py                                  # 8 shards (256 MB), 64k, t = auto and 32768
    python bench/train_supertoken.py --shards 1 --transitions 16384,32768,49152 --repeat 1
    python bench/train_supertoken.py --hf --json out.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

CORPUS = Path("/work/shared/corpora/gutenberg-en")
FLORES = Path("/work/shared/corpora/flores200/flores200.zip")
LANGS = ["eng_Latn", "fra_Latn", "deu_Latn", "rus_Cyrl", "ell_Grek", "arb_Arab", "hin_Deva", "zho_Hans"]
HF_CL100K = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s+\z|\s*[\r\n]|\s+(?!\S)|\s"""
)


def stream_metrics(ids: list[int], raw: bytes, vocab: int) -> dict[str, Any]:
    import zstandard

    width = 2 if vocab <= 65536 else 4
    data = b"".join(i.to_bytes(width, "little") for i in ids)
    c = Counter(ids)
    n = len(ids)
    bits = n * math.log2(n) - sum(v * math.log2(v) for v in c.values())
    return {
        "tokens": n,
        "bytes_per_token": len(raw) / n,
        "order0_bits_per_byte": bits / len(raw),
        "gzip": len(gzip.compress(data, 9)),
        "zstd": len(zstandard.ZstdCompressor(level=19).compress(data)),
        "xz": len(lzma.compress(data)),
    }


def flores_bpt(encode: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    if not FLORES.exists():
        return out
    with zipfile.ZipFile(FLORES) as z:
        for lang in LANGS:
            text = z.read(f"devtest/{lang}.devtest").decode("utf-8")
            lines = text.splitlines(keepends=True)
            n = sum(len(encode(line)) for line in lines)
            out[lang] = len(text.encode("utf-8")) / n
    return out


# --------------------------------------------------------------------------------------------------
# child
# --------------------------------------------------------------------------------------------------
def one(spec: dict[str, Any]) -> dict[str, Any]:
    files = [str(CORPUS / f"train-{i:02d}.txt.zst") for i in range(spec["shards"])]
    heldout = (CORPUS / "heldout.txt").read_text(encoding="utf-8")
    raw = heldout.encode("utf-8")
    res: dict[str, Any] = {"spec": spec}
    if spec["kind"] == "hf":
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

        with tempfile.TemporaryDirectory() as d:
            import zstandard

            plain = []
            for f in files:  # HF reads plain text: decompress first (not timed)
                p = Path(d) / Path(f).stem
                with open(f, "rb") as src, open(p, "wb") as dst:
                    zstandard.ZstdDecompressor(max_window_size=2**31).copy_stream(src, dst)
                plain.append(str(p))
            t0 = time.perf_counter()
            tok = Tokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(HF_CL100K), "isolated"),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
                ]
            )
            tok.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(
                vocab_size=spec["vocab"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
            )
            tok.train(plain, trainer=trainer)
            res["train_s"] = time.perf_counter() - t0

        def encode(t: str) -> list[int]:
            return tok.encode(t, add_special_tokens=False).ids

        res["vocab"] = tok.get_vocab_size()
    else:
        import toksmith

        kw: dict[str, Any] = {"vocab_size": spec["vocab"]}
        if spec["kind"] == "superbpe":
            kw.update(algorithm="superbpe", transition=spec.get("transition"), max_words=spec.get("max_words", 4))
        t0 = time.perf_counter()
        tok = toksmith.train(files, **kw)
        res["train_s"] = time.perf_counter() - t0
        st = tok.stats
        res.update(count_s=st.seconds_count, merge_s=st.seconds_merge, vocab=tok.vocab_size)
        res["details"] = {k: v for k, v in st.details.items() if not k.endswith("_counts")}

        def encode(t: str) -> list[int]:
            return tok.encode(t, added_tokens=False)

        if spec["kind"] == "superbpe":
            from tokenizers import Tokenizer

            with tempfile.TemporaryDirectory() as d:
                tok.save(Path(d) / "tokenizer.json")
                hf = Tokenizer.from_file(str(Path(d) / "tokenizer.json"))
            res["hf_same_ids_heldout"] = hf.encode(heldout, add_special_tokens=False).ids == encode(heldout)
            multi = [tok.id_to_bytes(i) or b"" for i in range(tok.vocab_size)]
            res["multiword_tokens"] = sum(1 for t in multi if len(t.split()) >= 2)
            res["examples"] = [t.decode("utf-8", "replace") for t in multi[-12:]]
    ru = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF)
    res["rss_after_train_mib"] = ru.ru_maxrss / 1024
    ids = encode(heldout)
    res["heldout"] = stream_metrics(ids, raw, res["vocab"])
    res["flores_bytes_per_token"] = flores_bpt(encode)
    return res


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, __file__, "--one", json.dumps(spec), "--out", out.name])
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        if status != 0:
            raise SystemExit(f"child failed: {spec}")
        res = json.load(open(out.name))
    res["child_wall_s"] = wall
    res["child_cpu_s"] = ru.ru_utime + ru.ru_stime
    res["peak_rss_mib"] = ru.ru_maxrss / 1024
    return res


def label(spec: dict[str, Any]) -> str:
    if spec["kind"] == "superbpe":
        t = spec.get("transition") or "auto"
        return f"superbpe t={t} w={spec.get('max_words', 4)}"
    return {"bpe": "toksmith bpe", "hf": "HF tokenizers bpe"}[spec["kind"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=65536)
    ap.add_argument("--transitions", default="auto,32768", help="comma list of transition sizes or 'auto'")
    ap.add_argument("--max-words", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2, help="alternating repetitions (medians reported)")
    ap.add_argument("--hf", action="store_true", help="also train HF tokenizers BPE (once)")
    ap.add_argument("--json", type=Path, help="write all results here")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        json.dump(one(json.loads(a.one)), open(a.out, "w"))
        return

    specs: list[dict[str, Any]] = [{"kind": "bpe", "shards": a.shards, "vocab": a.vocab}]
    for t in a.transitions.split(","):
        t = t.strip()
        specs.append(
            {
                "kind": "superbpe",
                "shards": a.shards,
                "vocab": a.vocab,
                "transition": None if t == "auto" else int(t),
                "max_words": a.max_words or None,
            }
        )
    runs: dict[str, list[dict[str, Any]]] = {label(s): [] for s in specs}
    for r in range(a.repeat):
        for s in specs:
            res = run_child(s)
            runs[label(s)].append(res)
            print(
                f"[{r + 1}/{a.repeat}] {label(s)}: {res['train_s']:.1f} s, cpu {res['child_cpu_s']:.1f} s, "
                f"{res['peak_rss_mib']:.0f} MiB, {res['heldout']['bytes_per_token']:.3f} bytes/token",
                file=sys.stderr,
                flush=True,
            )
    if a.hf:
        s = {"kind": "hf", "shards": a.shards, "vocab": a.vocab}
        runs[label(s)] = [run_child(s)]

    base = runs["toksmith bpe"]
    b_train = statistics.median(x["train_s"] for x in base)
    b_cpu = statistics.median(x["child_cpu_s"] for x in base)
    b_bpt = base[0]["heldout"]["bytes_per_token"]
    print(
        f"\n{platform.node()} ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}); "
        f"{a.shards} shard(s), vocab {a.vocab}"
    )
    print(
        f"{'run':28} {'train s':>8} {'x bpe':>6} {'cpu s':>7} {'x bpe':>6} {'RSS MiB':>8} {'t':>6} "
        f"{'B/tok':>6} {'x bpe':>6} {'bits/B':>6} {'gzip':>9} {'zstd':>9} {'xz':>9} {'HF ids':>6}"
    )
    summary: dict[str, Any] = {}
    for name, rs in runs.items():
        tr = statistics.median(x["train_s"] for x in rs)
        cpu = statistics.median(x["child_cpu_s"] for x in rs)
        rss = max(x["peak_rss_mib"] for x in rs)
        h = rs[0]["heldout"]
        t = rs[0].get("details", {}).get("transition", "")
        same = rs[0].get("hf_same_ids_heldout", "")
        print(
            f"{name:28} {tr:8.1f} {tr / b_train:6.2f} {cpu:7.1f} {cpu / b_cpu:6.2f} {rss:8.0f} {t!s:>6} "
            f"{h['bytes_per_token']:6.3f} {h['bytes_per_token'] / b_bpt:6.3f} {h['order0_bits_per_byte']:6.3f} "
            f"{h['gzip']:9d} {h['zstd']:9d} {h['xz']:9d} {same!s:>6}"
        )
        summary[name] = {"train_s": tr, "cpu_s": cpu, "peak_rss_mib": rss, "runs": rs}
    print("\nFLORES-200 devtest bytes/token (ratio to toksmith bpe):")
    print(f"{'run':28} " + " ".join(f"{lang:>14}" for lang in LANGS))
    fb = base[0]["flores_bytes_per_token"]
    for name, rs in runs.items():
        f = rs[0]["flores_bytes_per_token"]
        print(
            f"{name:28} "
            + " ".join(f"{f.get(lang, 0):7.3f} ({f.get(lang, 0) / fb.get(lang, 1):4.2f})" for lang in LANGS)
        )
    if a.json:
        a.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
