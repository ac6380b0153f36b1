#!/usr/bin/env python3
"""Prototype (issue 7, part a on *held-out* words): a semi-supervised unigram segmenter, run through the `gold:`
segmenter by writing its segmentations to a file.

For a SIGMORPHON language, the gold dev file is split as in ``train_morph.py`` (crc32(word) mod 5 = 0 is test). The
unigram lexicon holds the morphs of the *train* gold entries (surface ones), each with its count, plus every word of
the training corpus as a whole unit with `lam` times its corpus count (so frequent words stay whole; lower `lam`
cuts more). Each word — corpus words, FLORES devtest words and all gold words, test words included (their gold
analyses are never read) — gets its Viterbi segmentation under that lexicon (cost -log p per unit; a letter outside
the lexicon costs 20 nats). Those segmentations are written as a gold file, and a morph tokenizer is trained with
``gold:FILE`` and the segmenter at encode time, against plain BPE on the same corpus (FLORES dev + train words +
the language's wordfreq list, as ``train_morph.py --corpus flores+words+wordfreq``). Prints held-out bytes/token on
FLORES devtest and boundary F1 on the test words.

    python bench/morph_gold_viterbi.py --langs eng,fra --lam 0.01
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
import tempfile
from pathlib import Path

import toksmith
import train_morph as tm
from toksmith.analysis.morph import morph_metrics
from toksmith.analysis.tokenizers import load
from toksmith.corpora.morphseg import read_morphseg

WORD = re.compile(r"[^\W\d_]+")
UNK = 20.0


def viterbi(w: str, cost: dict[str, float], max_len: int) -> list[str]:
    n = len(w)
    best, back = [0.0] + [math.inf] * n, [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - max_len), j):
            c = cost.get(w[i:j], UNK if j - i == 1 else math.inf)
            if best[i] + c < best[j]:
                best[j], back[j] = best[i] + c, i
    cuts, j = [], n
    while j > 0:
        cuts.append(j)
        j = back[j]
    cuts.reverse()
    return [w[s:e] for s, e in zip([0] + cuts[:-1], cuts)]


def run(lang: str, lam: float, wheel: Path, tmp: Path) -> list[dict]:
    entries = read_morphseg(tm.MORPH / f"{lang}.word.dev.tsv")
    train = [e for e in entries if not tm.is_test(e.word)]
    test = [e for e in entries if tm.is_test(e.word)]
    words = [e.word for e in train]
    code = tm.FLORES_CODE[lang]
    raw = "\n".join(tm.flores(code, "dev") + [" ".join(words[i : i + 20]) for i in range(0, len(words), 20)]) + "\n"
    if lang in tm.WORDFREQ_LANG:
        corpus, _ = tm.wordfreq_corpus(wheel, raw, tmp, lang=tm.WORDFREQ_LANG[lang])
    else:
        corpus = tmp / f"{lang}.corpus.txt"
        corpus.write_text(raw, encoding="utf-8")
    counts: collections.Counter[str] = collections.Counter()
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            counts.update(w.lower() for w in WORD.findall(line))
    lexicon: collections.Counter[str] = collections.Counter()
    for e in train:
        for _, ms in e.surface_parts():
            lexicon.update(m.lower() for m in ms)
    for w, c in counts.items():
        lexicon[w] += lam * c
    total = sum(lexicon.values())
    cost = {m: -math.log(c / total) for m, c in lexicon.items()}
    max_len = max(len(m) for m in cost)
    heldout = tm.flores(code, "devtest")
    todo = set(counts)
    for t in heldout:
        todo.update(w.lower() for w in WORD.findall(t))
    for e in entries:
        todo.update(w.lower() for w in WORD.findall(e.word))
    seg = tmp / f"{lang}.viterbi.tsv"
    with seg.open("w", encoding="utf-8") as f:
        for w in sorted(todo):
            ms = viterbi(w, cost, max_len)
            if len(ms) > 1:
                f.write(f"{w}\t{' @@'.join(ms)}\t000\n")
    rows = []
    for label, kw in [
        ("bpe", {}),
        (f"morph gold-viterbi lam={lam:g} +seg at encode", {"algorithm": "morph", "segmenter": f"gold:{seg}"}),
    ]:
        if kw:
            kw["segment_at_encode"] = True
        tok = toksmith.train([str(corpus)], vocab_size=tm.VOCAB, pretokenizer="cl100k", **kw)
        out = tmp / f"{lang}.{len(rows)}.json"
        tok.save(out)
        t = load(str(out))
        m = morph_metrics(t.spans, test)
        rows.append(
            {
                "lang": lang,
                "tokenizer": label,
                "vocab": tok.vocab_size,
                "heldout_bytes_per_token": tm.held_out_bpt(t, heldout),
                "test_boundary_f1": m["boundary_f1"],
                "test_surface_words": m["gold_surface_words"],
            }
        )
    b = rows[0]
    for r in rows:
        r["d_f1"] = r["test_boundary_f1"] - b["test_boundary_f1"]
        r["d_bpt"] = r["heldout_bytes_per_token"] / b["heldout_bytes_per_token"] - 1
        print(json.dumps(r), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--langs", default="eng,ces,hun,fra,spa,ita,mon")
    ap.add_argument("--lam", type=float, default=0.01)
    ap.add_argument("--wordfreq-wheel", type=Path, default=Path("/tmp/trtext/wordfreq-3.1.1-py3-none-any.whl"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="toksmith-gv-") as d:
        for lang in args.langs.split(","):
            rows += run(lang, args.lam, args.wordfreq_wheel, Path(d))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
