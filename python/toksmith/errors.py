"""Typed exceptions. They are defined in the Rust extension so that Rust errors map onto them directly."""

from toksmith._core import (
    CorpusError,
    EncodingError,
    TokenizerFormatError,
    ToksmithError,
    TrainingError,
)

__all__ = ["CorpusError", "EncodingError", "TokenizerFormatError", "ToksmithError", "TrainingError"]
