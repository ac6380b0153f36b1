"""`toksmith eval-bpb`: corpus-level bits per byte of a causal LM with its own tokenizer."""

from __future__ import annotations

import json
from typing import Optional

import typer

from toksmith.cli.common import one_line_errors, progress_bar


@one_line_errors
def eval_bpb(
    model: str = typer.Argument(..., help="A Hugging Face causal LM folder (with its tokenizer)."),
    text: list[str] = typer.Argument(..., help="UTF-8 text files to score."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", "-t", help="Tokenizer (default: MODEL's own)."),
    lines_per_doc: int = typer.Option(10, "--lines-per-doc", min=1, help="Lines (sentences) per document."),
    chars_per_doc: Optional[int] = typer.Option(
        None, "--chars-per-doc", min=1, help="Instead: documents of this many characters (e.g. 2000 for code)."
    ),
    max_lines: Optional[int] = typer.Option(None, "--max-lines", min=1, help="Use the first N lines of each file."),
    max_chars: Optional[int] = typer.Option(None, "--max-chars", min=1, help="With --chars-per-doc: first N chars."),
    normalize: str = typer.Option(
        "none", "--normalize", help="none | bert (BERT's uncased normaliser, applied before scoring)."
    ),
    prefix: Optional[str] = typer.Option(
        None, "--prefix", help="Fixed text every document is conditioned on (not scored)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    batch_tokens: int = typer.Option(4096, "--batch-tokens", min=1, help="Tokens per forward batch (memory)."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the 95% interval."),
    byte_level: bool = typer.Option(
        False,
        "--byte-level",
        help="Exact byte-level scoring: each document's bytes under the model seen as a byte-level model (all "
        "canonical tokenizations of the bytes; toksmith.bytelm). About one model call per byte: small sets only.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Bits per byte of TEXT under MODEL: sum of token NLL (bits) / UTF-8 bytes, with a bootstrap 95% interval
    over documents, the tokens scored and bytes per token. Comparable across tokenizers (unlike perplexity)."""
    from toksmith.evalbpb import DEFAULT_PREFIX, load_documents
    from toksmith.evalbpb import eval_bpb as run
    from toksmith.transplant.model_io import load_causal_lm, load_tokenizer, require_torch

    _, transformers = require_torch()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    docs = load_documents(text, lines_per_doc, chars_per_doc, max_lines, max_chars, normalize)
    tok = load_tokenizer(tokenizer or model)
    lm = load_causal_lm(model, device=device)
    with progress_bar(progress) as bar:
        task = bar.add_task("scoring", total=len(docs))
        res = run(
            lm,
            docs,
            tokenizer=tok,
            prefix=DEFAULT_PREFIX if prefix is None else prefix,
            device=device,
            batch_tokens=batch_tokens,
            bootstrap=bootstrap,
            progress=lambda n: bar.advance(task, n),
            byte_level=byte_level,
        )
    if as_json:
        print(json.dumps({"model": model, "byte_level": byte_level, **res.to_dict()}))
    else:
        print(
            f"{res.bpb:.4f} bits/byte (95% CI {res.ci_low:.4f}-{res.ci_high:.4f}), {res.documents} documents, "
            f"{res.tokens} tokens, {res.bytes} bytes, {res.bytes_per_token:.3f} bytes/token"
        )
