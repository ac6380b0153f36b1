"""toksmith: tokenizer engineering toolkit (Rust core, Python API and CLI)."""

from toksmith._core import PRESETS, Pretokenizer
from toksmith.errors import (
    CorpusError,
    EncodingError,
    TokenizerFormatError,
    ToksmithError,
    TrainingError,
)
from toksmith.tokenizer import Tokenizer
from toksmith.train import TrainStats, count, train

__all__ = [
    "PRESETS",
    "CorpusError",
    "EncodingError",
    "Pretokenizer",
    "TokenizerFormatError",
    "Tokenizer",
    "ToksmithError",
    "TrainStats",
    "TrainingError",
    "count",
    "train",
]
__version__ = "0.1.0"
