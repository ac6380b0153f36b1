"""Vocabulary transplant: give a pretrained Hugging Face causal LM a new tokenizer without training.

Every token the two vocabularies share (equal canonical bytes, see `vocab.py`) keeps its rows; special tokens
take the rows of the old special with the same content, name or role (`specials.py`); the other new rows come
from the chosen method (`methods/`): `omp` (with a donor model that uses the new tokenizer), `hybrid` (no donor;
an auxiliary embedding space), and the baselines `subword-mean`, `mean`, `zero`.

    from toksmith.transplant import transplant
    report = transplant("smollm2-dir", "gpt2.tiktoken", "out-dir", method="hybrid")

Needs torch and transformers (`pip install 'toksmith[transplant]'`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from toksmith.errors import TransplantError

METHOD_NAMES = ("omp", "hybrid", "subword-mean", "mean", "zero")
DEFAULT_K = {"omp": 64, "hybrid": 8}


@dataclass
class TransplantReport:
    out: str
    method: str
    old_vocab_size: int
    new_vocab_size: int
    anchors: int
    initialised: int
    specials: dict[str, str] = field(default_factory=dict)  # new special -> how it got its row
    added_specials: list[str] = field(default_factory=list)  # base control tokens added to the new tokenizer
    unused_ids: int = 0  # new ids no token uses (safe rows)
    out_of_range_old_ids: int = 0  # old tokenizer ids the base model has no row for
    tied: bool = True
    seconds: float = 0.0
    init_seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)


def _check_donor_vocab(donor: str | os.PathLike, new_vocab: Any, n_rows: int) -> None:
    """The donor must natively use the new tokenizer: same tokens at the same ids."""
    from toksmith.transplant.model_io import load_tokenizer, tokenizer_vocab

    n_regular = max((i for i in new_vocab.ids()), default=-1) + 1
    if n_rows < n_regular:
        raise TransplantError(
            f"the donor has {n_rows} embedding rows but the new tokenizer uses ids up to {n_regular - 1}: "
            "the donor must use the new tokenizer"
        )
    p = Path(donor)
    if (p / "tokenizer.json").exists():
        dv = tokenizer_vocab(load_tokenizer(p))
        shared = [i for i in new_vocab.ids() if i < dv.size]
        same = sum(1 for i in shared if dv.tokens[i] == new_vocab.tokens[i])
        if shared and same < 0.99 * len(shared):
            raise TransplantError(
                f"the donor's tokenizer differs from the new tokenizer ({len(shared) - same} of {len(shared)} "
                "tokens differ): the donor must use the new tokenizer"
            )


def transplant(
    base: str | os.PathLike,
    new_tokenizer: str | os.PathLike,
    out: str | os.PathLike,
    method: Optional[str] = None,
    donor: Optional[str | os.PathLike] = None,
    aux_embedder: Optional[str | os.PathLike] = None,
    k: Optional[int] = None,
    device: str = "cpu",
    untie: bool = False,
    overwrite: bool = False,
    options: Optional[dict] = None,
    center: bool = True,
    donor_space: str = "static",
    log: Optional[Callable[[str], None]] = None,
) -> TransplantReport:
    """Transplant `new_tokenizer` (an HF directory, a `tokenizer.json` or a `.tiktoken` file) into the HF causal
    LM directory `base`, writing a complete HF directory `out` (atomically). `method` defaults to `omp` with a
    `donor`, else `hybrid`; `k` is the number of OMP atoms (default 64) or the hybrid's global neighbours
    (default 8). Control tokens of the base that the new tokenizer lacks (chat template, FIM, ...) are added to
    it with their rows. Tied embeddings stay tied unless `untie`. `center` (OMP): code rows relative to the
    anchors' mean row in each space (default; `False` is the plain OMP of the paper and mergekit). `donor_space`
    (OMP): `static` codes over the donor's embedding rows of the anchors; `contextual` runs the donor on token
    strings and codes over every old token (`methods/omp.py`)."""
    t0 = time.perf_counter()
    say = log or (lambda s: None)
    method = method or ("omp" if donor is not None else "hybrid")
    if method not in METHOD_NAMES:
        raise TransplantError(f"unknown method {method!r}: one of {', '.join(METHOD_NAMES)}")
    if donor_space not in ("static", "contextual"):
        raise TransplantError(f"unknown donor space {donor_space!r}: static or contextual")
    if method == "omp" and donor is None:
        raise TransplantError("method omp needs a donor model that uses the new tokenizer (--donor)")
    k = DEFAULT_K.get(method, 64) if k is None else int(k)
    if k < 1:
        raise TransplantError(f"k must be at least 1, not {k}")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise TransplantError("device cuda requested but no CUDA device is available")
    from toksmith.transplant import model_io
    from toksmith.transplant.methods import METHODS
    from toksmith.transplant.methods.baselines import mean_row
    from toksmith.transplant.methods.context import Context
    from toksmith.transplant.specials import ROLES, map_specials, norm_name
    from toksmith.transplant.vocab import match_anchors

    torch, _ = model_io.require_torch()
    base_p = Path(base)
    if Path(out).resolve() == base_p.resolve():
        raise TransplantError("OUT must differ from BASE")
    for what, p in (("base model", base_p), ("donor", donor), ("auxiliary embedder", aux_embedder)):
        if p is not None and str(p) != "base" and not (Path(p) / "config.json").is_file():
            raise TransplantError(f"{what} {p} is not a Hugging Face model directory (no config.json)")
    if not Path(new_tokenizer).exists():
        raise TransplantError(f"no such tokenizer: {new_tokenizer}")
    o = Path(out)
    if o.exists() and not overwrite and (not o.is_dir() or any(o.iterdir())):
        raise TransplantError(f"{o} exists (pass overwrite / --overwrite to replace it)")
    say(f"loading base model {base_p}")
    model = model_io.load_causal_lm(base_p)
    old_tok = model_io.load_tokenizer(base_p)
    old_vocab = model_io.tokenizer_vocab(old_tok)
    old_roles = model_io.tokenizer_roles(old_tok)
    new_tok = model_io.load_tokenizer(new_tokenizer)

    # Base control tokens the new tokenizer lacks (by content and by name) are added to it.
    new_vocab0 = model_io.tokenizer_vocab(new_tok)
    have = set(new_vocab0.specials.values()) | {r for r in new_vocab0.raw if r is not None}
    have_names = {norm_name(c) for c in new_vocab0.specials.values()}
    missing = [c for _, c in sorted(old_vocab.specials.items()) if c not in have and norm_name(c) not in have_names]
    if missing:
        from tokenizers import AddedToken

        new_tok.add_tokens([AddedToken(c, special=True, normalized=False) for c in missing], special_tokens=True)
    for role in ("bos", "eos", "pad"):  # the causal LM's roles follow the base where its token is present
        c = old_tok.convert_ids_to_tokens(old_roles[role]) if role in old_roles else None
        if c is not None and c in new_tok.get_vocab():
            setattr(new_tok, f"{role}_token", c)
    if getattr(old_tok, "chat_template", None):
        new_tok.chat_template = old_tok.chat_template
    new_vocab = model_io.tokenizer_vocab(new_tok)
    new_roles = model_io.tokenizer_roles(new_tok)

    e_old = model.get_input_embeddings().weight.detach().to(torch.float32).clone()
    tied = model_io.is_tied(model)
    h_old = None if tied else model.get_output_embeddings().weight.detach().to(torch.float32).clone()
    n_old_rows = int(e_old.shape[0])
    out_of_range = sum(1 for i in range(n_old_rows, old_vocab.size) if old_vocab.raw[i] is not None)
    if out_of_range:
        say(f"warning: {out_of_range} ids of the base tokenizer have no row in the base model (ignored)")

    matching = match_anchors(new_vocab, old_vocab, old_limit=n_old_rows)
    smap = map_specials(new_vocab, old_vocab, new_roles, old_roles, old_limit=n_old_rows)
    say(f"{len(matching.pairs)} anchors, {len(matching.unmatched)} new tokens to initialise with {method}")
    if not matching.pairs and method in ("omp", "hybrid"):
        raise TransplantError("the two vocabularies share no token: nothing to anchor on")

    donor_in = donor_head = None
    if donor is not None:
        say(f"loading donor {donor}")
        donor_in, donor_head = model_io.load_donor_embeddings(donor)
        _check_donor_vocab(donor, new_vocab, int(donor_in.shape[0]))
    ctx = Context(
        old=old_vocab,
        new=new_vocab,
        matching=matching,
        old_input=e_old,
        old_head=h_old,
        old_tokenizer=old_tok,
        k=k,
        device=device,
        donor_input=donor_in,
        donor_head=donor_head,
        aux_embedder=str(aux_embedder) if aux_embedder is not None else None,
        options={
            "center": center,
            "donor_space": donor_space,
            "donor_path": str(donor) if donor is not None else None,
            "log": log,
            **dict(options or {}),
        },
    )
    n_new = new_vocab.size
    init = METHODS[method]
    t1 = time.perf_counter()

    def build(which: str) -> Any:
        m = ctx.old_matrix(which)
        rows = mean_row(ctx, which).unsqueeze(0).repeat(n_new, 1).to(m.dtype)  # safe rows for unused ids
        if matching.pairs:
            rows[torch.tensor(matching.new_ids)] = m[torch.tensor(matching.old_ids)]
        for i, src in smap.rows.items():
            if src is not None:
                rows[i] = m[src]
        if matching.unmatched:
            rows[torch.tensor(matching.unmatched)] = init(ctx, matching.unmatched, which).to(m.dtype)
        return rows

    say(f"initialising {len(matching.unmatched)} rows ({method})")
    e_new = build("input")
    h_new = build("head") if h_old is not None else None
    init_seconds = time.perf_counter() - t1
    if not torch.isfinite(e_new).all() or (h_new is not None and not torch.isfinite(h_new).all()):
        raise TransplantError("the initialisation produced non-finite rows")

    dtype = model.get_input_embeddings().weight.dtype
    model.resize_token_embeddings(n_new, mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(e_new.to(dtype))
        if h_new is not None:
            model.get_output_embeddings().weight.copy_(h_new.to(dtype))
        elif untie:
            head = torch.nn.Linear(e_new.shape[1], n_new, bias=False)
            head.weight.copy_(e_new.to(dtype))
            model.config.tie_word_embeddings = False
            model.set_output_embeddings(head)
    cfg = model.config
    cfg.vocab_size = n_new
    for role in ROLES:
        v = new_roles.get(role)
        setattr(cfg, f"{role}_token_id", v)
        gc = getattr(model, "generation_config", None)
        if gc is not None and hasattr(gc, f"{role}_token_id"):
            setattr(gc, f"{role}_token_id", v)
    new_special_names = {new_vocab.specials[i]: how for i, how in smap.how.items()}
    report = TransplantReport(
        out=str(out),
        method=method,
        old_vocab_size=old_vocab.size,
        new_vocab_size=n_new,
        anchors=len(matching.pairs),
        initialised=len(matching.unmatched),
        specials=new_special_names,
        added_specials=missing,
        unused_ids=sum(1 for i in range(n_new) if new_vocab.raw[i] is None),
        out_of_range_old_ids=out_of_range,
        tied=model_io.is_tied(model),
        init_seconds=round(init_seconds, 3),
    )
    say(f"writing {out}")
    report.seconds = round(time.perf_counter() - t0, 3)
    model_io.write_model_dir(
        model, new_tok, out, overwrite=overwrite, extra={"transplant_report.json": report.to_json()}
    )
    return report


__all__ = ["METHOD_NAMES", "TransplantReport", "transplant"]
