#!/usr/bin/env python3
"""Byte-level BPE training benchmark: toksmith vs HF tokenizers, rustbpe and SentencePiece.

All trainers run in ONE invocation on the same files. Each trainer runs in its own child process
(this script with ``--one NAME``) so that the peak RSS of one cannot pollute another; the parent reads
the child's rusage with ``os.wait4`` (per-child ``ru_maxrss``), and the child also reports its own peak
right after training (before encoding the held-out file) and its RSS before training (interpreter +
library import baseline).

Reported per trainer: training wall time (inside the child, only the training call), peak RSS,
vocabulary size reached, bytes/token on ``heldout.txt`` (encoded with the trained tokenizer's own
encoder) and ratios vs toksmith. For toksmith also its own split of time (count vs merge).

Examples::

    python bench/train_bpe.py --shards 1 --vocab 32768
    python bench/train_bpe.py --shards 8 --vocab 131072 --only toksmith,hf,rustbpe
    python bench/train_bpe.py --shards 1 --pattern gpt2 --json out.json
"""

from __future__ import annotations

import argparse
import array
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

TRAINERS = ("toksmith", "hf", "rustbpe", "sentencepiece")
UNPACK = Path("/work/shared/corpora/unpack")
CORPUS = "gutenberg-en"

# Split patterns. tiktoken's own (possessive quantifiers, `$`) are used by toksmith presets and rustbpe
# (fancy-regex). HF tokenizers uses Oniguruma, where `{1,3}+` is NOT possessive (it means "repeat the
# interval one or more times", so digits would not be cut in groups of 3) and `$` also matches before a
# newline; the HF variants below are the same patterns written for Oniguruma (the cl100k one is exactly
# what `toksmith.Tokenizer.to_json()` exports).
TIKTOKEN_PATTERNS: dict[str, str] = {
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
}
HF_PATTERNS: dict[str, str] = {
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+\z|\s+(?!\S)|\s""",
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s+\z|\s*[\r\n]|\s+(?!\S)|\s""",
}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def rss_mib_self() -> float:
    """Peak RSS of this process so far, MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unpack_corpus() -> Path:
    """Run the shared `unpack` script (idempotent: skips files already there) and return the folder."""
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


def iter_paragraphs(files: Sequence[Path], pattern: str, max_chars: int = 1 << 20) -> Iterator[str]:
    r"""Stream the files as paragraph chunks (at most about `max_chars` characters each), for trainers
    that take an iterator of texts. Nothing but the current chunk is held in memory.

    Chunks are cut where the split pattern cuts anyway, so that pre-tokenizing the chunks gives the same
    pieces as pre-tokenizing the whole file: before a non-blank line that follows a blank line, and
    * cl100k: after the newlines (`.\n\n` is one cl100k piece, `\s*[\r\n]` takes the newline run);
    * gpt2: before the whitespace run (at the end of a text, `\s++$` would glue the newlines into one
      piece, while inside the text they are split as `\n`, `\n`), which moves to the next chunk.
    """
    carry_ws = pattern == "gpt2"
    for f in files:
        with open(f, encoding="utf-8", newline="") as fh:
            buf: list[str] = []
            size = 0
            prev_blank = False
            for line in fh:
                blank = not line.strip()
                if buf and ((prev_blank and not blank) or size >= max_chars):
                    text = "".join(buf)
                    buf, size = [], 0
                    if carry_ws:
                        body = text.rstrip(" \t\n\r\f\v")
                        if body:
                            yield body
                        if len(body) < len(text):
                            buf.append(text[len(body) :])
                            size = len(text) - len(body)
                    else:
                        yield text
                buf.append(line)
                size += len(line)
                prev_blank = blank
            if buf:
                yield "".join(buf)


def warm_page_cache(files: Sequence[Path]) -> None:
    """Read every file once so that the first trainer does not pay for cold disk reads."""
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(16 << 20):
                pass


# --------------------------------------------------------------------------------------------------
# child: one trainer
# --------------------------------------------------------------------------------------------------
def train_toksmith(
    files: list[Path], vocab: int, pattern: str, workdir: Path, min_frequency: int | None = None
) -> dict[str, Any]:
    import toksmith

    res: dict[str, Any] = {"version": toksmith.__version__, "rss_base_mib": rss_mib_self()}
    kw = {} if min_frequency is None else {"min_frequency": min_frequency}
    t0 = time.perf_counter()
    tok = toksmith.train([str(f) for f in files], vocab_size=vocab, pretokenizer=pattern, **kw)
    res["train_s"] = time.perf_counter() - t0
    res["rss_train_mib"] = rss_mib_self()
    st = tok.stats
    res.update(
        count_s=st.seconds_count,
        merge_s=st.seconds_merge,
        unique_chunks=st.unique_chunks,
        corpus_bytes=st.bytes,
        vocab=tok.vocab_size,
    )
    res["encode"] = lambda text: tok.encode(text, added_tokens=False)
    res["decode"] = lambda ids: tok.decode(ids)
    res["token_len"] = lambda i: len(tok.id_to_bytes(i) or b"")
    return res


def train_hf(files: list[Path], vocab: int, pattern: str, workdir: Path) -> dict[str, Any]:
    import tokenizers
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    res: dict[str, Any] = {"version": tokenizers.__version__, "rss_base_mib": rss_mib_self()}
    t0 = time.perf_counter()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(HF_PATTERNS[pattern]), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train([str(f) for f in files], trainer=trainer)
    res["train_s"] = time.perf_counter() - t0
    res["rss_train_mib"] = rss_mib_self()
    res["vocab"] = tok.get_vocab_size()
    res["encode"] = lambda text: tok.encode(text, add_special_tokens=False).ids
    res["decode"] = lambda ids: tok.decode(ids, skip_special_tokens=False)
    byte_of = {ch: 1 for ch in pre_tokenizers.ByteLevel.alphabet()}  # every byte-level char is one byte
    res["token_len"] = lambda i: sum(byte_of.get(ch, 0) for ch in (tok.id_to_token(i) or ""))
    return res


def train_rustbpe(files: list[Path], vocab: int, pattern: str, workdir: Path) -> dict[str, Any]:
    from importlib.metadata import version

    import rustbpe

    res: dict[str, Any] = {"version": version("rustbpe"), "rss_base_mib": rss_mib_self()}
    t0 = time.perf_counter()
    tok = rustbpe.Tokenizer()
    tok.train_from_iterator(iter_paragraphs(files, pattern), vocab, pattern=TIKTOKEN_PATTERNS[pattern])
    res["train_s"] = time.perf_counter() - t0
    res["rss_train_mib"] = rss_mib_self()
    res["vocab"] = tok.vocab_size
    res["encode"] = tok.encode
    res["decode"] = tok.decode
    lens = {rank: len(b) for b, rank in tok.get_mergeable_ranks()}
    res["token_len"] = lambda i: lens.get(i, 0)
    return res


def train_sentencepiece(files: list[Path], vocab: int, pattern: str, workdir: Path) -> dict[str, Any]:
    import sentencepiece as spm

    res: dict[str, Any] = {"version": spm.__version__, "rss_base_mib": rss_mib_self()}
    total = sum(f.stat().st_size for f in files)
    prefix = workdir / "sp"
    t0 = time.perf_counter()
    spm.SentencePieceTrainer.train(
        input=",".join(str(f) for f in files),
        model_prefix=str(prefix),
        model_type="bpe",
        vocab_size=vocab,
        byte_fallback=True,
        # keep the text as is (no NFKC, no whitespace collapsing) so bytes/token compares like for like
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        input_sentence_size=0,  # 0 = every line (sentence); no sampling
        shuffle_input_sentence=False,
        max_sentence_length=1 << 16,  # bytes; a few Gutenberg lines exceed the 4192 default
        train_extremely_large_corpus=total > (1 << 30),
        num_threads=os.cpu_count() or 1,
        minloglevel=2,
    )
    res["train_s"] = time.perf_counter() - t0
    res["rss_train_mib"] = rss_mib_self()
    sp = spm.SentencePieceProcessor(model_file=str(prefix) + ".model")
    res["vocab"] = sp.get_piece_size()
    res["encode"] = lambda text: sp.encode(text)
    res["decode"] = lambda ids: sp.decode(ids)
    return res


TRAIN_FUNCS = {
    "toksmith": train_toksmith,
    "hf": train_hf,
    "rustbpe": train_rustbpe,
    "sentencepiece": train_sentencepiece,
}


def run_one(name: str, args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files]
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        if name == "toksmith":
            res = train_toksmith(files, args.vocab, args.pattern, Path(tmp), args.toksmith_min_frequency)
        else:
            res = TRAIN_FUNCS[name](files, args.vocab, args.pattern, Path(tmp))
        encode, decode = res.pop("encode"), res.pop("decode")
        heldout = Path(args.heldout).read_text(encoding="utf-8")  # read only now: not in the train peak
        t0 = time.perf_counter()
        ids = encode(heldout)
        res["heldout_encode_s"] = time.perf_counter() - t0
        res["heldout_tokens"] = len(ids)
        res["heldout_bytes"] = len(heldout.encode("utf-8"))
        res["bytes_per_token"] = res["heldout_bytes"] / max(1, len(ids))
        res["roundtrip"] = decode(ids) == heldout
        token_len = res.pop("token_len", None)
        if token_len is not None:
            # fingerprint of the segmentation (token byte lengths), comparable across id numberings
            lens = {i: token_len(i) for i in set(ids)}
            res["segmentation_sha256"] = hashlib.sha256(array.array("I", [lens[i] for i in ids]).tobytes()).hexdigest()
    Path(args.result).write_text(json.dumps(res), encoding="utf-8")
    return 0


# --------------------------------------------------------------------------------------------------
# parent: run each trainer in a child, print the table
# --------------------------------------------------------------------------------------------------
def spawn(name: str, files: list[Path], heldout: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".json", delete=False) as f:
        result = Path(f.name)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--one",
        name,
        "--vocab",
        str(args.vocab),
        "--pattern",
        args.pattern,
        "--heldout",
        str(heldout),
        "--result",
        str(result),
        *(
            ["--toksmith-min-frequency", str(args.toksmith_min_frequency)]
            if args.toksmith_min_frequency is not None
            else []
        ),
        "--files",
        *map(str, files),
    ]
    print(f"[{time.strftime('%H:%M:%S')}] {name}: training ...", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=sys.stderr if args.verbose else subprocess.DEVNULL, stderr=None)
    timer = threading.Timer(args.timeout, proc.kill) if args.timeout else None
    if timer:
        timer.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if timer:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    res: dict[str, Any] = {"name": name, "proc_wall_s": wall, "rss_proc_mib": ru.ru_maxrss / 1024}
    if proc.returncode == 0 and result.stat().st_size > 0:
        res.update(json.loads(result.read_text(encoding="utf-8")))
        res["ok"] = True
        print(
            f"[{time.strftime('%H:%M:%S')}] {name}: {res['train_s']:.2f} s, "
            f"peak RSS {res['rss_train_mib']:.0f} MiB, {res['bytes_per_token']:.3f} bytes/token",
            flush=True,
        )
    else:
        res["ok"] = False
        timed_out = bool(args.timeout) and wall >= args.timeout
        res["error"] = f"timeout after {args.timeout:g} s" if timed_out else f"exit code {proc.returncode}"
        print(f"[{time.strftime('%H:%M:%S')}] {name}: FAILED ({res['error']})", flush=True)
    result.unlink(missing_ok=True)
    return res


def same_split(r: dict[str, Any], base: dict[str, Any] | None) -> str:
    a, b = r.get("segmentation_sha256"), base and base.get("segmentation_sha256")
    return "-" if not a or not b else ("yes" if a == b else "no")


def fmt_ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def print_table(results: list[dict[str, Any]], args: argparse.Namespace, corpus_bytes: int) -> None:
    base = next((r for r in results if r["name"] == "toksmith" and r.get("ok")), None)
    print()
    print(
        f"## BPE training: {args.shards} shard(s), {corpus_bytes / 1e6:.1f} MB, vocab {args.vocab}, "
        f"pattern {args.pattern}"
    )
    print()
    head = [
        "trainer",
        "version",
        "train s",
        "peak RSS train MiB",
        "RSS before train MiB",
        "process peak MiB",
        "vocab",
        "bytes/token",
        "roundtrip",
        "same split as toksmith",
        "time vs toksmith",
        "RSS vs toksmith",
        "bytes/token vs toksmith",
    ]
    rows: list[list[str]] = []
    for r in results:
        if not r.get("ok"):
            rows.append(
                [r["name"], "-", r["error"].upper(), "-", "-", f"{r['rss_proc_mib']:.0f}"] + ["-"] * (len(head) - 6)
            )
            continue
        rows.append(
            [
                r["name"],
                str(r["version"]),
                f"{r['train_s']:.2f}",
                f"{r['rss_train_mib']:.0f}",
                f"{r['rss_base_mib']:.0f}",
                f"{r['rss_proc_mib']:.0f}",
                str(r["vocab"]),
                f"{r['bytes_per_token']:.3f}",
                "yes" if r["roundtrip"] else "NO",
                same_split(r, base),
                fmt_ratio(r["train_s"], base and base["train_s"]),
                fmt_ratio(r["rss_train_mib"], base and base["rss_train_mib"]),
                fmt_ratio(r["bytes_per_token"], base and base["bytes_per_token"]),
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    print()
    print(
        "train s: wall time of the training call only (no interpreter start, no held-out encode). "
        "peak RSS train: the child's own ru_maxrss read right after training (includes the interpreter "
        "and the library, see RSS before train = after imports); process peak: the child's ru_maxrss "
        "from os.wait4, whole run incl. reading and encoding heldout.txt. "
        "bytes/token: UTF-8 bytes of heldout.txt / tokens of the trained tokenizer's own encode. "
        "same split as toksmith: identical token boundaries on heldout.txt (n/a for SentencePiece). "
        "Ratios: peer / toksmith (time, RSS: >1 = toksmith faster / smaller; bytes/token: >1 = the peer "
        "compresses better)."
    )
    if base:
        print()
        print(
            f"toksmith split: count {base['count_s']:.2f} s + merge {base['merge_s']:.2f} s "
            f"(train call {base['train_s']:.2f} s); {base['unique_chunks']} unique chunks from "
            f"{base['corpus_bytes'] / 1e6:.1f} MB; held-out encode {base['heldout_encode_s']:.2f} s"
        )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--shards", type=int, choices=(1, 8), default=1, help="train-00 only, or all 8 shards")
    ap.add_argument("--vocab", type=int, default=32768, help="vocabulary size (e.g. 32768 or 131072)")
    ap.add_argument("--only", default=",".join(TRAINERS), help="comma-separated trainers to run, in order")
    ap.add_argument("--pattern", choices=tuple(TIKTOKEN_PATTERNS), default="cl100k", help="split pattern")
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"folder with train-0*.txt and heldout.txt (default: run {UNPACK} {CORPUS} and use the folder it prints)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write all results to this JSON file")
    ap.add_argument("--timeout", type=float, default=0, help="kill a trainer after this many seconds (0 = no limit)")
    ap.add_argument(
        "--toksmith-min-frequency",
        type=int,
        default=None,
        help="min_frequency for toksmith.train (default: the library's, 2; HF's default is 0 and rustbpe "
        "has none, so with 2 toksmith can stop short of --vocab on small corpora)",
    )
    ap.add_argument("--verbose", action="store_true", help="show the children's stdout (on stderr)")
    # internal: the child mode
    ap.add_argument("--one", choices=TRAINERS, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--heldout", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:
        return run_one(args.one, args)

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = [n for n in names if n not in TRAINERS]
    if bad:
        ap.error(f"unknown trainer(s) {bad}; choose from {', '.join(TRAINERS)}")
    data = args.data or unpack_corpus()
    files = [data / f"train-{i:02d}.txt" for i in range(args.shards)]
    heldout = data / "heldout.txt"
    missing = [str(f) for f in [*files, heldout] if not f.is_file()]
    if missing:
        ap.error(f"missing corpus files: {missing}")
    corpus_bytes = sum(f.stat().st_size for f in files)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, corpus {data} "
        f"({len(files)} file(s), {corpus_bytes:,} bytes), vocab {args.vocab}, pattern {args.pattern}"
        + ("" if args.toksmith_min_frequency is None else f", toksmith min_frequency {args.toksmith_min_frequency}"),
        flush=True,
    )
    print(toksmith_build(), flush=True)
    warm_page_cache([*files, heldout])
    results = [spawn(n, files, heldout, args) for n in names]
    print_table(results, args, corpus_bytes)
    if args.json:
        meta = {"shards": args.shards, "vocab": args.vocab, "pattern": args.pattern, "corpus_bytes": corpus_bytes}
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2), encoding="utf-8")
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
