"""`toksmith premium`: token premiums across languages on a parallel corpus (FLORES-200 by default)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from toksmith.cli.common import err_console, fail, one_line_errors, out_console, progress_bar

DEFAULT_TOKENIZERS = ["cl100k_base", "gpt2", "bytes"]


def _split_list(values: Optional[list[str]]) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def check_output(output: Optional[Path]) -> None:
    if output is None:
        return
    if output.is_dir():
        raise fail(f"output {output} is a folder; give a file name")
    if not output.parent.resolve().is_dir():
        raise fail(f"output folder {output.parent} does not exist")


@one_line_errors
def premium(
    tokenizers: Optional[list[str]] = typer.Argument(
        None,
        help="Tokenizer specs: tokenizer.json or its folder, X.tiktoken or tiktoken:PATH:PATTERN, sp:X.model, hf:PATH, "
        "bytes, chars; LABEL=SPEC names a column. Bare names are looked up in the shared tokenizers folder. "
        f"Default: {' '.join(DEFAULT_TOKENIZERS)}.",
    ),
    corpus: str = typer.Option(
        "flores200",
        "--corpus",
        "-c",
        help="flores200 (the shared zip), a FLORES-style zip/folder, or a folder of "
        "line-aligned per-language files (<lang>.txt).",
    ),
    ref: str = typer.Option("eng_Latn", "--ref", "-r", help="Reference language."),
    langs: Optional[list[str]] = typer.Option(
        None, "--langs", "-l", help="Languages to report (comma-separated or repeated; default: all)."
    ),
    split: str = typer.Option("both", "--split", help="dev, devtest or both (FLORES layout)."),
    joined: bool = typer.Option(
        False, "--joined", help="Petrov et al.'s protocol: one text per language, lines joined with single spaces."
    ),
    fmt: Optional[str] = typer.Option(
        None, "--format", "-f", help="table, md, csv, json or html (default: from --output's suffix, else table)."
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report here (atomically)."),
    prices: Optional[Path] = typer.Option(
        None, "--prices", help="Price per 1M input tokens by tokenizer name: JSON object or name,price CSV."
    ),
    sort: str = typer.Option("premium", "--sort", help="Row order: premium (first tokenizer), lang, bytes or a name."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the CI (0: none)."),
    ci: float = typer.Option(0.95, "--ci", help="Confidence level."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    compressors: str = typer.Option(
        "zstd:19",
        "--compressors",
        help="Compressor premiums: zstd[:LEVEL], xz[:LEVEL], gzip[:LEVEL], comma-separated, or none.",
    ),
    compress_every: int = typer.Option(
        4, "--compress-every", help="Compress 1 line in N (the same lines in every language); 1: the whole text."
    ),
    threads: Optional[int] = typer.Option(None, "--threads", "-j", help="Worker threads (default: all cores)."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Token premium of each language against a reference (Petrov et al. 2023) for each tokenizer."""
    from toksmith.analysis import report as rpt
    from toksmith.analysis.premium import compute_premium, load_prices

    check_output(output)
    fmt = "json" if as_json else rpt.format_from_path(output, fmt)
    price_map = load_prices(prices) if prices is not None else None
    specs = list(tokenizers or DEFAULT_TOKENIZERS)
    bar = progress_bar(not quiet and sys.stderr.isatty())
    with bar:
        task = bar.add_task("loading", total=len(specs))

        def tick(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"counting {name}" if name else "done")

        rep = compute_premium(
            specs,
            corpus=corpus,
            ref=ref,
            langs=_split_list(langs) or None,
            split=split,
            joined=joined,
            bootstrap=bootstrap,
            ci=ci,
            seed=seed,
            compressors=compressors,
            compress_every=compress_every,
            prices=price_map,
            threads=threads,
            progress=tick,
        )
        if price_map is not None and all(t.price is None for t in rep.tokenizers):
            raise fail(f"{prices}: no price for any of {', '.join(t.name for t in rep.tokenizers)}")
        if fmt == "html":
            bar.update(task, description="plotting")
        text = None if (fmt == "table" and output is None) else rpt.render_premium(rep, fmt, sort)
    if output is not None:
        from toksmith.atomic import write_text

        write_text(output, text or "")
        if not quiet:
            err_console.print(
                f"wrote {output} ({fmt}, {len(rep.langs)} languages × {len(rep.tokenizers)} tokenizers, "
                f"{rep.timings['total']:.1f} s)"
            )
        return
    if text is None:
        out_console.print(rpt.premium_table(rep, sort))
    else:
        sys.stdout.write(text)
