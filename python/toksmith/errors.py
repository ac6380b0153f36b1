"""Typed exceptions. They are defined in the Rust extension so that Rust errors map onto them directly;
`AnalysisError` (premium reports and tokenizer analysis) is a plain Python subclass of `ToksmithError`."""

from toksmith._core import (
    CorpusError,
    EncodingError,
    MorphError,
    TokenizerFormatError,
    ToksmithError,
    TrainingError,
)


class ClusterError(ToksmithError):
    """The Ray cluster for `engine="ray"` cannot be reached or used (or `ray` is not installed)."""


class AnalysisError(ToksmithError):
    """Bad input to `toksmith premium` / `toksmith analyze`: unknown tokenizer spec, missing language file,
    misaligned parallel corpus, empty corpus, malformed price file."""


class BytelmError(ToksmithError):
    """Bad input to the byte-level language model (`toksmith.bytelm`): model and tokenizer vocabularies that do
    not match, a text that no token sequence can produce, an unsupported tokenizer, a missing optional
    dependency."""


class TransplantError(ToksmithError):
    """Bad input to the vocabulary transplant (`toksmith.transplant`) or `toksmith eval-bpb`: missing or mismatched
    model/tokenizer files, impossible parameters (e.g. k larger than the anchor set), mismatched tensor shapes."""


__all__ = [
    "AnalysisError",
    "BytelmError",
    "ClusterError",
    "CorpusError",
    "EncodingError",
    "MorphError",
    "TokenizerFormatError",
    "ToksmithError",
    "TrainingError",
    "TransplantError",
]
