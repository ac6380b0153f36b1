"""Shared CLI helpers: one-line errors, tokenizer loading, progress bars."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from toksmith.errors import ToksmithError
from toksmith.tokenizer import Tokenizer

err_console = Console(stderr=True)
out_console = Console()

F = TypeVar("F", bound=Callable[..., Any])


def fail(msg: str, code: int = 1) -> typer.Exit:
    """Print one line on stderr and return the exit to raise."""
    first = str(msg).strip().splitlines()[0] if str(msg).strip() else "failed"
    sys.stderr.write(f"toksmith: error: {first}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def one_line_errors(fn: F) -> F:
    """Turn expected failures (bad input) into one stderr line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*a: Any, **k: Any) -> Any:
        try:
            return fn(*a, **k)
        except typer.Exit:
            raise
        except (ToksmithError, ValueError, OSError, UnicodeError) as e:
            raise fail(str(e)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def load_tokenizer(spec: str, pattern: str | None = None) -> Tokenizer:
    """A `tokenizer.json` (or a folder holding one), or a `.tiktoken` rank file (with `pattern`)."""
    p = Path(spec)
    if p.suffix == ".tiktoken":
        return Tokenizer.from_tiktoken(p, pattern=pattern)
    from toksmith.morph import MorphTokenizer

    if MorphTokenizer.is_morph_file(p):
        return MorphTokenizer.from_file(p)
    return Tokenizer.from_file(p)


def progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not enabled,
    )
