"""Counting on a Ray cluster: each task counts one shard with the Rust counter and returns a sorted count table;
a tree of merge tasks adds the tables up; the driver merges the last few into one Counter for the merge loop.

Shards: a compressed / jsonl / parquet file (one per file); a byte range of a large plain text file, cut only at
points where cutting cannot change the pre-tokenization (`Pretokenizer.safe_cut`); a batch of small plain files
(each file one document, as local counting does); a batch of in-memory texts; a shard of a `datasets` dataset.
Chunk counts add up, so the merged counts equal local counting exactly, whatever the number of shards, workers
or retries, and so does the trained tokenizer (training does not depend on chunk order).

Failures: an unreachable cluster is one `ClusterError` line; a task whose worker dies is retried by Ray
(`max_retries`) and, once retries are spent, the run fails with `TrainingError` naming the shard; an unreadable
shard fails with `CorpusError` naming it. A shard's table is all of the shard or nothing (the task's result is
atomic and its checksum is verified at every merge), and the driver checks that every shard reported the bytes it
was given before training, so a count is never silently partial.

Input paths must be readable at the same path on every node (a shared or replicated file system); `ray` is an
optional dependency (`pip install 'toksmith[ray]'`).
"""

from __future__ import annotations

import os
import re
import resource
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toksmith import _core
from toksmith.errors import ClusterError, CorpusError, TrainingError

SMALL_FILE = 1 << 20  # plain files up to this size are counted as whole documents (as local counting does)
SMALL_BATCH = 64 << 20  # bytes of small files per task
RANGE_BYTES = 64 << 20  # large plain files are cut into byte ranges of about this size
CUT_WINDOW = 1 << 20  # a range boundary is searched for a safe cut this far back
TEXT_BATCH = 16 << 20  # bytes of in-memory texts per task
READ_BLOCK = 8 << 20
FAN_IN = 4  # tables per merge task in the tree reduce

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(value: int | str | None) -> int | None:
    """Bytes from an int or a string such as `4GB`, `512M`, `1.5GiB`, `1000000` (K/M/G/T are powers of 1024)."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value <= 0:
            raise ValueError(f"memory budget must be positive, not {value}")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"cannot read {value!r} as a size (examples: 4GB, 512MB, 1.5GiB, 1000000)")
    n = float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " ")
    if n < 1:
        raise ValueError(f"memory budget must be positive, not {value!r}")
    return int(n)


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux: VmHWM) so a reused worker reports the peak of one task."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rss_mb(field: str = "VmRSS") -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc keeps it in per-thread arenas otherwise), so that a worker
    reused for many shards does not grow from task to task."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def _task_peak_rss_mb(reset_ok: bool) -> float:
    if reset_ok:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
    return peak_rss_mb()


# ---------------------------------------------------------------------------------------------------- shards


@dataclass
class Shard:
    """One unit of counting work. `kind`: file, range, files, texts or dataset."""

    kind: str
    name: str
    paths: list[str] = field(default_factory=list)
    start: int = 0
    end: int = 0
    size: int = 0  # bytes to count, when known in advance (checked against what the task counted)
    texts: Any = None  # an ObjectRef to a list of texts
    dataset: tuple[str, str | None, str, int, int] | None = None  # (name, config, split, num_shards, index)
    first_of_file: bool = True

    def describe(self) -> str:
        return self.name


def _is_plain(p: Path) -> bool:
    suffixes = [x.lower() for x in p.suffixes]
    return not any(x in (".gz", ".zst", ".zstd", ".xz", ".lzma", ".jsonl", ".parquet") for x in suffixes)


def cut_points(path: Path, size: int, pretokenizer: str, range_bytes: int = RANGE_BYTES) -> list[int]:
    """Offsets (0 < x < size) where a plain text file may be cut into ranges that count exactly as the whole
    file: safe points found within `CUT_WINDOW` before each multiple of `range_bytes`."""
    pt = _core.Pretokenizer(pretokenizer)
    cuts: list[int] = []
    with open(path, "rb") as f:
        nominal = range_bytes
        while nominal < size - range_bytes // 4:
            lo = max(cuts[-1] + 1 if cuts else 1, nominal - CUT_WINDOW)
            f.seek(lo)
            window = f.read(nominal - lo + 8)
            c = pt.safe_cut(window, nominal - lo)
            if c is not None and 0 < lo + c < size:
                cuts.append(lo + c)
            nominal += range_bytes
    return cuts


def plan_shards(
    files: Sequence[Path],
    pretokenizer: str,
    *,
    range_bytes: int = RANGE_BYTES,
    small_batch: int = SMALL_BATCH,
) -> list[Shard]:
    """Shards for a list of files (in a fixed order)."""
    shards: list[Shard] = []
    small: list[str] = []
    small_bytes = 0

    def flush_small() -> None:
        nonlocal small, small_bytes
        if small:
            name = small[0] if len(small) == 1 else f"{small[0]} (+{len(small) - 1} small files)"
            shards.append(Shard("files", name, paths=small, size=small_bytes))
            small, small_bytes = [], 0

    for f in files:
        try:
            size = f.stat().st_size
        except OSError as e:
            raise CorpusError(f"cannot read {f}: {e}") from None
        if _is_plain(f) and size <= SMALL_FILE:
            small.append(str(f))
            small_bytes += size
            if small_bytes >= small_batch:
                flush_small()
        elif _is_plain(f) and size > range_bytes + range_bytes // 4:
            bounds = [0, *cut_points(f, size, pretokenizer, range_bytes), size]
            for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
                shards.append(
                    Shard(
                        "range",
                        f"{f} [bytes {a}-{b})",
                        paths=[str(f)],
                        start=a,
                        end=b,
                        size=b - a,
                        first_of_file=i == 0,
                    )
                )
        else:
            shards.append(Shard("file", str(f), paths=[str(f)], size=size if _is_plain(f) else 0))
    flush_small()
    return shards


# ---------------------------------------------------------------------------------------------------- tasks


def count_shard(
    shard: Shard,
    pretokenizer: str,
    text_field: str,
    memory_budget: int | None,
    threads: int | None,
    texts: list[str] | None = None,
) -> tuple[dict, bytes]:
    """Count one shard (runs in a Ray worker). Returns (report, sorted count table)."""
    from toksmith.corpora import feed_counter, feed_dataset
    from toksmith.train import _feed_small

    t0 = time.perf_counter()
    rss_before = _rss_mb()
    reset_ok = _reset_peak_rss()
    counter = _core.Counter(pretokenizer, threads, memory_budget)
    try:
        if shard.kind == "files":
            _feed_small(counter, [Path(p) for p in shard.paths], lambda n: None)
        elif shard.kind == "file":
            feed_counter(counter, Path(shard.paths[0]), text_field=text_field)
        elif shard.kind == "range":
            with open(shard.paths[0], "rb") as f:
                f.seek(shard.start)
                left = shard.end - shard.start
                while left > 0:
                    block = f.read(min(READ_BLOCK, left))
                    if not block:
                        raise CorpusError(f"cannot read {shard.name}: the file is shorter than planned")
                    counter.feed(block)
                    left -= len(block)
                counter.end_stream()
        elif shard.kind == "texts":
            docs = texts or []
            for i in range(0, len(docs), 4096):
                counter.add_documents(docs[i : i + 4096])
        elif shard.kind == "dataset":
            assert shard.dataset is not None
            name, config, split, num_shards, index = shard.dataset
            feed_dataset(counter, name, config, split, text_field, shard=(num_shards, index))
        else:  # pragma: no cover - planning bug
            raise ValueError(f"unknown shard kind {shard.kind}")
    except CorpusError as e:
        msg = str(e)
        raise CorpusError(msg if shard.paths and shard.paths[0] in msg else f"shard {shard.name}: {msg}") from None
    except OSError as e:
        raise CorpusError(f"cannot read {shard.name}: {e}") from None
    table_estimate = counter.table_bytes_estimate
    table = counter.to_table_bytes()
    report = {
        "shard": shard.name,
        "bytes": counter.bytes_seen,
        "documents": counter.documents,
        "table_bytes": len(table),
        "spill_runs": counter.spill_runs,
        "spilled_bytes": counter.spilled_bytes,
        "peak_table_estimate": counter.peak_table_estimate,
        "table_estimate": table_estimate,
        "seconds": time.perf_counter() - t0,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "peak_rss_mb": _task_peak_rss_mb(reset_ok),
        "rss_before_mb": rss_before,
    }
    del counter
    _trim_heap()
    report["rss_after_mb"] = _rss_mb()  # what the worker keeps between tasks
    return report, table


def merge_shard_tables(*tables: bytes) -> bytes:
    """Add sorted count tables into one (a merge task of the tree reduce)."""
    return _core.merge_tables_to_bytes(list(tables))


# ---------------------------------------------------------------------------------------------------- cluster


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast with one line when nothing listens at a `host:port` / `ray://host:port` address."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms are left to Ray
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {reason}") from None


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to a Ray cluster (`address`, or $RAY_ADDRESS), or start a private local one on 127.0.0.1 when
    neither is given; shut the connection down afterwards (unless Ray was already initialised)."""
    try:
        import ray
    except ImportError:
        raise ClusterError("engine 'ray' needs the ray package: pip install 'toksmith[ray]'") from None
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    import logging

    try:
        if address in (None, "local"):
            ray.init(
                address="local",
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                _node_ip_address="127.0.0.1",
            )
        else:
            _probe(address)
            host = address.split("://", 1)[-1].rpartition(":")[0].strip("[]")
            local = {"_node_ip_address": "127.0.0.1"} if host in ("127.0.0.1", "localhost") else {}
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, **local)
    except ClusterError:
        raise
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ClusterError(
            f"cannot connect to the Ray cluster at {address or 'a new local instance'}: {first}"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _largest_node_cpus(ray: Any) -> float:
    try:
        return max((n.get("Resources", {}).get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)
    except Exception:  # pragma: no cover
        return float("inf")


def _cluster_cpus(ray: Any) -> int:
    try:
        return int(ray.cluster_resources().get("CPU", 1))
    except Exception:  # pragma: no cover
        return 1


# ---------------------------------------------------------------------------------------------------- driver


@dataclass
class RayCountResult:
    counter: Any
    shards: int = 0
    workers: int = 0
    reports: list[dict] = field(default_factory=list)
    seconds_connect: float = 0.0
    seconds_tasks: float = 0.0
    seconds_driver_merge: float = 0.0
    extra_documents: int = 0


def _unwrap_task_error(e: BaseException, shard: Shard, retries: int) -> BaseException:
    import ray

    if isinstance(e, ray.exceptions.RayTaskError):
        cause = getattr(e, "cause", None)
        # The extension's exception classes travel by value (their module is `_core`): match them by name.
        if isinstance(cause, CorpusError) or any(c.__name__ == "CorpusError" for c in type(cause).__mro__):
            return CorpusError(str(cause))
        if isinstance(cause, BaseException):
            first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
            return TrainingError(f"counting shard {shard.name} failed: {type(cause).__name__}: {first}")
    if isinstance(e, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)) or "died" in str(e):
        return TrainingError(
            f"counting shard {shard.name} failed: its worker died {retries + 1} time(s) "
            f"(Ray retried it {retries} time(s)); no partial count was used"
        )
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return TrainingError(f"counting shard {shard.name} failed: {type(e).__name__}: {first}")


def count_ray(
    files: Sequence[Path],
    *,
    texts: Iterable[str] | None = None,
    dataset: str | None = None,
    dataset_config: str | None = None,
    split: str = "train",
    text_field: str = "text",
    pretokenizer: str = "cl100k",
    threads: int | None = None,
    address: str | None = None,
    memory_budget: int | None = None,
    progress: Callable[[str, int, int], object] | None = None,
    retries: int = 3,
    fan_in: int = FAN_IN,
    range_bytes: int | None = None,
    dataset_shards: int | None = None,
) -> RayCountResult:
    """Count on Ray; returns the merged Counter and per-shard reports. See the module docstring."""
    shards = plan_shards(files, pretokenizer, range_bytes=range_bytes or RANGE_BYTES)
    task_cpus = max(1, threads or 1)
    t_start = time.perf_counter()
    with ray_session(address, num_cpus=None) as ray:
        t0 = time.perf_counter()
        workers = _cluster_cpus(ray)
        biggest = _largest_node_cpus(ray)
        if task_cpus > biggest:
            # Ray would wait forever for a node that can run such a task.
            raise ClusterError(
                f"each counting task asks for {task_cpus} CPUs (threads={threads}) but the largest node of the "
                f"cluster has {biggest:g}; use fewer threads per task"
            )
        count_task = ray.remote(count_shard).options(
            num_cpus=task_cpus, num_returns=2, max_retries=retries, name="toksmith.count_shard"
        )
        merge_task = ray.remote(merge_shard_tables).options(
            num_cpus=1, max_retries=retries, name="toksmith.merge_tables"
        )
        if texts is not None:
            batch: list[str] = []
            size = 0
            for t in texts:
                batch.append(t)
                size += len(t)
                if size >= TEXT_BATCH:
                    shards.append(Shard("texts", f"<texts batch {len(shards)}>", texts=ray.put(batch), size=0))
                    batch, size = [], 0
            if batch:
                shards.append(Shard("texts", f"<texts batch {len(shards)}>", texts=ray.put(batch), size=0))
        if dataset is not None:
            n = dataset_shards or _dataset_shards(dataset, dataset_config, split, max(2, 2 * workers))
            for i in range(n):
                shards.append(
                    Shard("dataset", f"dataset {dataset} shard {i}/{n}", dataset=(dataset, dataset_config, split, n, i))
                )
        if not shards:
            raise CorpusError("no input: give files, texts, a corpus name or a dataset")
        reports_refs = []
        table_refs = []
        for s in shards:
            # The texts ObjectRef travels as an argument, so Ray resolves it to the list in the worker.
            texts_arg = s.texts
            s_plain = Shard(**{**s.__dict__, "texts": None})
            r, t = count_task.remote(s_plain, pretokenizer, text_field, memory_budget, task_cpus, texts_arg)
            reports_refs.append(r)
            table_refs.append(t)
        # Tree reduce: merge tasks of `fan_in` tables each until at most `fan_in` remain for the driver.
        level = list(table_refs)
        while len(level) > fan_in:
            level = [
                merge_task.remote(*level[i : i + fan_in]) if len(level[i : i + fan_in]) > 1 else level[i]
                for i in range(0, len(level), fan_in)
            ]
        # Wait for every shard's report: a failed shard is named here, before any merge result is used.
        total = sum(s.size for s in shards) or len(shards)
        done = 0
        index = {r.hex(): i for i, r in enumerate(reports_refs)}
        reports: list[dict | None] = [None] * len(shards)
        pending = list(reports_refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                i = index[ref.hex()]
                try:
                    rep = ray.get(ref)
                except Exception as e:
                    _cancel(ray, pending + level)
                    raise _unwrap_task_error(e, shards[i], retries) from None
                s = shards[i]
                if s.size and s.kind in ("range", "files") and rep["bytes"] != s.size:
                    _cancel(ray, pending + level)
                    raise TrainingError(
                        f"shard {s.name}: counted {rep['bytes']} bytes, expected {s.size}; refusing a partial count"
                    )
                reports[i] = rep
                done += s.size or 1
                if progress:
                    progress("count", done, total)
        t1 = time.perf_counter()
        try:
            tables = ray.get(level)
        except Exception as e:
            raise TrainingError(f"merging count tables failed: {type(e).__name__}: {str(e).splitlines()[0]}") from None
        names = [f"merged count table #{i}" for i in range(len(tables))]
        counter = _core.merge_tables(tables, names, threads)
        del tables
        t2 = time.perf_counter()
    extra_docs = sum(1 for s in shards if s.kind == "range" and not s.first_of_file)
    return RayCountResult(
        counter=counter,
        shards=len(shards),
        workers=workers,
        reports=[r for r in reports if r is not None],
        seconds_connect=t0 - t_start,
        seconds_tasks=t1 - t0,
        seconds_driver_merge=t2 - t1,
        extra_documents=extra_docs,
    )


def _cancel(ray: Any, refs: list) -> None:
    for r in refs:
        try:
            ray.cancel(r, force=True)
        except Exception:
            pass


def _dataset_shards(name: str, config: str | None, split: str, want: int) -> int:
    """How many shards to cut a dataset into: `want` for a saved dataset, at most its file count when streamed."""
    try:
        import datasets
    except ImportError as e:  # pragma: no cover
        raise CorpusError("--dataset needs the datasets package: pip install 'toksmith[hf]'") from e
    if Path(name).is_dir() and (Path(name) / "dataset_info.json").exists():
        return want
    try:
        ds = datasets.load_dataset(name, config, split=split, streaming=True)
    except Exception as e:
        raise CorpusError(f"cannot load dataset {name!r}: {str(e).splitlines()[0] if str(e) else e}") from None
    return max(1, min(want, getattr(ds, "num_shards", 1) or 1))
