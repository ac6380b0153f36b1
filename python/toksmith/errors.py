"""Typed exceptions. They are defined in the Rust extension so that Rust errors map onto them directly;
`AnalysisError` (premium reports and tokenizer analysis) is a plain Python subclass of `ToksmithError`."""

from toksmith._core import (
    CorpusError,
    EncodingError,
    TokenizerFormatError,
    ToksmithError,
    TrainingError,
)


class ClusterError(ToksmithError):
    """The Ray cluster for `engine="ray"` cannot be reached or used (or `ray` is not installed)."""


class AnalysisError(ToksmithError):
    """Bad input to `toksmith premium` / `toksmith analyze`: unknown tokenizer spec, missing language file,
    misaligned parallel corpus, empty corpus, malformed price file."""


__all__ = [
    "AnalysisError",
    "ClusterError",
    "CorpusError",
    "EncodingError",
    "TokenizerFormatError",
    "ToksmithError",
    "TrainingError",
]
