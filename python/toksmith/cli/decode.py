"""`toksmith decode`: token ids → text."""

from __future__ import annotations

import json
import re
import sys
from typing import Optional

import typer

from toksmith.cli.common import fail, load_tokenizer, one_line_errors


@one_line_errors
def decode(
    ids: Optional[list[str]] = typer.Argument(None, help="Token ids (default: read ids from standard input)."),
    tokenizer: str = typer.Option(
        ..., "--tokenizer", "-t", help="tokenizer.json, a folder holding one, or a .tiktoken file."
    ),
    pattern: Optional[str] = typer.Option(None, "--pattern", help="Pre-tokenizer preset for a .tiktoken file."),
    skip_special_tokens: bool = typer.Option(False, "--skip-special-tokens", help="Leave special tokens out."),
    as_json: bool = typer.Option(False, "--json", help='Print JSON: {"text": ...}.'),
) -> None:
    """Decode token ids (spaces, commas or a JSON list) back into text."""
    tok = load_tokenizer(tokenizer, pattern)
    raw = " ".join(ids) if ids else sys.stdin.read()
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            raw = " ".join(map(str, json.loads(raw)["ids"]))
        except (ValueError, KeyError, TypeError):
            raise fail("input JSON has no 'ids' list") from None
    parts = [p for p in re.split(r"[\s,\[\]]+", raw) if p]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise fail("ids must be integers") from None
    if any(n < 0 for n in nums):
        raise fail("ids must not be negative")
    data = tok.decode_bytes(nums, skip_special_tokens=skip_special_tokens)
    if as_json:
        print(json.dumps({"text": data.decode("utf-8", errors="replace")}))
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
