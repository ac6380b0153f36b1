"""The `toksmith` command line: one verb per user job, each a thin layer over the Python API."""

from __future__ import annotations

import typer

from toksmith.cli import analyze, complete, decode, encode, eval_bpb, info, premium, train, transplant
from toksmith.cli import corpora as corpora_cmd

app = typer.Typer(
    name="toksmith",
    help="Tokenizer engineering toolkit: train byte-level BPE fast, encode/decode, inspect tokenizer files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("train")(train.train)
app.command("encode")(encode.encode)
app.command("decode")(decode.decode)
app.command("info")(info.info)
app.command("corpora")(corpora_cmd.corpora)
app.command("premium")(premium.premium)
app.command("analyze")(analyze.analyze)
app.command("complete")(complete.complete)
app.command("transplant")(transplant.transplant)
app.command("eval-bpb")(eval_bpb.eval_bpb)


def main() -> None:
    app()
