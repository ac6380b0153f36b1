"""Re-tokenisation of a new token's bytes into old tokens (for subword mean and the hybrid's local estimate)."""

from __future__ import annotations

from toksmith.transplant.methods.context import Context


class GreedyOld:
    """Longest-match segmentation of bytes into old tokens (used when the old tokenizer cannot encode the bytes:
    invalid UTF-8, or a tokenizer that is not byte-level). Bytes no old token covers are skipped."""

    def __init__(self, ctx: Context):
        self.table: dict[bytes, int] = {}
        for i in ctx.regular_old_ids():
            t = ctx.old.tokens[i]
            if t and t not in self.table:
                self.table[t] = i
        self.maxlen = max((len(t) for t in self.table), default=1)

    def __call__(self, b: bytes) -> list[int]:
        out: list[int] = []
        pos = 0
        while pos < len(b):
            for n in range(min(self.maxlen, len(b) - pos), 0, -1):
                i = self.table.get(b[pos : pos + n])
                if i is not None:
                    out.append(i)
                    pos += n
                    break
            else:
                pos += 1
        return out


def old_pieces(ctx: Context, new_id: int) -> list[int]:
    """Old token ids that spell new token `new_id` (cached on the context)."""
    if new_id in ctx._pieces:
        return ctx._pieces[new_id]
    b = ctx.new.tokens[new_id] or b""
    ids: list[int] | None = None
    tok = ctx.old_tokenizer
    if tok is not None and ctx.old.kind in ("byte-level", "tiktoken"):
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text:
            enc = tok.backend_tokenizer.encode(text, add_special_tokens=False).ids
            if enc and all(i < ctx.old_limit and ctx.old.tokens[i] is not None for i in enc):
                ids = list(enc)
    if ids is None:
        if "greedy" not in ctx.options:
            ctx.options["greedy"] = GreedyOld(ctx)
        ids = ctx.options["greedy"](b)
    ctx._pieces[new_id] = ids
    return ids
