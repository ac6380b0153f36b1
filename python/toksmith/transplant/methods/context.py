"""What every initialisation method sees: both vocabularies, the anchors, the old rows, the old tokenizer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from toksmith.transplant.vocab import Matching, Vocab


@dataclass
class Context:
    old: Vocab
    new: Vocab
    matching: Matching
    old_input: Any  # Tensor[V_old, d]
    old_head: Optional[Any]  # Tensor[V_old, d] for an untied head, else None
    old_tokenizer: Any = None  # HF tokenizer of the base model (re-tokenisation of new tokens)
    k: int = 64
    device: str = "cpu"
    donor_input: Optional[Any] = None
    donor_head: Optional[Any] = None
    aux_embedder: Optional[str] = None  # a sentence-embedder directory, or None/"base" for the base model's own
    options: dict = field(default_factory=dict)
    _pieces: dict = field(default_factory=dict)

    @property
    def old_limit(self) -> int:
        return int(self.old_input.shape[0])

    def old_matrix(self, which: str) -> Any:
        return self.old_head if which == "head" and self.old_head is not None else self.old_input

    def regular_old_ids(self) -> list[int]:
        """Old ids with bytes and a row in the model (no specials, no gaps)."""
        return [i for i in self.old.ids() if i < self.old_limit]
