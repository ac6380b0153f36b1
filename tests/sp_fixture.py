"""Genuine SentencePiece BPE models with byte fallback, trained in a temporary folder and converted to
`tokenizer.json` the way `transformers` converts Llama-style models (its `SentencePieceExtractor` for the
vocabulary and merges; the pipeline of `LlamaConverter`). Two layouts of the same model: the newer one
(`Metaspace(prepend_scheme="first")`, no normalizer; what `transformers` 5 writes) and the legacy one
(`Prepend("▁")` + `Replace(" ", "▁")` normalizer, a `<s>` post-processor; Llama 2 / Mistral / TinyLlama)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SpFixture:
    model: Path  # the SentencePiece model
    metaspace: Path  # tokenizer.json, Metaspace layout
    legacy: Path  # tokenizer.json, legacy normalizer layout


def train_sp(lines: list[str], out: Path, vocab_size: int, coverage: float = 0.9995) -> SpFixture:
    import sentencepiece as spm
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buf,
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        character_coverage=coverage,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        split_digits=True,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    model = out / "sp.model"
    model.write_bytes(buf.getvalue())
    kw = SentencePieceExtractor(str(model)).extract(BPE)
    paths = {}
    for layout in ("metaspace", "legacy"):
        tok = Tokenizer(BPE(kw["vocab"], kw["merges"], fuse_unk=True, byte_fallback=True, dropout=None))
        tok.add_special_tokens([AddedToken(c, normalized=False, special=True) for c in ("<unk>", "<s>", "</s>")])
        dec = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
        tok.decoder = decoders.Sequence(dec)
        if layout == "metaspace":
            tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        else:
            tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
            tok.post_processor = processors.TemplateProcessing(
                single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", kw["vocab"]["<s>"])]
            )
        p = out / f"{layout}.json"
        p.write_text(tok.to_str(), encoding="utf-8")
        paths[layout] = p
    json.loads(paths["legacy"].read_text(encoding="utf-8"))  # well-formed
    return SpFixture(model, paths["metaspace"], paths["legacy"])
