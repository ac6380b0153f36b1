"""Loading base/donor models and tokenizers, and writing the transplanted model as a complete HF directory.

torch and transformers are imported lazily (`pip install 'toksmith[transplant]'`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from toksmith.errors import TransplantError
from toksmith.transplant.vocab import Vocab, vocab_from_json

EXTRA = "the transplant needs torch and transformers: pip install 'toksmith[transplant]'"


def require_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except (ImportError, OSError) as e:
        detail = "" if isinstance(e, ImportError) else f" ({str(e).splitlines()[0]})"
        raise TransplantError(EXTRA + detail) from None
    return torch, transformers


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def load_tokenizer(spec: str | os.PathLike) -> Any:
    """A Hugging Face fast tokenizer from an HF directory, a `tokenizer.json` or a tiktoken rank file
    (`gpt2.tiktoken`, `cl100k_base.tiktoken`, ...: loaded by toksmith and converted to `tokenizer.json`)."""
    _, transformers = require_torch()
    p = Path(spec)
    if not p.exists():
        raise TransplantError(f"no such tokenizer: {p}")
    try:
        if p.is_dir():
            if not (p / "tokenizer.json").exists():
                raise TransplantError(f"{p} holds no tokenizer.json")
            return transformers.AutoTokenizer.from_pretrained(str(p))
        if p.suffix == ".tiktoken":
            from toksmith.tokenizer import Tokenizer

            tk = Tokenizer.from_tiktoken(p)
            with tempfile.TemporaryDirectory() as tmp:
                tk.save(Path(tmp) / "tokenizer.json")
                tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(Path(tmp) / "tokenizer.json"))
            _guess_roles(tok)
            return tok
        if p.suffix == ".json":
            tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(p))
            cfg = p.parent / "tokenizer_config.json"
            if cfg.exists():
                _apply_config_roles(tok, json.loads(cfg.read_text(encoding="utf-8")))
            _guess_roles(tok)
            return tok
    except TransplantError:
        raise
    except Exception as e:  # tokenizers raises plain Exceptions on malformed files
        raise TransplantError(f"cannot load tokenizer {p}: {_first_line(e)}") from None
    raise TransplantError(f"{p}: not a tokenizer (an HF directory, a tokenizer.json or a .tiktoken file)")


def _apply_config_roles(tok: Any, cfg: dict) -> None:
    for role in ("bos", "eos", "pad", "unk", "cls", "sep", "mask"):
        v = cfg.get(f"{role}_token")
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str):
            setattr(tok, f"{role}_token", v)


def _guess_roles(tok: Any) -> None:
    from toksmith.transplant.specials import role_of_name

    vocab = json.loads(tok.backend_tokenizer.to_str())
    for a in vocab.get("added_tokens") or []:
        if not a.get("special"):
            continue
        role = role_of_name(a["content"])
        if role and getattr(tok, f"{role}_token", None) is None:
            setattr(tok, f"{role}_token", a["content"])
        if a["content"] == "<|endoftext|>":  # GPT-2's single control token plays every role
            for r in ("bos", "eos", "unk"):
                if getattr(tok, f"{r}_token", None) is None:
                    setattr(tok, f"{r}_token", a["content"])


def tokenizer_vocab(tok: Any) -> Vocab:
    return vocab_from_json(json.loads(tok.backend_tokenizer.to_str()))


def tokenizer_roles(tok: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for role in ("bos", "eos", "pad", "unk", "cls", "sep", "mask"):
        t = getattr(tok, f"{role}_token", None)
        if isinstance(t, str):
            i = tok.convert_tokens_to_ids(t)
            if isinstance(i, int) and i >= 0:
                out[role] = i
    return out


def load_causal_lm(path: str | os.PathLike, device: str = "cpu") -> Any:
    torch, transformers = require_torch()
    p = Path(path)
    if not (p / "config.json").exists():
        raise TransplantError(f"{p} is not a Hugging Face model directory (no config.json)")
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(p), dtype=torch.float32)
    except Exception as e:
        raise TransplantError(f"cannot load a causal LM from {p}: {_first_line(e)}") from None
    return model.to(device).eval()


def load_donor_embeddings(path: str | os.PathLike) -> tuple[Any, Optional[Any]]:
    """(input embeddings, output head or None) of a donor: any HF model with input embeddings; the head only
    when it is a causal LM with an untied head (encoders such as BERT have none)."""
    torch, transformers = require_torch()
    p = Path(path)
    if not (p / "config.json").exists():
        raise TransplantError(f"donor {p} is not a Hugging Face model directory (no config.json)")
    head = None
    try:
        cfg = transformers.AutoConfig.from_pretrained(str(p))
        model = None
        if any(a.endswith("ForCausalLM") for a in (getattr(cfg, "architectures", None) or [])):
            model = transformers.AutoModelForCausalLM.from_pretrained(str(p), dtype=torch.float32)
            out = model.get_output_embeddings()
            if out is not None and out.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
                head = out.weight.detach().clone()
        if model is None:
            model = transformers.AutoModel.from_pretrained(str(p), dtype=torch.float32)
    except Exception as e:
        raise TransplantError(f"cannot load donor {p}: {_first_line(e)}") from None
    return model.get_input_embeddings().weight.detach().clone(), head


def is_tied(model: Any) -> bool:
    out = model.get_output_embeddings()
    return out is None or out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def write_model_dir(
    model: Any, tok: Any, out: str | os.PathLike, overwrite: bool = False, extra: Optional[dict[str, str]] = None
) -> Path:
    """Save model and tokenizer (and `extra` text files) into a temporary folder beside `out`, then rename it
    into place."""
    o = Path(out)
    if o.exists() and not overwrite and (not o.is_dir() or any(o.iterdir())):
        raise TransplantError(f"{o} exists (pass overwrite / --overwrite to replace it)")
    o.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{o.name}.", dir=o.parent))
    try:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        for name, text in (extra or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        for f in tmp.iterdir():
            if f.is_file():
                os.chmod(f, 0o644)
        os.chmod(tmp, 0o755)
        if o.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{o.name}.old.", dir=o.parent))
            os.replace(o, old / "x")
            os.replace(tmp, o)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, o)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return o
