"""`toksmith complete`: continue a prompt with a Hugging Face causal LM, byte-exactly or token-wise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from toksmith.cli.common import fail, one_line_errors


@one_line_errors
def complete(
    model: str = typer.Argument(
        ..., help="A Hugging Face model folder (config, weights and tokenizer.json, or a GGUF file)."
    ),
    prompt: str = typer.Option(..., "--prompt", "-p", help="The text to continue (may end inside a word)."),
    byte_level: bool = typer.Option(
        False, "--byte-level", help="Exact byte-level continuation (the default): the prompt may end mid-token."
    ),
    token_healing: bool = typer.Option(
        False, "--token-healing", help="Back up one token and make the first new token start with its bytes."
    ),
    naive: bool = typer.Option(False, "--naive", help="Tokenize the prompt and decode tokens greedily."),
    max_bytes: int = typer.Option(64, "--max-bytes", "-n", min=1, help="Bytes to generate (about)."),
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", "-t", help="tokenizer.json to use (default: the one in MODEL)."
    ),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    as_json: bool = typer.Option(False, "--json", help='Print JSON: {"mode", "prompt", "completion", ...}.'),
) -> None:
    """Greedy continuation of PROMPT by the model in MODEL (needs the lm extra: torch and transformers)."""
    modes = [m for m, on in (("byte-level", byte_level), ("token-healing", token_healing), ("naive", naive)) if on]
    if len(modes) > 1:
        raise fail("choose one of --byte-level, --token-healing, --naive")
    mode = modes[0] if modes else "byte-level"
    from toksmith.bytelm_hf import require_lm

    require_lm()
    from toksmith.bytelm import ByteLM, _as_tokenizer, _find_eos
    from toksmith.bytelm_hf import HFCausalLM, naive_generate, token_healing_generate

    path = Path(model)
    if not path.is_dir():
        raise fail(f"{model}: not a model folder")
    tok, _ = _as_tokenizer(Path(tokenizer) if tokenizer else path)
    eos = _find_eos(tok)
    lm = HFCausalLM(path, device=device)
    # the tokenizer's own BOS (a TemplateProcessing post-processor's <s>), else end of text as a separator
    context = list(getattr(tok, "_bos_context", []))
    if not context:
        context = [eos] if eos is not None else ([lm.bos_id] if lm.bos_id is not None else [])
    if mode == "byte-level":
        blm = ByteLM(lm, tok, eos_id=eos, context=context)
        completion = blm.generate(prompt, max_bytes=max_bytes)
        calls = blm.lm_rows
    else:
        ids = context + tok.encode(prompt, added_tokens=False)
        token_bytes = [tok.id_to_bytes(i) for i in range(tok.vocab_size)]
        max_tokens = max(1, max_bytes // 2)
        if mode == "naive":
            new = naive_generate(lm, ids, max_tokens, eos)
            data = b"".join(token_bytes[t] or b"" for t in new)
        else:
            new, back = token_healing_generate(lm, ids, token_bytes, max_tokens, eos)
            data = b"".join(token_bytes[t] or b"" for t in new)[len(back) :]
        completion = data[:max_bytes].decode("utf-8", errors="replace")
        calls = lm.forward_calls
    if as_json:
        print(json.dumps({"mode": mode, "prompt": prompt, "completion": completion, "model_calls": calls}))
    else:
        print(prompt + completion)
