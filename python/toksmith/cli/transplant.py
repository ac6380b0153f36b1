"""`toksmith transplant`: give a Hugging Face causal LM a new tokenizer without training."""

from __future__ import annotations

from typing import Optional

import typer

from toksmith.cli.common import err_console, one_line_errors


@one_line_errors
def transplant(
    base: str = typer.Argument(
        ..., help="The base model: a Hugging Face causal LM folder (config, weights, tokenizer)."
    ),
    new_tokenizer: str = typer.Argument(
        ..., help="The new tokenizer: an HF folder, a tokenizer.json, or a tiktoken rank file (gpt2.tiktoken, ...)."
    ),
    out: str = typer.Argument(..., help="Output folder (a complete HF model directory, written atomically)."),
    method: Optional[str] = typer.Option(
        None,
        "--method",
        "-m",
        help="omp (needs --donor) | hybrid | subword-mean | mean | zero. Default: omp with a donor, else hybrid.",
    ),
    donor: Optional[str] = typer.Option(
        None, "--donor", help="OMP donor: an HF model folder that natively uses the new tokenizer (BERT works)."
    ),
    aux_embedder: Optional[str] = typer.Option(
        None,
        "--aux-embedder",
        help="Hybrid's auxiliary space: a sentence-embedder folder (e.g. all-MiniLM-L6-v2); default: the base "
        "model's own embeddings.",
    ),
    k: Optional[int] = typer.Option(
        None, "--k", min=1, help="OMP atoms per token (default 64) / hybrid's global neighbours (default 8)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda: where the OMP / similarity kernels run."),
    untie: bool = typer.Option(False, "--untie", help="Give a tied model a separate output head."),
    center: bool = typer.Option(
        True,
        "--center/--no-center",
        help="OMP: code each row relative to the anchors' mean row in both spaces (default); --no-center is the "
        "plain OMP of the paper and of mergekit-tokensurgeon.",
    ),
    donor_space: str = typer.Option(
        "static",
        "--donor-space",
        help="OMP: static = code over the donor's embedding rows of the shared tokens (the paper's form); "
        "contextual = run the donor on token strings and code over every old token (better with encoder donors "
        "such as MiniLM: 1.409 vs 1.461 BPB in bench/RESULTS.md; slower the first time, cached after).",
    ),
    sparse_weight: float = typer.Option(
        0.5,
        "--sparse-weight",
        min=0.0,
        max=1.0,
        help="Hybrid: weight of the sparse estimate (OMP over every old token in the auxiliary space); 0 gives "
        "the TokenAdapt-style local + top-k blend alone.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress messages."),
) -> None:
    """Transplant NEW_TOKENIZER into BASE: shared tokens keep their rows (matched by exact bytes and word-start),
    special tokens are matched by role, the other rows come from --method. Writes OUT (config, safetensors,
    tokenizer files, chat template) that loads with AutoModelForCausalLM / AutoTokenizer."""
    from toksmith.transplant import transplant as run
    from toksmith.transplant.model_io import require_torch

    _, transformers = require_torch()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    def log(msg: str) -> None:
        if not quiet:
            err_console.print(f"[dim]{msg}[/dim]")

    report = run(
        base,
        new_tokenizer,
        out,
        method=method,
        donor=donor,
        aux_embedder=aux_embedder,
        k=k,
        device=device,
        untie=untie,
        overwrite=overwrite,
        center=center,
        donor_space=donor_space,
        options={"w_sparse": sparse_weight},
        log=log,
    )
    if as_json:
        print(report.to_json())
    else:
        safe = sum(1 for v in report.specials.values() if v == "safe")
        print(
            f"wrote {report.out}: {report.new_vocab_size} tokens, {report.anchors} shared, "
            f"{report.initialised} initialised by {report.method}, {len(report.specials)} special "
            f"({safe} safe rows), {len(report.added_specials)} base control tokens added, "
            f"{'tied' if report.tied else 'untied'}, {report.seconds:.1f} s"
        )
    if report.out_of_range_old_ids:
        err_console.print(
            f"warning: {report.out_of_range_old_ids} ids of the base tokenizer have no row in the base model"
        )
