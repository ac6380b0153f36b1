"""`toksmith encode`: text → token ids."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from toksmith.cli.common import fail, load_tokenizer, one_line_errors


@one_line_errors
def encode(
    file: Optional[Path] = typer.Argument(None, help="Text file to encode (default: standard input)."),
    tokenizer: str = typer.Option(
        ..., "--tokenizer", "-t", help="tokenizer.json, a folder holding one, or a .tiktoken file."
    ),
    pattern: Optional[str] = typer.Option(None, "--pattern", help="Pre-tokenizer preset for a .tiktoken file."),
    text: Optional[str] = typer.Option(None, "--text", help="Encode this text instead of a file."),
    no_added_tokens: bool = typer.Option(False, "--no-added-tokens", help="Treat special-token strings as plain text."),
    count: bool = typer.Option(False, "--count", help="Print only the number of tokens."),
    as_json: bool = typer.Option(False, "--json", help='Print JSON: {"ids": [...], "count": N}.'),
) -> None:
    """Encode text into token ids (space-separated on one line)."""
    tok = load_tokenizer(tokenizer, pattern)
    if text is not None and file is not None:
        raise fail("give either a FILE or --text, not both")
    if text is None:
        if file is None:
            data = sys.stdin.buffer.read()
        else:
            if not file.is_file():
                raise fail(f"no such file: {file}")
            data = file.read_bytes()
        text = data.decode("utf-8", errors="replace")
    ids = tok.encode(text, added_tokens=not no_added_tokens)
    if as_json:
        print(json.dumps({"count": len(ids)} if count else {"ids": ids, "count": len(ids)}))
    elif count:
        print(len(ids))
    else:
        print(" ".join(map(str, ids)))
