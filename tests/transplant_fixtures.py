"""Tiny randomly initialised HF models and tokenizers for the transplant tests (built in-test, seconds)."""

from __future__ import annotations

from pathlib import Path

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A tokenizer splits text into tokens, and a model predicts the next token.",
    "In 2019 the museum opened 3 new halls with 1,250 paintings.",
    "def add(a, b):\n    return a + b\n",
    "Café, naïve and résumé keep their accents in the cased model.",
    "She sells sea shells by the sea shore; the shells she sells are surely sea shells.",
    "Numbers like 3.14159 and 2.71828 appear in many formulas.",
    "The weather today is sunny with a chance of rain in the evening.",
    "Hello world! This is a small test corpus for training tiny tokenizers.",
    "Embedding rows of shared tokens are copied; the others are initialised.",
]
OTHER = [
    "Transplanting a vocabulary gives a pretrained model a new tokenizer without training.",
    "Orthogonal matching pursuit writes a vector as a sparse combination of dictionary atoms.",
    "for i in range(10):\n    print(i * i)\n",
    "The river flows north through the valley towards the old stone bridge.",
    "Prices rose by 12 percent in 2023, the highest since 1981.",
]
CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def bpe_tokenizer(texts: list[str], vocab_size: int, specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts * 5, trainer)
    return tok


def wordpiece_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tok.train_from_iterator(texts * 5, trainer)
    return tok


def save_tokenizer(tok, out: Path, chat: bool = False, **roles: str) -> None:
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_object=tok, **roles)
    if chat:
        hf.chat_template = CHAT
    hf.save_pretrained(str(out))


def tiny_llama(out: Path, vocab_size: int, tied: bool = True, seed: int = 0) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=tied,
    )
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # larger rows than the default init so that differences show in the logits
        model.get_input_embeddings().weight.normal_(0, 1.0)
        if not tied:
            model.get_output_embeddings().weight.normal_(0, 1.0)
    model.save_pretrained(str(out))


def tiny_bert(out: Path, vocab_size: int, seed: int = 1) -> None:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=24,
        intermediate_size=48,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(str(out))


def make_base(d: Path, tied: bool = True) -> Path:
    tok = bpe_tokenizer(SENTENCES, 300, ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fim_prefix>"])
    save_tokenizer(
        tok,
        d,
        chat=True,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    tiny_llama(d, tok.get_vocab_size(), tied=tied)
    return d
