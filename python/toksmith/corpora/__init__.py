"""Corpus input: named corpora (registry) and loaders for files, globs, folders and `datasets` datasets."""

from toksmith.corpora.loaders import (
    SUPPORTED_SUFFIXES,
    expand_inputs,
    feed_counter,
    feed_dataset,
    iter_documents,
)
from toksmith.corpora.registry import REGISTRY, NamedCorpus, default_corpus, find_shared, resolve

__all__ = [
    "REGISTRY",
    "SUPPORTED_SUFFIXES",
    "NamedCorpus",
    "default_corpus",
    "expand_inputs",
    "feed_counter",
    "feed_dataset",
    "find_shared",
    "iter_documents",
    "resolve",
]
