"""`toksmith info`: what a tokenizer file holds."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from toksmith.cli.common import load_tokenizer, one_line_errors, out_console


@one_line_errors
def info(
    tokenizer: str = typer.Argument(..., help="tokenizer.json, a folder holding one, or a .tiktoken file."),
    pattern: Optional[str] = typer.Option(None, "--pattern", help="Pre-tokenizer preset for a .tiktoken file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show vocabulary size, merges, pre-tokenizer, added tokens and the longest tokens."""
    tok = load_tokenizer(tokenizer, pattern)
    lengths = []
    for i in range(tok.vocab_size):
        b = tok.id_to_bytes(i)
        if b is not None:
            lengths.append((len(b), i, b))
    longest = sorted(lengths, key=lambda x: (-x[0], x[1]))[:5]
    d = {
        "file": tokenizer,
        "vocab_size": tok.vocab_size,
        "tokens": len(lengths),
        "merges": tok.n_merges,
        "mode": tok.mode,
        "pretokenizer": tok.pretokenizer,
        "added_tokens": [{"content": c, "id": i, "special": s} for c, i, s in tok.added_tokens],
        "mean_token_bytes": round(sum(x[0] for x in lengths) / max(1, len(lengths)), 3),
        "longest_tokens": [{"id": i, "bytes": n, "text": b.decode("utf-8", "replace")} for n, i, b in longest],
    }
    hf_note = getattr(tok, "hf_note", None)
    if hf_note is not None:
        d["format"] = "toksmith-morph"
        d["uppercase_marker"] = tok.uppercase[0] if tok.uppercase else None
        d["case_map"] = tok.uppercase[2] if tok.uppercase else None
        d["segmenter_at_encode"] = tok.segmenter
        d["allomorph_classes"] = [{"token": n, "id": i, "forms": dict(f)} for n, i, f in tok.allomorphs]
        d["hf_tokenizers"] = hf_note
    if as_json:
        print(json.dumps(d, indent=2, ensure_ascii=False))
        return
    t = Table(title=tokenizer, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("vocabulary", f"{d['vocab_size']:,} ids, {d['tokens']:,} tokens")
    t.add_row("merges", f"{d['merges']:,} ({'tiktoken ranks' if tok.mode == 'ranks' else 'HF merge list'})")
    t.add_row("pre-tokenizer", d["pretokenizer"])
    t.add_row("added tokens", ", ".join(f"{a['content']}={a['id']}" for a in d["added_tokens"][:12]) or "none")
    t.add_row("mean token length", f"{d['mean_token_bytes']} bytes")
    t.add_row("longest", ", ".join(repr(x["text"]) for x in d["longest_tokens"]))
    if hf_note is not None:
        t.add_row("format", "toksmith-morph (our own: a tokenizer.json inside, plus morphology options)")
        t.add_row("case marker", f"{d['uppercase_marker']} ({d['case_map']})" if d["uppercase_marker"] else "none")
        t.add_row("segmenter at encode", d["segmenter_at_encode"] or "none")
        if d["allomorph_classes"]:
            t.add_row(
                "shared allomorph ids",
                ", ".join(f"{a['token']}={'/'.join(a['forms'].values())}" for a in d["allomorph_classes"][:8]),
            )
        t.add_row("HF tokenizers", hf_note)
    out_console.print(t)
