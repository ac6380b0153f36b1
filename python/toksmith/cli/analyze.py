"""`toksmith analyze`: information-theoretic metrics of tokenizers on a corpus."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from toksmith.cli.common import err_console, one_line_errors, out_console, progress_bar
from toksmith.cli.premium import check_output


@one_line_errors
def analyze(
    tokenizers: list[str] = typer.Argument(
        ...,
        help="Tokenizer specs: tokenizer.json or its folder, X.tiktoken or tiktoken:PATH:PATTERN, sp:X.model, "
        "hf:PATH, bytes, chars; LABEL=SPEC names a column.",
    ),
    corpus: list[str] = typer.Option(
        ..., "--corpus", "-c", help="Corpus files, folders or globs (.txt .gz .zst .xz .jsonl .parquet); repeatable."
    ),
    alpha: float = typer.Option(2.5, "--alpha", help="Rényi order α."),
    kmax: int = typer.Option(5, "--k", help="Largest context order k for the conditional entropies H_1..H_k."),
    vocab: str = typer.Option(
        "observed",
        "--vocab",
        help="Vocabulary size in the efficiencies: observed (types, tokenization-scorer's "
        "convention) or tokenizer (|V|).",
    ),
    compressors: str = typer.Option("gzip,xz,zstd", "--compressors", help="gzip/xz/zstd[:LEVEL], comma-separated."),
    text_field: str = typer.Option("text", "--text-field", help="Text field of .jsonl/.parquet records."),
    fmt: Optional[str] = typer.Option(
        None, "--format", "-f", help="table, md, csv, json or html (default: from --output's suffix, else table)."
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report here (atomically)."),
    threads: Optional[int] = typer.Option(None, "--threads", "-j", help="Worker threads (default: all cores)."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Tokens, fertility, entropies (Shannon, Rényi, conditional H_k), bits per byte and compressors per tokenizer."""
    from toksmith.analysis import report as rpt
    from toksmith.analysis.corpus import read_segments
    from toksmith.analysis.metrics import analyze as analyze_api

    check_output(output)
    fmt = "json" if as_json else rpt.format_from_path(output, fmt)
    segments = read_segments(list(corpus), text_field=text_field)
    bar = progress_bar(not quiet and sys.stderr.isatty())
    with bar:
        task = bar.add_task("loading", total=len(tokenizers))

        def tick(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"analyzing {name}" if name else "done")

        rep = analyze_api(
            list(tokenizers),
            segments,
            corpus_names=list(corpus),
            alpha=alpha,
            kmax=kmax,
            compressors=compressors,
            vocab_convention=vocab,
            threads=threads,
            progress=tick,
        )
        text = None if (fmt == "table" and output is None) else rpt.render_analysis(rep, fmt)
    if output is not None:
        from toksmith.atomic import write_text

        write_text(output, text or "")
        if not quiet:
            err_console.print(f"wrote {output} ({fmt}, {len(rep.tokenizers)} tokenizers, {rep.timings['total']:.1f} s)")
        return
    if text is None:
        out_console.print(rpt.analysis_table(rep))
    else:
        sys.stdout.write(text)
