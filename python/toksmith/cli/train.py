"""`toksmith train`: learn a byte-level BPE tokenizer and write `tokenizer.json`."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from toksmith.cli.common import err_console, fail, one_line_errors, out_console, progress_bar
from toksmith.corpora import REGISTRY, default_corpus, expand_inputs, iter_documents, resolve
from toksmith.train import train as train_api

SAMPLE_BYTES = 1 << 20


def _sample_text(files: list[Path], text_field: str) -> str:
    """Up to 1 MiB of text from the first inputs, for the compression line of the summary."""
    out: list[str] = []
    n = 0
    for f in files:
        for d in iter_documents(f, text_field):
            out.append(d[: SAMPLE_BYTES - n])
            n += len(out[-1])
            if n >= SAMPLE_BYTES:
                return "".join(out)
    return "".join(out)


@one_line_errors
def train(
    files: Optional[list[str]] = typer.Argument(
        None, help="Text files, globs or folders (.txt .gz .zst .xz .jsonl .parquet). Default: --corpus."
    ),
    vocab_size: int = typer.Option(
        32000, "--vocab-size", "-v", help="Final vocabulary size (bytes and specials included)."
    ),
    pretokenizer: str = typer.Option(
        "cl100k",
        "--pretokenizer",
        "-p",
        help="Split pattern: gpt2, cl100k, o200k, llama3, whitespace, none or regex:PAT; digits+NAME isolates digits.",
    ),
    output: Path = typer.Option(Path("tokenizer.json"), "--output", "-o", help="Where to write tokenizer.json."),
    corpus: Optional[str] = typer.Option(None, "--corpus", "-c", help=f"A named corpus ({', '.join(REGISTRY)})."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="A datasets dataset: NAME[:CONFIG] or a local path."),
    split: str = typer.Option("train", "--split", help="Dataset split."),
    text_field: str = typer.Option("text", "--text-field", help="Text field of .jsonl/.parquet/dataset records."),
    min_frequency: int = typer.Option(
        1, "--min-frequency", help="Stop early when the best pair occurs fewer times than this."
    ),
    special_tokens: Optional[list[str]] = typer.Option(
        None, "--special-token", "-s", help="A special token (repeatable); they get the first ids."
    ),
    max_token_length: Optional[int] = typer.Option(None, "--max-token-length", help="Longest token in bytes."),
    threads: Optional[int] = typer.Option(None, "--threads", "-j", help="Worker threads (default: all cores)."),
    engine: str = typer.Option(
        "local", "--engine", help="Where to count: local (this process) or ray (tasks on a Ray cluster)."
    ),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray cluster address (HOST:PORT); default $RAY_ADDRESS or a private local Ray."
    ),
    memory_budget: Optional[str] = typer.Option(
        None, "--memory-budget", help="Cap each counter's count table (e.g. 4GB); past it, sorted runs spill to disk."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    algorithm: str = typer.Option(
        "bpe",
        "--algorithm",
        "-a",
        help="bpe, superbpe (multi-word supertokens), compress (BPE with --objective) or morph (merges respect "
        "--segmenter boundaries).",
    ),
    transition: Optional[str] = typer.Option(
        None, "--transition", help="superbpe: vocabulary size after stage 1 (default auto: chosen from the data)."
    ),
    max_words: Optional[int] = typer.Option(4, "--max-words", help="superbpe: most words per token (0: no bound)."),
    stage2_pretokenizer: Optional[str] = typer.Option(
        None, "--stage2-pretokenizer", help="superbpe: stage-2 split (default superword)."
    ),
    objective: Optional[str] = typer.Option(
        None, "--objective", help="Merge objective: frequency, mdl or lz (default: lz with compress, else frequency)."
    ),
    stop_when_no_gain: bool = typer.Option(
        False, "--stop-when-no-gain", help="mdl: stop when no merge shortens corpus + dictionary (size from the data)."
    ),
    lz_candidates: int = typer.Option(8, "--lz-candidates", help="lz: most frequent pairs re-scored per merge."),
    lz_codec: str = typer.Option("zstd", "--lz-codec", help="lz: proxy compressor, zstd[:LEVEL] or deflate[:LEVEL]."),
    lz_sample_bytes: int = typer.Option(1 << 17, "--lz-sample-bytes", help="lz: bytes of input text in the sample."),
    segmenter: Optional[str] = typer.Option(
        None,
        "--segmenter",
        help="morph: gold:FILE (SIGMORPHON 2022 word<TAB>morph @@morph; gold:FILE,unseen=0.05 also cuts words the "
        "file lacks, by its morphs and the corpus's words; add ,known=lexicon to cut the words it holds that way "
        "too, so frequent ones stay whole), mdl (Morfessor-style, learned from the corpus; "
        "mdl:weight=1,dampening=ones,seed=0,decode=viterbi|tree) or lexicon:FILE (roots+affixes JSON/TSV, or a "
        "folder with turkish-tokenizer's kokler.json/ekler.json; lexicon:FILE,compound=N also reads a word with "
        "no complete root+affix parse as up to 3 root+affix groups, later roots at least N chars).",
    ),
    boundary_penalty: float = typer.Option(
        0.0,
        "--boundary-penalty",
        help="morph: multiplier of pair counts across a morph boundary, 0 (merges never cross one) to 1 (plain BPE).",
    ),
    uppercase: Optional[str] = typer.Option(
        None,
        "--uppercase",
        help="morph: lossless <uppercase> marker instead of capitals, with case map unicode or turkish (I/ı, İ/i). "
        "Writes our toksmith-morph format (HF tokenizers cannot reproduce the marker).",
    ),
    segment_at_encode: bool = typer.Option(
        False,
        "--segment-at-encode",
        help="morph: store the segmenter and cut words at encode time too (toksmith-morph format).",
    ),
    allomorphs: Optional[Path] = typer.Option(
        None,
        "--allomorphs",
        help="morph: JSON rules for shared allomorph ids, {features: {NAME: CHARS}, classes: {CLASS: {FEATURE: "
        "FORM}}} (e.g. Turkish vowel harmony); lossless, toksmith-morph format.",
    ),
    whitespace_tokens: bool = typer.Option(
        False,
        "--whitespace-tokens",
        help="morph: each space/newline/tab its own token (replaces --pretokenizer by a whitespace-isolating split).",
    ),
) -> None:
    """Train a byte-level BPE tokenizer (counting in parallel in Rust) and write tokenizer.json."""
    if not output.parent.resolve().is_dir():
        raise fail(f"output folder {output.parent} does not exist")
    if output.is_dir():
        raise fail(f"output {output} is a folder; give a file name such as {output / 'tokenizer.json'}")
    inputs = list(files or [])
    ds_name, ds_config = None, None
    if dataset:
        ds_name, _, cfg = dataset.partition(":")
        ds_config = cfg or None
    if not inputs and not corpus and not dataset:
        corpus = default_corpus().name
        if not as_json:
            err_console.print(f"no input given: training on the default corpus [bold]{corpus}[/]")
    sample_files = expand_inputs(inputs) if inputs else (resolve(corpus) if corpus else [])

    bar = progress_bar(not quiet and not as_json)
    t0 = time.perf_counter()
    with bar:
        tasks: dict[str, int] = {}

        def progress(phase: str, done: int, total: int) -> bool:
            if phase not in tasks:
                label = "counting" if phase == "count" else "merging"
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], completed=done, total=total)
            return True

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tok = train_api(
                inputs or None,
                corpus=corpus,
                dataset=ds_name,
                dataset_config=ds_config,
                split=split,
                text_field=text_field,
                vocab_size=vocab_size,
                pretokenizer=pretokenizer,
                min_frequency=min_frequency,
                special_tokens=special_tokens or [],
                max_token_length=max_token_length,
                threads=threads,
                progress=progress,
                algorithm=algorithm,
                objective=objective,
                transition=transition,
                max_words=max_words or None,
                stage2_pretokenizer=stage2_pretokenizer,
                stop_when_no_gain=stop_when_no_gain,
                lz_candidates=lz_candidates,
                lz_codec=lz_codec,
                lz_sample_bytes=lz_sample_bytes,
                engine=engine,
                address=address,
                memory_budget=memory_budget,
                segmenter=segmenter,
                boundary_penalty=boundary_penalty,
                uppercase=uppercase or False,
                segment_at_encode=segment_at_encode,
                whitespace_tokens=whitespace_tokens,
                allomorphs=allomorphs,
            )
    tok.save(output)
    total = time.perf_counter() - t0
    st = tok.stats
    sample = _sample_text(sample_files, text_field)
    sample_bytes = len(sample.encode("utf-8"))
    bpt = sample_bytes / max(1, len(tok.encode(sample, added_tokens=False))) if sample else None
    summary = {
        "output": str(output),
        "inputs": st.inputs,
        "pretokenizer": tok.pretokenizer,
        "vocab_size": tok.vocab_size,
        "merges": tok.n_merges,
        "bytes": st.bytes,
        "documents": st.documents,
        "unique_chunks": st.unique_chunks,
        "invalid_utf8_sequences": st.invalid_utf8_sequences,
        "seconds_count": round(st.seconds_count, 3),
        "seconds_merge": round(st.seconds_merge, 3),
        "seconds_total": round(total, 3),
        "peak_rss_mb": round(st.peak_rss_mb, 1),
        "bytes_per_token_sample": round(bpt, 4) if bpt else None,
        "sample_bytes": sample_bytes,
        "stopped_early": st.stopped_early,
        "algorithm": st.algorithm,
        "engine": st.engine,
        "shards": st.shards,
        "workers": st.workers,
        "spill_runs": st.spill_runs,
    }
    if st.details:
        summary["details"] = {k: v for k, v in st.details.items() if not k.endswith("_counts")}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    t = Table(title=f"trained {output}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("inputs", ", ".join(st.inputs))
    t.add_row("text", f"{st.bytes / 1e6:,.1f} MB in {st.documents:,} documents, {st.unique_chunks:,} distinct chunks")
    if st.stopped_early:
        t.add_row("note", st.stopped_early)
    if st.invalid_utf8_sequences:
        t.add_row("invalid UTF-8", f"{st.invalid_utf8_sequences:,} sequences replaced by U+FFFD")
    t.add_row("vocabulary", f"{tok.vocab_size:,} tokens ({tok.n_merges:,} merges), pre-tokenizer {tok.pretokenizer}")
    t.add_row(
        "time",
        f"{total:.2f} s (counting {st.seconds_count:.2f} s = {st.bytes / 1e6 / max(st.seconds_count, 1e-9):,.0f} MB/s, "
        f"merging {st.seconds_merge:.2f} s)",
    )
    t.add_row("peak memory", f"{st.peak_rss_mb:,.0f} MB RSS" + (" (driver)" if st.engine == "ray" else ""))
    d = st.details
    if st.algorithm == "superbpe":
        how = "chosen from the data" if d.get("auto_transition") else "given"
        t.add_row(
            "supertokens",
            f"transition {d['transition']:,} ({how}): {d['stage1_merges']:,} stage-1 + {d['stage2_merges']:,} "
            f"stage-2 merges, stage 2 split {d['stage2_pretokenizer']}, at most {d['max_words'] or 'any'} words/token",
        )
    elif st.algorithm == "morph":
        t.add_row(
            "morphology",
            f"segmenter {d['segmenter']}, boundary penalty {d['boundary_penalty']:g}: "
            f"{d['chunks_with_boundaries']:,} of {d['chunks']:,} chunks cut, {d['crossing_merges']:,} merges crossed "
            "a boundary",
        )
        if d.get("uppercase") or d.get("segment_at_encode") or d.get("allomorphs"):
            t.add_row("format", f"toksmith-morph: {tok.hf_note}")
    elif d:
        extra = f", {d['ms_per_merge']:.2f} ms/merge" if "ms_per_merge" in d else ""
        t.add_row("objective", f"{d['objective']}{extra}")
    if st.engine == "ray":
        t.add_row("ray", f"{st.shards:,} shards counted on {st.workers:,} CPUs")
    if st.spill_runs:
        t.add_row("spilled", f"{st.spill_runs:,} sorted runs (memory budget {memory_budget})")
    if bpt:
        t.add_row("compression", f"{bpt:.3f} bytes/token on the first {sample_bytes / 1e6:.1f} MB of training text")
    out_console.print(t)
