"""Count tables, memory budgets and shard planning through the Python API (no Ray needed)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

import toksmith
from toksmith import _core
from toksmith.distributed import cut_points, parse_size, plan_shards


def _text(seed: int, n_words: int) -> str:
    r = random.Random(seed)
    words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyzéü") for _ in range(r.randint(1, 9))) for _ in range(20000)]
    out = []
    for _ in range(n_words):
        if r.random() < 0.9:
            out.append(words[min(int(r.paretovariate(1.1)) - 1, len(words) - 1)])
        else:
            out.append(str(r.randint(0, 99999)))
        out.append("\n" if r.random() < 0.08 else (" " if r.random() < 0.97 else "  "))
    return "".join(out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ct")
    (d / "big.txt").write_text(_text(1, 200_000), encoding="utf-8")
    with gzip.open(d / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(_text(2, 20_000))
    for i in range(5):
        (d / f"small{i}.txt").write_text(_text(10 + i, 500), encoding="utf-8")
    return d


def test_parse_size() -> None:
    assert parse_size("4GB") == 4 << 30
    assert parse_size("512M") == 512 << 20
    assert parse_size("1.5GiB") == int(1.5 * (1 << 30))
    assert parse_size("1000") == 1000
    assert parse_size(1234) == 1234
    assert parse_size(None) is None
    for bad in ("lots", "0", "-5MB", "4XB"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_table_round_trip_and_merge(corpus: Path) -> None:
    a = _core.Counter("cl100k", 1)
    a.feed_file(str(corpus / "big.txt"))
    b = _core.Counter("cl100k", 1)
    b.feed_file(str(corpus / "b.txt.gz"))
    ta, tb = a.to_table_bytes(), b.to_table_bytes()
    info = _core.table_info(ta)
    assert info["entries"] == a.unique and info["bytes"] == a.bytes_seen and info["pretokenizer"] == "cl100k"
    assert info["total"] == sum(a.as_dict().values())
    merged = _core.merge_tables([ta, tb])
    assert merged.pruned_chunks == 0
    want = dict(a.as_dict())
    for k, v in b.as_dict().items():
        want[k] = want.get(k, 0) + v
    assert merged.as_dict() == want
    assert merged.bytes_seen == a.bytes_seen + b.bytes_seen and merged.documents == 2
    # Tree merge through bytes equals the flat merge.
    assert _core.merge_tables([_core.merge_tables_to_bytes([ta, tb])]).as_dict() == want
    # Pruning below 3 drops exactly the rarer chunks.
    p = _core.merge_tables([ta, tb], prune_below=3)
    assert p.as_dict() == {k: v for k, v in want.items() if v >= 3}
    assert p.pruned_chunks == sum(1 for v in want.values() if v < 3)


def test_corrupt_or_mismatched_tables_fail_loudly(corpus: Path, tmp_path: Path) -> None:
    c = _core.Counter("cl100k", 1)
    c.feed_file(str(corpus / "small0.txt"))
    t = bytearray(c.to_table_bytes())
    t[len(t) // 2] ^= 0x11
    with pytest.raises(toksmith.CorpusError, match="shard-7"):
        _core.merge_tables([bytes(t)], ["shard-7"])
    with pytest.raises(toksmith.CorpusError, match="truncated|corrupt"):
        _core.merge_tables([c.to_table_bytes()[:-3]])
    g = _core.Counter("gpt2", 1)
    g.add_documents(["hello world"])
    with pytest.raises(toksmith.CorpusError, match="different pre-tokenizers"):
        _core.merge_tables([c.to_table_bytes(), g.to_table_bytes()])
    p = tmp_path / "t.tkc"
    assert c.write_table(str(p)) == c.unique
    assert _core.merge_tables([str(p)]).as_dict() == c.as_dict()


def test_memory_budget_spills_and_trains_identically(corpus: Path, tmp_path: Path) -> None:
    files = sorted(str(p) for p in corpus.iterdir())
    plain = toksmith.train(files, vocab_size=600, threads=2)
    tight = toksmith.train(files, vocab_size=600, threads=2, memory_budget="16KB")
    assert tight.stats.spill_runs > 1
    assert tight.to_json() == plain.to_json()
    assert tight.stats.unique_chunks == plain.stats.unique_chunks
    c = _core.Counter("cl100k", 2, 32 << 10, str(tmp_path))
    c.feed_file(str(corpus / "big.txt"))
    assert c.spill_runs > 0 and c.spilled_bytes > 0
    ref = _core.Counter("cl100k", 2)
    ref.feed_file(str(corpus / "big.txt"))
    assert c.unique == ref.unique
    assert c.to_table_bytes() == ref.to_table_bytes()
    del c
    assert not list(tmp_path.glob("toksmith-spill-*")), "spill folder left behind"


@pytest.mark.parametrize("spec", ["cl100k", "gpt2", "o200k", "llama3", "whitespace", r"regex:\S+|\s+"])
def test_byte_ranges_count_exactly_as_the_whole_file(corpus: Path, spec: str) -> None:
    path = corpus / "big.txt"
    size = path.stat().st_size
    cuts = cut_points(path, size, spec, range_bytes=100_000)
    assert len(cuts) >= 5
    whole = _core.Counter(spec, 1)
    whole.feed_file(str(path))
    data = path.read_bytes()
    parts = []
    for a, b in zip([0, *cuts], [*cuts, size]):
        c = _core.Counter(spec, 1)
        c.feed(data[a:b])
        c.end_stream()
        parts.append(c.to_table_bytes())
    merged = _core.merge_tables(parts)
    assert merged.as_dict() == whole.as_dict()
    assert merged.forced_cuts == 0


def test_plan_shards_covers_every_byte_once(corpus: Path) -> None:
    files = sorted(corpus.iterdir())
    shards = plan_shards(files, "cl100k", range_bytes=100_000)
    kinds = {s.kind for s in shards}
    assert kinds == {"range", "file", "files"}
    ranges = [s for s in shards if s.kind == "range"]
    assert ranges[0].start == 0 and ranges[-1].end == (corpus / "big.txt").stat().st_size
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:]))
    assert sum(len(s.paths) for s in shards if s.kind == "files") == 5
