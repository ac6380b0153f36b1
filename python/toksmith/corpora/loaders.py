"""Loaders: turn user inputs into a stream for the Rust counter without holding a corpus as Python strings.

* plain text, `.gz`, `.zst`: read and decompressed in Rust (`Counter.feed_file`), each file one stream;
* `.xz` / `.lzma`: decompressed here in 8 MiB blocks and fed as bytes;
* `.jsonl` (optionally compressed): one document per line, from the `text_field` (default `text`);
* `.parquet`: the `text_field` column in record batches (needs `pyarrow`);
* a `datasets` dataset by name or local path, streamed (needs `datasets`).

Invalid UTF-8 never stops training: it is replaced by U+FFFD (as Python's `errors="replace"`) and counted.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import lzma
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from toksmith.errors import CorpusError

TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst", ".py", ".csv", ".tsv", ""}
COMPRESSED = {".gz", ".zst", ".zstd", ".xz", ".lzma"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | COMPRESSED | {".jsonl", ".parquet"}
BLOCK = 8 << 20
DOC_BATCH = 4096

Progress = Callable[[int], None]


def _suffixes(p: Path) -> tuple[str, str]:
    """(format suffix, compression suffix) of a path: `a.jsonl.zst` -> (`.jsonl`, `.zst`)."""
    s = [x.lower() for x in p.suffixes]
    comp = s[-1] if s and s[-1] in COMPRESSED else ""
    rest = s[:-1] if comp else s
    fmt = rest[-1] if rest else ""
    return fmt, comp


def _wanted(p: Path) -> bool:
    fmt, comp = _suffixes(p)
    return fmt in TEXT_SUFFIXES | {".jsonl", ".parquet"} or (comp != "" and fmt in TEXT_SUFFIXES)


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files, globs and folders (searched recursively for supported files) → sorted unique file list."""
    out: list[Path] = []
    for item in inputs:
        s = str(item)
        p = Path(s)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _wanted(f) and not f.name.startswith("."))
            if not found:
                raise CorpusError(f"folder {p} holds no supported text files")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif any(ch in s for ch in "*?["):
            found = sorted(Path(f) for f in glob.glob(s, recursive=True) if Path(f).is_file())
            if not found:
                raise CorpusError(f"no files match {s}")
            out.extend(found)
        else:
            raise CorpusError(f"no such file or folder: {s}")
    seen: set[Path] = set()
    uniq = []
    for f in out:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(f)
    return uniq


def _open_binary(p: Path) -> io.BufferedIOBase:
    _, comp = _suffixes(p)
    if comp == ".gz":
        return gzip.open(p, "rb")  # type: ignore[return-value]
    if comp in (".xz", ".lzma"):
        return lzma.open(p, "rb")  # type: ignore[return-value]
    if comp in (".zst", ".zstd"):
        import zstandard

        return zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(open(p, "rb"))  # type: ignore[return-value]
    return open(p, "rb")


def _jsonl_docs(p: Path, text_field: str) -> Iterator[str]:
    with _open_binary(p) as f:
        for n, raw in enumerate(io.TextIOWrapper(f, encoding="utf-8", errors="replace"), 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as e:
                raise CorpusError(f"{p}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict) or text_field not in rec:
                raise CorpusError(f"{p}:{n}: record has no field {text_field!r}")
            val = rec[text_field]
            if isinstance(val, str):
                yield val


def _parquet_docs(p: Path, text_field: str) -> Iterator[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - depends on install
        raise CorpusError("reading .parquet needs pyarrow: pip install 'toksmith[hf]'") from e
    try:
        pf = pq.ParquetFile(p)
    except Exception as e:  # pyarrow raises several types
        raise CorpusError(f"{p}: cannot read parquet: {e}") from None
    if text_field not in pf.schema_arrow.names:
        raise CorpusError(f"{p}: no column {text_field!r} (columns: {', '.join(pf.schema_arrow.names)})")
    for batch in pf.iter_batches(columns=[text_field], batch_size=DOC_BATCH):
        for v in batch.column(0).to_pylist():
            if isinstance(v, str):
                yield v


def _batched(it: Iterator[str], n: int = DOC_BATCH) -> Iterator[list[str]]:
    buf: list[str] = []
    for x in it:
        buf.append(x)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def iter_documents(p: Path, text_field: str = "text") -> Iterator[str]:
    """Documents of one file: jsonl records, parquet rows, or the whole file as one text."""
    fmt, _ = _suffixes(p)
    if fmt == ".jsonl":
        yield from _jsonl_docs(p, text_field)
    elif fmt == ".parquet":
        yield from _parquet_docs(p, text_field)
    else:
        with _open_binary(p) as f:
            yield f.read().decode("utf-8", errors="replace")


def feed_counter(counter: Any, p: Path, text_field: str = "text", progress: Progress | None = None) -> None:
    """Count one file into a `toksmith._core.Counter`. `progress(n)` gets bytes (or documents) done."""
    fmt, comp = _suffixes(p)
    try:
        if fmt in (".jsonl", ".parquet"):
            docs = _jsonl_docs(p, text_field) if fmt == ".jsonl" else _parquet_docs(p, text_field)
            for batch in _batched(docs):
                counter.add_documents(batch)
                if progress:
                    progress(sum(len(d) for d in batch))
        elif comp in (".xz", ".lzma"):
            with _open_binary(p) as f:
                while True:
                    block = f.read(BLOCK)
                    if not block:
                        break
                    counter.feed(block)
                    if progress:
                        progress(len(block))
            counter.end_stream()
        else:
            size = p.stat().st_size
            counter.feed_file(str(p))
            if progress:
                progress(size)
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise CorpusError(f"cannot read {p}: {e}") from None


def feed_dataset(
    counter: Any,
    name: str,
    config: str | None = None,
    split: str = "train",
    text_field: str = "text",
    progress: Progress | None = None,
    limit: int | None = None,
    shard: tuple[int, int] | None = None,
) -> None:
    """Count a `datasets` dataset (hub name or local path), streamed. `shard=(num_shards, index)` counts one
    contiguous shard of it (the shards of a dataset partition its rows)."""
    try:
        import datasets
    except ImportError as e:  # pragma: no cover
        raise CorpusError("--dataset needs the datasets package: pip install 'toksmith[hf]'") from e
    try:
        if Path(name).is_dir() and (Path(name) / "dataset_info.json").exists():
            ds = datasets.load_from_disk(name)
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[split]
            rows: Any = ds
        else:
            rows = datasets.load_dataset(name, config, split=split, streaming=True)
        if shard is not None:
            rows = rows.shard(num_shards=shard[0], index=shard[1], contiguous=True)
    except Exception as e:  # datasets raises many types
        raise CorpusError(f"cannot load dataset {name!r}: {str(e).splitlines()[0] if str(e) else e}") from None

    def texts() -> Iterator[str]:
        for n, row in enumerate(rows):
            if limit is not None and n >= limit:
                break
            if text_field not in row:
                raise CorpusError(f"dataset {name!r} has no field {text_field!r} (fields: {', '.join(row)})")
            v = row[text_field]
            if isinstance(v, str):
                yield v

    for batch in _batched(texts()):
        counter.add_documents(batch)
        if progress:
            progress(sum(len(d) for d in batch))
