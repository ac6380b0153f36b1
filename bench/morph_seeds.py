#!/usr/bin/env python3
"""Our `mdl` segmenter vs Morfessor Baseline over several seeds (issue 7, part b): boundary F1 on the surface gold
entries of a SIGMORPHON 2022 dev file, both trained on its words (count 1 each), ours with `seed=s`, Morfessor with
Python's `random.seed(s)` (it shuffles with `random`). Prints each seed and the mean / sd / range of four
segmentations: ours as it cuts by default (`decode=viterbi`: every word by Viterbi over the learned morphs), ours'
training trees (`analysis`, what `decode=tree` gives), Morfessor's `segment` (its training trees, what the package
returns for training words) and Morfessor's `viterbi_segment` of the same words.

    python bench/morph_seeds.py mon 10
"""

import random
import statistics
import sys

import morfessor

from toksmith.analysis.morph import boundary_prf, gold_bounds
from toksmith.corpora import find_shared
from toksmith.corpora.morphseg import read_morphseg
from toksmith.morph import MdlSegmenter

lang = sys.argv[1]
n = int(sys.argv[2])
entries = read_morphseg(find_shared() / "corpora" / "morph-seg" / f"{lang}.word.dev.tsv")
words = sorted({w for e in entries for w in e.word.split()})
parts = [(w, ms) for e in entries for w, ms in e.surface_parts()]


def f1(segs: dict[str, list[str]]) -> float:
    pred = [gold_bounds(segs.get(w, [w])) for w, _ in parts]
    return boundary_prf((gold_bounds(ms) for _, ms in parts), pred).f1


res: dict[str, list[float]] = {"ours": [], "ours-tree": [], "morfessor": [], "morfessor-viterbi": []}
for seed in range(n):
    seg = MdlSegmenter.train({w: 1 for w in words}, seed=seed)
    res["ours"].append(f1(dict(zip(words, seg.segment_many(words, threads=1)))))
    res["ours-tree"].append(f1({w: seg.analysis(w) for w in words}))
    random.seed(seed)
    m = morfessor.BaselineModel()
    m.load_data([(1, w) for w in words])
    m.train_batch()
    res["morfessor"].append(f1({w: m.segment(w) for w in words}))
    res["morfessor-viterbi"].append(f1({w: m.viterbi_segment(w)[0] for w in words}))
    print(lang, seed, *(f"{k} {v[-1]:.4f}" for k, v in res.items()), flush=True)
for k, v in res.items():
    print(
        lang,
        k,
        f"mean {statistics.mean(v):.4f} sd {statistics.stdev(v):.4f} min {min(v):.4f} max {max(v):.4f}",
        flush=True,
    )
