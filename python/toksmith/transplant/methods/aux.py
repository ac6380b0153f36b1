"""The auxiliary embedding space of the hybrid method: a sentence embedder (e.g. all-MiniLM-L6-v2, mean pooling
over its last hidden states, L2-normalised) run on token strings, or the base model's own input embeddings."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Optional

from toksmith.errors import TransplantError


def token_text(b: Optional[bytes]) -> str:
    return (b or b"").decode("utf-8", errors="replace")


class SentenceEmbedder:
    def __init__(self, path: str | os.PathLike, device: str = "cpu", batch_size: int = 512):
        import torch
        import transformers

        p = Path(path)
        if not (p / "config.json").exists():
            raise TransplantError(f"auxiliary embedder {p} is not a Hugging Face model directory")
        try:
            self.tok = transformers.AutoTokenizer.from_pretrained(str(p))
            self.model = transformers.AutoModel.from_pretrained(str(p), dtype=torch.float32).to(device).eval()
        except Exception as e:
            raise TransplantError(f"cannot load auxiliary embedder {p}: {str(e).splitlines()[0]}") from None
        self.path = p
        self.device = device
        self.batch_size = batch_size

    def key(self) -> str:
        st = (self.path / "config.json").stat()
        return f"{self.path.resolve()}:{st.st_mtime_ns}"

    def __call__(self, texts: list[str], progress: Any = None) -> Any:
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros(len(texts), int(self.model.config.hidden_size))
        with torch.inference_mode():
            for s in range(0, len(order), self.batch_size):
                chunk = order[s : s + self.batch_size]
                enc = self.tok(
                    [texts[i] for i in chunk], padding=True, truncation=True, max_length=32, return_tensors="pt"
                ).to(self.device)
                h = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                v = (h * mask).sum(1) / mask.sum(1).clamp(min=1)
                out[torch.tensor(chunk)] = torch.nn.functional.normalize(v, dim=-1).cpu()
                if progress is not None:
                    progress(len(chunk))
        return out


def progress_log(log: Any, label: str, total: int) -> Any:
    """A progress callback (`progress(n_done_in_this_batch)`) that reports `label: done / total` through `log`
    about every 10%; None when there is no `log`."""
    if log is None or total <= 0:
        return None
    state = {"done": 0, "next": max(total // 10, 1)}

    def progress(n: int) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] >= total:
            log(f"{label}: {min(state['done'], total):,} / {total:,}")
            state["next"] = state["done"] + max(total // 10, 1)

    return progress


def embed_token_strings(embedder: SentenceEmbedder, ctx: Any, ids: list[int], label: str) -> tuple[Any, Any]:
    """(vectors of the new tokens `ids`, vectors of every old token, cached): `embedder` run on the token strings,
    with progress lines `label: old/new token strings` through the context's log."""
    log = ctx.options.get("log")
    n_old = ctx.old_limit
    old = cached_old_aux(embedder, ctx.old.tokens[:n_old], progress_log(log, f"{label} old token strings", n_old))
    new = embedder(
        [token_text(ctx.new.tokens[i]) for i in ids], progress_log(log, f"{label} new token strings", len(ids))
    )
    return new, old


def cached_old_aux(embedder: SentenceEmbedder, old_tokens: list[Optional[bytes]], progress: Any = None) -> Any:
    """The embedder's vectors of every old token string, cached in ~/.cache/toksmith/aux (keyed by the embedder
    and the vocabulary)."""
    import torch

    h = hashlib.sha256(embedder.key().encode())
    for t in old_tokens:
        h.update(b"\x00" if t is None else b"\x01" + len(t).to_bytes(4, "little") + t)
    root = Path(os.environ.get("TOKSMITH_CACHE", Path.home() / ".cache" / "toksmith")) / "aux"
    f = root / f"{h.hexdigest()[:24]}.pt"
    if f.exists():
        try:
            return torch.load(f)
        except Exception:
            pass
    vecs = embedder([token_text(t) for t in old_tokens], progress)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(f".{os.getpid()}.tmp")
        torch.save(vecs, tmp)
        os.replace(tmp, f)
    except OSError:
        pass
    return vecs
