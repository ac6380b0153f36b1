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
    morph_gold: list[str] = typer.Option(
        [],
        "--morph-gold",
        help="Gold morpheme segmentations (SIGMORPHON 2022 word TSV: word<TAB>morph @@morph ...), [LABEL=]FILE or "
        "a language code of the shared data (eng, hun, ...); repeatable. Adds boundary P/R/F1 (surface entries), "
        "morphological consistency F1, edit distance and tokens per word.",
    ),
    dictionary: Optional[Path] = typer.Option(
        None,
        "--dictionary",
        help="turkish-tokenizer's dictionaries (kokler.json, ekler.json): a folder holding them or the package's "
        "sdist/wheel (pip download --no-deps turkish-tokenizer). Adds the share of token occurrences and types "
        "that are dictionary roots/affixes on the corpus (an offline stand-in for TR%/Pure%).",
    ),
    morph_prefix: str = typer.Option(
        " ", "--morph-prefix", help="Text put before each gold word when tokenizing it (cut off again)."
    ),
    morph_pair_words: int = typer.Option(
        20000,
        "--morph-pair-words",
        help="Consistency F1 counts all word pairs; above this many gold words, a seeded sample of this many.",
    ),
) -> None:
    """Tokens, fertility, entropies (Shannon, Rényi, conditional H_k), bits per byte and compressors per tokenizer;
    with --morph-gold / --dictionary also morphology metrics."""
    from toksmith.analysis import report as rpt
    from toksmith.analysis.corpus import read_segments
    from toksmith.analysis.metrics import analyze as analyze_api
    from toksmith.analysis.tokenizers import load_all

    check_output(output)
    fmt = "json" if as_json else rpt.format_from_path(output, fmt)
    golds, dic = _morph_inputs(morph_gold, dictionary, morph_pair_words)
    segments = read_segments(list(corpus), text_field=text_field)
    bar = progress_bar(not quiet and sys.stderr.isatty())
    with bar:
        task = bar.add_task("loading", total=len(tokenizers))

        def tick(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"analyzing {name}" if name else "done")

        loaded = load_all(list(tokenizers), threads=threads)
        rep = analyze_api(
            loaded,
            segments,
            corpus_names=list(corpus),
            alpha=alpha,
            kmax=kmax,
            compressors=compressors,
            vocab_convention=vocab,
            threads=threads,
            progress=tick,
        )
        if golds or dic is not None:
            from toksmith.analysis.morph import add_morph_metrics

            add_morph_metrics(
                rep, loaded, golds, dic, segments, prefix=morph_prefix, max_pairs_words=morph_pair_words, progress=tick
            )
            tick("", len(loaded), len(loaded))
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


def _morph_inputs(golds: list[str], dictionary: Optional[Path], pair_words: int) -> tuple[list, object]:
    """Read the gold files and the dictionary before any tokenizing, so bad input fails fast."""
    if not golds and dictionary is None:
        return [], None
    from toksmith.analysis.morph import load_turkish_dictionary, resolve_gold
    from toksmith.corpora.morphseg import read_morphseg
    from toksmith.errors import AnalysisError

    if pair_words < 2:
        raise AnalysisError(f"--morph-pair-words must be at least 2: {pair_words}")
    out = []
    for g in golds:
        label, path = resolve_gold(g)
        out.append((label, read_morphseg(path)))
    return out, (load_turkish_dictionary(dictionary) if dictionary is not None else None)
