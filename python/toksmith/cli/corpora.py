"""`toksmith corpora`: the named corpora and whether they are available here."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from toksmith.cli.common import one_line_errors, out_console
from toksmith.corpora import REGISTRY
from toksmith.errors import CorpusError


@one_line_errors
def corpora(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List named corpora usable with `train --corpus NAME`."""
    rows = []
    for c in REGISTRY.values():
        try:
            files = c.files()
            avail, size = True, sum(f.stat().st_size for f in files)
        except CorpusError:
            files, avail, size = [], False, 0
        rows.append(
            {
                "name": c.name,
                "available": avail,
                "files": len(files),
                "bytes_on_disk": size,
                "description": c.description,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table("name", "available", "files", "on disk", "description")
    for r in rows:
        t.add_row(
            r["name"],
            "yes" if r["available"] else "no",
            str(r["files"]),
            f"{r['bytes_on_disk'] / 1e6:,.1f} MB",
            r["description"],
        )
    out_console.print(t)
