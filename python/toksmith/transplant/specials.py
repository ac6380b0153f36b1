"""Special (control) tokens by role: bos, eos, pad, unk (and BERT's cls/sep/mask), chat-template and FIM tokens.

A special token of the new tokenizer takes the row of the old special token with the same content, else of the
one with the same name once punctuation is dropped (`<|fim_prefix|>` = `<fim_prefix>`), else of the old token
with the same role (`[CLS]` -> the old bos, `[SEP]` -> the old eos). Control tokens with no counterpart get a
safe row (the mean of the old rows), never a random one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from toksmith.transplant.vocab import Vocab

ROLES = ("bos", "eos", "pad", "unk")
# Role by token content, for tokenizers that do not say (tiktoken files, a bare tokenizer.json).
_ROLE_BY_NAME = {
    "s": "bos",
    "bos": "bos",
    "beginoftext": "bos",
    "startoftext": "bos",
    "cls": "bos",
    "endoftext": "eos",
    "eos": "eos",
    "endofturn": "eos",
    "eotid": "eos",
    "sep": "eos",
    "pad": "pad",
    "unk": "unk",
}
# BERT-style roles that play a causal LM's role.
ROLE_ALIASES = {"cls": "bos", "sep": "eos"}
_CHAT = re.compile(r"im(start|end)|(start|end)ofturn|(start|end)headerid|eotid|system|user|assistant")
_FIM = re.compile(r"^fim")


def norm_name(content: str) -> str:
    """`<|fim_prefix|>` -> `fimprefix`: the name of a control token without its punctuation, lower case."""
    return re.sub(r"[^a-z0-9]", "", content.lower())


def role_of_name(content: str) -> Optional[str]:
    if content.strip() == "</s>":
        return "eos"
    return _ROLE_BY_NAME.get(norm_name(content))


def kind_of(content: str) -> str:
    """`chat`, `fim` or `control`, from the name."""
    n = norm_name(content)
    if _CHAT.search(n):
        return "chat"
    if _FIM.search(n):
        return "fim"
    return "control"


@dataclass
class SpecialMap:
    """For each special id of the new vocabulary: the old id whose rows it copies (None: a safe row), and how
    it was matched (`content`, `name`, `role` or `safe`)."""

    rows: dict[int, Optional[int]]
    how: dict[int, str]


def map_specials(
    new: Vocab,
    old: Vocab,
    new_roles: dict[str, int],
    old_roles: dict[str, int],
    old_limit: Optional[int] = None,
) -> SpecialMap:
    ok = (lambda i: i < old_limit) if old_limit is not None else (lambda i: True)
    old_by_content = {c: i for i, c in old.specials.items() if ok(i)}
    old_by_name = {}
    for i, c in sorted(old.specials.items()):
        if ok(i):
            old_by_name.setdefault(norm_name(c), i)
    new_role_of = {i: r for r, i in new_roles.items()}
    rows: dict[int, Optional[int]] = {}
    how: dict[int, str] = {}
    for i, c in sorted(new.specials.items()):
        if c in old_by_content:
            rows[i], how[i] = old_by_content[c], "content"
            continue
        if norm_name(c) in old_by_name:
            rows[i], how[i] = old_by_name[norm_name(c)], "name"
            continue
        role = new_role_of.get(i) or role_of_name(c)
        role = ROLE_ALIASES.get(role, role) if role else None
        if role and role in old_roles and ok(old_roles[role]):
            rows[i], how[i] = old_roles[role], "role"
            continue
        rows[i], how[i] = None, "safe"
    return SpecialMap(rows=rows, how=how)


def roles_from_config(cfg: dict, vocab: Vocab) -> dict[str, int]:
    """Role -> id from a tokenizer_config.json / special_tokens_map.json dict (`bos_token`, ...); roles it
    leaves out are guessed from the special tokens' names."""
    content_to_id = {c: i for i, c in vocab.specials.items()}
    for i, r in enumerate(vocab.raw):
        if r is not None and r not in content_to_id:
            content_to_id[r] = i
    out: dict[str, int] = {}
    for role in (*ROLES, "cls", "sep", "mask"):
        v = cfg.get(f"{role}_token")
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str) and v in content_to_id:
            out[role] = content_to_id[v]
    for i, c in sorted(vocab.specials.items()):
        r = role_of_name(c)
        if r and r not in out:
            out[r] = i
    return out
