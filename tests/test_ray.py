"""engine="ray" on a real two-node Ray cluster started on 127.0.0.1 for this module (and stopped at the end).

Checks: tokenizer.json bytes equal to engine="local" (files cut into byte ranges, compressed files, batches of
small files, in-memory texts, a datasets shard, under a memory budget, from the CLI); an unreachable cluster is
one error line; an unreadable shard is named; a worker killed mid-count is retried to the identical result, and
without retries the run fails loudly.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import toksmith  # noqa: E402
from toksmith import distributed  # noqa: E402
from toksmith.raycluster import LocalRayCluster, free_port  # noqa: E402

pytestmark = pytest.mark.slow

SLOW_SPEC = r"regex:\S+|\s+"  # fancy-regex: ~10 MB/s a thread, so a 16 MB shard takes long enough to be killed


def _text(seed: int, n_words: int) -> str:
    r = random.Random(seed)
    words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyzéüß") for _ in range(r.randint(1, 9))) for _ in range(20000)]
    out = []
    for _ in range(n_words):
        if r.random() < 0.9:
            out.append(words[min(int(r.paretovariate(1.1)) - 1, len(words) - 1)])
        else:
            out.append(str(r.randint(0, 99999)))
        out.append("\n" if r.random() < 0.08 else (" " if r.random() < 0.97 else "  "))
    return "".join(out)


@pytest.fixture(scope="module")
def cluster() -> LocalRayCluster:
    c = LocalRayCluster(nodes=2, cpus_per_node=1, memory_per_node=1 << 30, object_store_memory=128 << 20)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("raycorpus")
    (d / "big.txt").write_text(_text(1, 250_000), encoding="utf-8")  # ~1.4 MB: cut into byte ranges below
    with gzip.open(d / "c.txt.gz", "wt", encoding="utf-8") as f:
        f.write(_text(2, 60_000))
    (d / "d.jsonl").write_text(
        "".join(json.dumps({"text": _text(30 + i, 300)}) + "\n" for i in range(40)), encoding="utf-8"
    )
    for i in range(12):
        (d / f"small{i:02d}.txt").write_text(_text(10 + i, 2000), encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def slow_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Four 12 MB files: with SLOW_SPEC each takes about a second to count on one thread."""
    d = tmp_path_factory.mktemp("rayslow")
    block = _text(7, 400_000).encode()
    out = []
    for i in range(4):
        p = d / f"s{i}.txt"
        with open(p, "wb") as f:
            for _ in range(12 * 2**20 // len(block) + 1):
                f.write(block)
            f.write(f" unique{i} ".encode())
        out.append(str(p))
    return out


def _files(corpus: Path) -> list[str]:
    return sorted(str(p) for p in corpus.iterdir())


def test_ray_equals_local_bytes(cluster: LocalRayCluster, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "RANGE_BYTES", 256 << 10)  # big.txt becomes several byte-range shards
    files = _files(corpus)
    local = toksmith.train(files, vocab_size=1000, special_tokens=["<|endoftext|>"], threads=2)
    remote = toksmith.train(
        files, vocab_size=1000, special_tokens=["<|endoftext|>"], engine="ray", address=cluster.address
    )
    assert remote.to_json() == local.to_json()
    assert remote.stats.engine == "ray" and remote.stats.workers == 2
    assert remote.stats.shards >= 8  # ranges of big.txt, the .gz, the .jsonl, the small-file batch
    for k in ("bytes", "documents", "unique_chunks", "invalid_utf8_sequences", "files"):
        assert getattr(remote.stats, k) == getattr(local.stats, k), k
    # Under a memory budget far below the count table, every task spills and the result is the same.
    tight = toksmith.train(files, vocab_size=1000, special_tokens=["<|endoftext|>"], engine="ray",
                           address=cluster.address, memory_budget="32KB")  # fmt: skip
    assert tight.stats.spill_runs > 0
    assert tight.to_json() == local.to_json()


def test_ray_texts_and_dataset_shards(
    cluster: LocalRayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [_text(100 + i, 400) for i in range(300)]
    monkeypatch.setattr(distributed, "TEXT_BATCH", 64 << 10)
    local = toksmith.train(texts=texts, vocab_size=700)
    remote = toksmith.train(texts=texts, vocab_size=700, engine="ray", address=cluster.address)
    assert remote.to_json() == local.to_json()
    assert remote.stats.shards > 3
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": texts})
    ds.save_to_disk(str(tmp_path / "ds"))
    local = toksmith.train(dataset=str(tmp_path / "ds"), vocab_size=700)
    remote = toksmith.train(dataset=str(tmp_path / "ds"), vocab_size=700, engine="ray", address=cluster.address)
    assert remote.to_json() == local.to_json()
    assert remote.stats.shards == 4 and remote.stats.documents == len(texts)


def test_cli_ray_equals_local(cluster: LocalRayCluster, corpus: Path, tmp_path: Path) -> None:
    files = _files(corpus)
    outs = []
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.json"
        cmd = [sys.executable, "-m", "toksmith", "train", *files, "-v", "900", "-o", str(out), "--json",
               "--engine", engine, "--memory-budget", "1MB"]  # fmt: skip
        if engine == "ray":
            cmd += ["--address", cluster.address]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_unreachable_cluster_is_one_clear_line(corpus: Path, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(toksmith.ToksmithError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        toksmith.train(_files(corpus), vocab_size=300, engine="ray", address=f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 30
    out = tmp_path / "never.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "toksmith",
            "train",
            _files(corpus)[0],
            "-o",
            str(out),
            "--engine",
            "ray",
            "--address",
            f"127.0.0.1:{port}",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert lines == [f"toksmith: error: cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused"], r.stderr
    assert not out.exists()


def test_task_too_big_for_any_node_is_an_error_not_a_hang(cluster: LocalRayCluster, corpus: Path) -> None:
    with pytest.raises(toksmith.ToksmithError, match="largest node of the cluster has 1"):
        toksmith.train(_files(corpus), vocab_size=300, engine="ray", address=cluster.address, threads=4)


def test_unreadable_shard_is_named(cluster: LocalRayCluster, corpus: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.txt.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(2000))  # a gzip header, then garbage
    with pytest.raises(toksmith.CorpusError, match="broken.txt.gz"):
        toksmith.train([*_files(corpus), str(bad)], vocab_size=300, engine="ray", address=cluster.address)


def _kill_first_counting_worker(cluster: LocalRayCluster, killed: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        pids = cluster.worker_pids("ray::toksmith.count_shard")
        if pids:
            time.sleep(0.1)  # let it get into its shard
            try:
                title = Path(f"/proc/{pids[0]}/cmdline").read_bytes()
                if not title.startswith(b"ray::toksmith.count_shard"):
                    continue  # it finished meanwhile: wait for the next counting task
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            except (OSError, ProcessLookupError):
                continue
            return
        time.sleep(0.02)


def test_worker_killed_mid_count_is_retried_to_the_same_result(
    cluster: LocalRayCluster, slow_corpus: list[str]
) -> None:
    local = toksmith.train(slow_corpus, vocab_size=400, pretokenizer=SLOW_SPEC, threads=2)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_counting_worker, args=(cluster, killed, stop), daemon=True)
    killer.start()
    try:
        remote = toksmith.train(slow_corpus, vocab_size=400, pretokenizer=SLOW_SPEC, engine="ray",
                                address=cluster.address)  # fmt: skip
    except toksmith.TrainingError as e:  # the other acceptable outcome: a loud failure naming the shard
        assert "shard" in str(e)
        remote = None
    finally:
        stop.set()
        killer.join()
    assert killed, "no counting worker was seen to kill"
    print(f"worker {killed[0]} killed: {'retried by Ray, identical result' if remote else 'failed loudly'}")
    assert remote is None or remote.to_json() == local.to_json()
    if remote is not None:
        assert remote.stats.bytes == local.stats.bytes


def test_worker_killed_without_retries_fails_loudly(cluster: LocalRayCluster, slow_corpus: list[str]) -> None:
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_counting_worker, args=(cluster, killed, stop), daemon=True)
    killer.start()
    try:
        with pytest.raises(toksmith.TrainingError, match=r"counting shard .*s\d\.txt failed: its worker died"):
            distributed.count_ray([Path(p) for p in slow_corpus], pretokenizer=SLOW_SPEC, address=cluster.address,
                                  retries=0)  # fmt: skip
    finally:
        stop.set()
        killer.join()
    assert killed
