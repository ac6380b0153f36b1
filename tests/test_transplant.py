"""Vocabulary transplant (issue 5): canonical vocabularies, anchors, specials, methods, output directory, eval-bpb.

Fast tests use tiny randomly initialised models built in-test; the real SmolLM2 / MiniLM tests are marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from toksmith.errors import TransplantError  # noqa: E402
from toksmith.evalbpb import bootstrap_ci, eval_bpb, load_documents  # noqa: E402
from toksmith.transplant import transplant  # noqa: E402
from toksmith.transplant.specials import map_specials, norm_name  # noqa: E402
from toksmith.transplant.vocab import (  # noqa: E402
    Vocab,
    bert_normalize,
    canonical,
    gpt2_byte_decoder,
    match_anchors,
    vocab_from_json,
    vocab_from_tiktoken_ranks,
)
from transplant_fixtures import (  # noqa: E402
    OTHER,
    SENTENCES,
    bpe_tokenizer,
    make_base,
    save_tokenizer,
    tiny_bert,
    wordpiece_tokenizer,
)

transformers.logging.set_verbosity_error()


def _emb(d: Path):
    m = transformers.AutoModelForCausalLM.from_pretrained(str(d))
    return m, m.get_input_embeddings().weight.detach()


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def other_bpe(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("newbpe")
    tok = bpe_tokenizer(SENTENCES[:5] + OTHER, 330, ["<|endoftext|>", "<|fim_prefix|>", "<|eot|>"])
    save_tokenizer(tok, d, eos_token="<|endoftext|>")
    return d


@pytest.fixture(scope="module")
def wordpiece(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("wp")
    tok = wordpiece_tokenizer(SENTENCES + OTHER, 260)
    save_tokenizer(tok, d, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]")
    tiny_bert(d, tok.get_vocab_size())
    return d


# ----- canonical vocabularies ------------------------------------------------------------------------------
def test_gpt2_byte_map_is_a_bijection():
    dec = gpt2_byte_decoder()
    assert sorted(dec.values()) == list(range(256))
    assert dec["Ġ"] == 32 and dec["Ċ"] == 10 and dec["a"] == ord("a")


@pytest.mark.parametrize(
    ("token", "kind", "expected"),
    [
        ("Ġthe", "byte-level", b" the"),
        ("ĊĊ", "byte-level", b"\n\n"),
        ("Ã©", "byte-level", "é".encode()),
        ("▁the", "metaspace", b" the"),
        ("<0x0A>", "metaspace", b"\n"),
        ("ing", "metaspace", b"ing"),
        ("##ing", "wordpiece", b"ing"),
        ("the", "wordpiece", b" the"),
        ("2019", "wordpiece", b" 2019"),
        (",", "wordpiece", b","),
        ("中", "wordpiece", "中".encode()),
        ("##", "wordpiece", b" ##"[1:]),
    ],
)
def test_canonical(token, kind, expected):
    assert canonical(token, kind) == expected


def test_real_byte_level_vocab_matches_its_decoder(tokenizers_dir):
    from tokenizers import Tokenizer

    path = tokenizers_dir / "smollm2-135m" / "tokenizer.json"
    v = vocab_from_json(json.loads(path.read_text()))
    tok = Tokenizer.from_file(str(path))
    assert v.kind == "byte-level" and v.size == 49152 and len(v.specials) == 17
    checked = 0
    for i in range(17, v.size, 7):
        b = v.tokens[i]
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        assert tok.decode([i]) == s, (i, v.raw[i])
        checked += 1
    assert checked > 5000
    assert len({t for t in v.tokens if t is not None}) == v.size - 17  # injective


def test_tiktoken_and_its_tokenizer_json_agree(tokenizers_dir, tmp_path):
    from tiktoken.load import load_tiktoken_bpe

    from toksmith.tokenizer import Tokenizer

    p = tokenizers_dir / "gpt2.tiktoken"
    ranks = load_tiktoken_bpe(str(p))
    tv = vocab_from_tiktoken_ranks(ranks, {"<|endoftext|>": 50256})
    Tokenizer.from_tiktoken(p).save(tmp_path / "tokenizer.json")
    jv = vocab_from_json(json.loads((tmp_path / "tokenizer.json").read_text()))
    m = match_anchors(jv, tv)
    assert not m.unmatched and len(m.pairs) == 50256 and all(a == b for a, b in m.pairs)
    assert jv.specials == tv.specials == {50256: "<|endoftext|>"}


def test_wordpiece_against_byte_level_real(tokenizers_dir):
    sm = vocab_from_json(json.loads((tokenizers_dir / "smollm2-135m" / "tokenizer.json").read_text()))
    ml = vocab_from_json(json.loads((tokenizers_dir / "all-minilm-l6-v2" / "tokenizer.json").read_text()))
    assert ml.kind == "wordpiece" and ml.lowercase
    assert set(ml.specials.values()) == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    m = match_anchors(ml, sm)
    pairs = dict(m.pairs)
    raw_new = {r: i for i, r in enumerate(ml.raw) if r is not None}
    raw_old = {r: i for i, r in enumerate(sm.raw) if r is not None}
    assert pairs[raw_new["the"]] == raw_old["Ġthe"]
    assert pairs[raw_new["##ing"]] == raw_old["ing"]
    assert pairs[raw_new[","]] == raw_old[","]
    # mergekit-tokensurgeon 0.1.5 finds 4,314 exact matches here; canonical bytes find several times more.
    assert len(m.pairs) > 15000


def test_match_prefers_same_id_among_duplicates():
    old = Vocab(kind="metaspace", tokens=[b" ", b"a", b" "], raw=["<0x20>", "a", "▁"])
    new = Vocab(kind="metaspace", tokens=[b" ", b"a", b" "], raw=["<0x20>", "a", "▁"])
    assert match_anchors(new, old).pairs == [(0, 0), (1, 1), (2, 2)]
    limited = match_anchors(new, old, old_limit=1)  # old ids 1 and 2 have no model row
    assert limited.unmatched == [1] and limited.pairs == [(0, 0), (2, 0)]


def test_bert_normalize_matches_the_wordpiece_normalizer(tokenizers_dir):
    from tokenizers import normalizers

    n = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=False)
    for t in ["Héllo WÖRLD\tçà x", "Ăsta e İstanbul ß Œuvre", "Crème\nBrûlée  2019"]:
        assert bert_normalize(t) == n.normalize_str(t)


# ----- specials --------------------------------------------------------------------------------------------
def test_specials_by_content_name_role_and_safe():
    old = Vocab("byte-level", [None, None, None, b"a"], ["<|endoftext|>", "<|im_start|>", "<fim_prefix>", "a"])
    old.specials = {0: "<|endoftext|>", 1: "<|im_start|>", 2: "<fim_prefix>"}
    new = Vocab("wordpiece", [None] * 5 + [b" a"], ["[CLS]", "[SEP]", "<|fim_prefix|>", "[MASK]", "<|endoftext|>", "a"])
    new.specials = {0: "[CLS]", 1: "[SEP]", 2: "<|fim_prefix|>", 3: "[MASK]", 4: "<|endoftext|>"}
    sm = map_specials(new, old, {"cls": 0, "sep": 1, "mask": 3}, {"bos": 1, "eos": 0, "unk": 0})
    assert sm.rows == {0: 1, 1: 0, 2: 2, 3: None, 4: 0}
    assert sm.how == {0: "role", 1: "role", 2: "name", 3: "safe", 4: "content"}
    assert norm_name("<|fim_prefix|>") == norm_name("<fim_prefix>")


# ----- transplants on tiny models --------------------------------------------------------------------------
def test_identity_changes_nothing_and_same_bpb(base, tmp_path):
    out = tmp_path / "same"
    r = transplant(base, base, out, method="subword-mean")
    assert r.initialised == 0 and r.added_specials == [] and set(r.specials.values()) == {"content"}
    m0, e0 = _emb(base)
    m1, e1 = _emb(out)
    sd0, sd1 = m0.state_dict(), m1.state_dict()
    assert sd0.keys() == sd1.keys() and all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    docs = load_documents([_text(tmp_path)], lines_per_doc=2)
    a, b = eval_bpb(base, docs), eval_bpb(out, docs)
    assert a.bpb == b.bpb and a.tokens == b.tokens


def _text(tmp_path: Path) -> Path:
    p = tmp_path / "eval.txt"
    p.write_text("\n".join(SENTENCES + OTHER) + "\n")
    return p


@pytest.mark.parametrize("method", ["subword-mean", "mean", "zero", "hybrid"])
def test_output_directory_and_rows(base, other_bpe, tmp_path, method):
    out = tmp_path / method
    r = transplant(base, other_bpe, out, method=method)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(out))
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    e = model.get_input_embeddings().weight.detach()
    assert e.shape[0] == len(tok) == model.config.vocab_size == r.new_vocab_size
    assert model.get_output_embeddings().weight.data_ptr() == e.data_ptr()  # tied stays tied
    old_tok = transformers.AutoTokenizer.from_pretrained(str(base))
    _, e_old = _emb(base)
    old_vocab, new_vocab = old_tok.get_vocab(), tok.get_vocab()
    shared = [t for t in new_vocab if t in old_vocab]
    assert len(shared) > 100
    for t in shared:  # byte-level both: equal strings are equal bytes
        assert torch.equal(e[new_vocab[t]], e_old[old_vocab[t]]), t
    # base control tokens the new tokenizer lacks are added with their rows; chat template carried over
    assert {"<|im_start|>", "<|im_end|>"} <= set(r.added_specials)
    assert "<fim_prefix>" not in r.added_specials  # the new one has <|fim_prefix|>
    assert torch.equal(e[new_vocab["<|fim_prefix|>"]], e_old[old_vocab["<fim_prefix>"]])
    assert torch.equal(e[new_vocab["<|im_start|>"]], e_old[old_vocab["<|im_start|>"]])
    assert tok.chat_template and model.config.bos_token_id == new_vocab["<|im_start|>"]
    assert model.config.eos_token_id == new_vocab["<|im_end|>"]
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert ids[0] == new_vocab["<|im_start|>"]
    # the safe row of an unmapped control token is the mean row
    old_special = {i for i, a in old_tok.added_tokens_decoder.items() if a.special}
    new_special = {i for i, a in tok.added_tokens_decoder.items() if a.special}
    regular = [i for i in old_vocab.values() if i not in old_special]
    assert torch.allclose(e[new_vocab["<|eot|>"]], e_old[regular].mean(0), atol=1e-6)
    # the initialised rows
    new_only = sorted(i for t, i in new_vocab.items() if t not in old_vocab and i not in new_special)
    assert len(new_only) == r.initialised > 0
    rows = e[new_only]
    if method == "zero":
        assert torch.count_nonzero(rows) == 0
    elif method == "mean":
        assert torch.allclose(rows, e_old[regular].mean(0).expand_as(rows), atol=1e-6)
    elif method == "subword-mean":  # brute force: the old tokenizer on the token's decoded text
        for i in new_only:
            text = tok.convert_tokens_to_string([tok.convert_ids_to_tokens(i)])
            p = old_tok(text, add_special_tokens=False)["input_ids"]
            assert torch.allclose(e[i], e_old[p].mean(0), atol=1e-6)
    assert torch.isfinite(rows).all()
    assert json.loads((out / "transplant_report.json").read_text())["method"] == method


def test_untied_head_and_untie(tmp_path, other_bpe):
    b = make_base(tmp_path / "untied", tied=False)
    out = tmp_path / "o1"
    transplant(b, other_bpe, out, method="subword-mean")
    m = transformers.AutoModelForCausalLM.from_pretrained(str(out))
    m0 = transformers.AutoModelForCausalLM.from_pretrained(str(b))
    assert m.get_output_embeddings().weight.data_ptr() != m.get_input_embeddings().weight.data_ptr()
    tok, old = transformers.AutoTokenizer.from_pretrained(str(out)), transformers.AutoTokenizer.from_pretrained(str(b))
    t = next(t for t in tok.get_vocab() if t in old.get_vocab() and len(t) > 3)
    assert torch.equal(m.lm_head.weight[tok.get_vocab()[t]], m0.lm_head.weight[old.get_vocab()[t]])
    base_t = make_base(tmp_path / "tied")
    out2 = tmp_path / "o2"
    r = transplant(base_t, other_bpe, out2, method="mean", untie=True)
    m2 = transformers.AutoModelForCausalLM.from_pretrained(str(out2))
    assert not r.tied and m2.get_output_embeddings().weight.data_ptr() != m2.get_input_embeddings().weight.data_ptr()
    assert torch.equal(m2.get_output_embeddings().weight, m2.get_input_embeddings().weight)


def test_omp_recovers_an_exact_sparse_combination(base, wordpiece, tmp_path):
    """Donor row of a new token = 0.7 * row(a) - 0.4 * row(b) of two anchors: with k=2 OMP finds it and the
    base row is the same combination of the anchors' base rows."""
    donor = tmp_path / "donor"
    import shutil

    shutil.copytree(wordpiece, donor)
    bert = transformers.AutoModel.from_pretrained(str(donor))
    from toksmith.transplant.model_io import load_tokenizer, tokenizer_vocab

    nv = tokenizer_vocab(load_tokenizer(wordpiece))
    ov = tokenizer_vocab(load_tokenizer(base))
    m = match_anchors(nv, ov)
    (a_new, a_old), (b_new, b_old) = m.pairs[5], m.pairs[9]
    target = m.unmatched[0]
    with torch.no_grad():
        w = bert.get_input_embeddings().weight
        w[target] = 0.7 * w[a_new] - 0.4 * w[b_new]
    bert.save_pretrained(str(donor))
    out = tmp_path / "omp"
    r = transplant(base, wordpiece, out, method="omp", donor=donor, k=2, center=False)
    assert r.anchors == len(m.pairs) and r.method == "omp"
    _, e = _emb(out)
    _, e_old = _emb(base)
    assert torch.allclose(e[target], 0.7 * e_old[a_old] - 0.4 * e_old[b_old], atol=1e-4)
    assert torch.equal(e[a_new], e_old[a_old])
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    assert tok.convert_ids_to_tokens(a_new) == nv.raw[a_new]
    assert r.specials["[CLS]"] == "role" and r.specials["[SEP]"] == "role" and r.specials["[MASK]"] == "safe"


def test_centered_omp_recovers_an_affine_combination(base, wordpiece, tmp_path):
    """Centred OMP (the default) codes rows around the anchors' mean: an affine combination of two anchors
    (0.7 * row(a) + 0.3 * row(b)) maps to the same combination of their base rows, and a token whose donor row is
    the anchors' mean row gets the base anchors' mean row. Plain OMP (center=False) cannot write the mean of all
    anchors with k=2 atoms, so its row differs."""
    donor = tmp_path / "donor"
    import shutil

    shutil.copytree(wordpiece, donor)
    bert = transformers.AutoModel.from_pretrained(str(donor))
    from toksmith.transplant.model_io import load_tokenizer, tokenizer_vocab

    nv = tokenizer_vocab(load_tokenizer(wordpiece))
    ov = tokenizer_vocab(load_tokenizer(base))
    m = match_anchors(nv, ov)
    (a_new, a_old), (b_new, b_old) = m.pairs[5], m.pairs[9]
    target, middle = m.unmatched[0], m.unmatched[1]
    new_ids = torch.tensor([p[0] for p in m.pairs])
    old_ids = torch.tensor([p[1] for p in m.pairs])
    with torch.no_grad():
        w = bert.get_input_embeddings().weight
        w[target] = 0.7 * w[a_new] + 0.3 * w[b_new]
        w[middle] = w[new_ids].mean(0)
    bert.save_pretrained(str(donor))
    _, e_old = _emb(base)
    want = 0.7 * e_old[a_old] + 0.3 * e_old[b_old]
    want_mid = e_old[old_ids].mean(0)
    transplant(base, wordpiece, tmp_path / "c", method="omp", donor=donor, k=2)
    _, e = _emb(tmp_path / "c")
    assert torch.allclose(e[target], want, atol=1e-4)
    assert torch.allclose(e[middle], want_mid, atol=1e-4)
    transplant(base, wordpiece, tmp_path / "p", method="omp", donor=donor, k=2, center=False)
    _, e_plain = _emb(tmp_path / "p")
    assert not torch.allclose(e_plain[middle], want_mid, atol=1e-2)


def _mean_pooled(model_dir: Path, texts: list[str]):
    """Reference donor vectors, one string at a time (no padding): mean of the last hidden states, unit norm."""
    tok = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    model = transformers.AutoModel.from_pretrained(str(model_dir)).eval()
    out = []
    with torch.no_grad():
        for t in texts:
            enc = tok(t, return_tensors="pt", truncation=True, max_length=32)
            if enc["input_ids"].shape[1] == 0:  # e.g. a whitespace token: no pieces, a zero vector
                out.append(torch.zeros(model.config.hidden_size))
                continue
            out.append(torch.nn.functional.normalize(model(**enc).last_hidden_state[0].mean(0), dim=0))
    return torch.stack(out)


def test_contextual_omp_codes_over_every_old_token(base, wordpiece, tmp_path, monkeypatch):
    """donor_space="contextual", k=1, no centring: each new row is <d_j, t> * base row j for the old token j whose
    donor vector (the donor run on the token's string) best matches the new token's, over *all* old tokens (not
    only anchors). Checked against donor vectors computed here one string at a time."""
    monkeypatch.setenv("TOKSMITH_CACHE", str(tmp_path / "cache"))
    from toksmith.transplant.methods.aux import token_text
    from toksmith.transplant.model_io import load_tokenizer, tokenizer_vocab

    out = tmp_path / "ctx"
    r = transplant(base, wordpiece, out, method="omp", donor=wordpiece, k=1, center=False, donor_space="contextual")
    nv = tokenizer_vocab(load_tokenizer(wordpiece))
    ov = tokenizer_vocab(load_tokenizer(base))
    m = match_anchors(nv, ov)
    assert r.initialised == len(m.unmatched) > 0
    _, e = _emb(out)
    _, e_old = _emb(base)
    regular = [i for i in ov.ids() if i < e_old.shape[0]]
    assert len(regular) > len(m.pairs)  # the dictionary is larger than the anchor set
    d_old = _mean_pooled(wordpiece, [token_text(ov.tokens[i]) for i in regular])
    targets = m.unmatched[:12]
    d_new = _mean_pooled(wordpiece, [token_text(nv.tokens[i]) for i in targets])
    for t, v in zip(targets, d_new):
        corr = d_old @ v
        best = corr.abs().max()
        ok = [j for j in range(len(regular)) if corr[j].abs() > best - 1e-4]
        assert any(torch.allclose(e[t], corr[j] * e_old[regular[j]], atol=1e-3) for j in ok), t
    assert torch.equal(e[m.pairs[0][0]], e_old[m.pairs[0][1]])  # anchors keep their rows
    assert list((tmp_path / "cache" / "aux").glob("*.pt"))  # the old vocabulary's vectors are cached
    with pytest.raises(TransplantError, match="donor space"):
        transplant(base, wordpiece, tmp_path / "x", method="omp", donor=wordpiece, donor_space="dense")


CUDA_CASES = [
    ("omp", {"k": 4}),
    ("omp", {"k": 3, "donor_space": "contextual"}),
    ("hybrid", {"k": 4}),
    ("hybrid", {"k": 4, "aux": True}),
    ("subword-mean", {}),
]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("method,kw", CUDA_CASES, ids=lambda c: str(c))
def test_cuda_transplant_matches_cpu(base, wordpiece, other_bpe, tmp_path, monkeypatch, method, kw):
    """--device cuda runs the kernels (OMP, top-k search, the auxiliary embedder) on the GPU and writes the same
    rows as the CPU run, up to float32 rounding."""
    monkeypatch.setenv("TOKSMITH_CACHE", str(tmp_path / "cache"))
    kw = dict(kw)
    new = wordpiece if method == "omp" else other_bpe
    if method == "omp":
        kw["donor"] = wordpiece
    if kw.pop("aux", False):
        kw["aux_embedder"] = wordpiece
    rows = {}
    for dev in ("cpu", "cuda"):
        r = transplant(base, new, tmp_path / dev, method=method, device=dev, **kw)
        rows[dev] = _emb(tmp_path / dev)[1]
    assert r.initialised > 0
    assert torch.allclose(rows["cpu"], rows["cuda"], atol=1e-4, rtol=1e-3)


def test_hybrid_with_sentence_embedder(base, wordpiece, other_bpe, tmp_path):
    r = transplant(base, other_bpe, tmp_path / "h", method="hybrid", aux_embedder=wordpiece, k=4)
    _, e = _emb(tmp_path / "h")
    assert r.initialised > 0 and torch.isfinite(e).all()
    r2 = transplant(base, other_bpe, tmp_path / "s", method="subword-mean")
    _, e2 = _emb(tmp_path / "s")
    assert r2.anchors == r.anchors and not torch.allclose(e, e2)


def test_hybrid_sparse_estimate_blends_linearly(base, other_bpe, tmp_path):
    """w_sparse blends the TokenAdapt-style rows (w_sparse=0) with the sparse estimate (w_sparse=1), and the
    sparse estimate is the OMP code of each new token's auxiliary vector over every regular old token's."""
    from toksmith.transplant.kernels import batch_omp
    from toksmith.transplant.model_io import load_tokenizer, tokenizer_vocab

    rows = {}
    for ws in (0.0, 0.5, 1.0):
        r = transplant(base, other_bpe, tmp_path / f"h{ws}", method="hybrid", options={"w_sparse": ws, "k_sparse": 3})
        rows[ws] = _emb(tmp_path / f"h{ws}")[1]
    nv, ov = tokenizer_vocab(load_tokenizer(other_bpe)), tokenizer_vocab(load_tokenizer(base))
    new = match_anchors(nv, ov).unmatched
    assert len(new) == r.initialised > 0
    assert torch.allclose(rows[0.5][new], 0.5 * rows[0.0][new] + 0.5 * rows[1.0][new], atol=1e-5)
    assert not torch.allclose(rows[0.0][new], rows[1.0][new], atol=1e-3)
    # reference for w_sparse=1: aux space = the base's unit rows; a new token's vector is its subword mean
    _, e_old = _emb(base)
    old_tok = transformers.AutoTokenizer.from_pretrained(str(base))
    regular = [i for i in ov.ids() if i < e_old.shape[0]]
    keys = torch.nn.functional.normalize(e_old[regular], dim=-1)
    q = []
    for i in new:
        p = old_tok(nv.tokens[i].decode("utf-8"), add_special_tokens=False)["input_ids"]
        q.append(e_old[p].mean(0))
    q = torch.nn.functional.normalize(torch.stack(q), dim=-1)
    mu, bmu = keys.mean(0), e_old[regular].mean(0)
    idx, coef = batch_omp(keys - mu, q - mu, 3)
    want = torch.einsum("mk,mkd->md", coef, (e_old[regular] - bmu)[idx]) + bmu
    assert torch.allclose(rows[1.0][new], want, atol=1e-4)


def test_tiktoken_new_tokenizer(base, tokenizers_dir, tmp_path):
    r = transplant(base, tokenizers_dir / "gpt2.tiktoken", tmp_path / "g", method="mean")
    tok = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "g"))
    assert tok("hello world", add_special_tokens=False)["input_ids"] == [31373, 995]
    assert r.new_vocab_size == len(tok) == 50257 + len(r.added_specials)
    assert r.specials["<|endoftext|>"] == "content"


# ----- errors ------------------------------------------------------------------------------------------------
def test_errors(base, other_bpe, wordpiece, tmp_path):
    with pytest.raises(TransplantError, match="donor"):
        transplant(base, other_bpe, tmp_path / "x", method="omp")
    with pytest.raises(TransplantError, match="larger than the anchor set"):
        transplant(base, wordpiece, tmp_path / "x", method="omp", donor=wordpiece, k=100000)
    with pytest.raises(TransplantError, match="donor"):  # the donor does not use the new tokenizer
        transplant(base, other_bpe, tmp_path / "x", method="omp", donor=wordpiece)
    with pytest.raises(TransplantError, match="no such tokenizer"):
        transplant(base, tmp_path / "missing.json", tmp_path / "x")
    with pytest.raises(TransplantError, match="config.json"):
        transplant(tmp_path, other_bpe, tmp_path / "x")
    with pytest.raises(TransplantError, match="unknown method"):
        transplant(base, other_bpe, tmp_path / "x", method="magic")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TransplantError, match="cannot load tokenizer"):
        transplant(base, bad, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "f").write_text("keep")
    with pytest.raises(TransplantError, match="exists"):
        transplant(base, other_bpe, tmp_path / "exists", method="zero")
    assert (tmp_path / "exists" / "f").read_text() == "keep"


def test_out_of_range_ids_are_reported(tmp_path, other_bpe):
    b = make_base(tmp_path / "b")
    cfg = json.loads((b / "config.json").read_text())
    m = transformers.AutoModelForCausalLM.from_pretrained(str(b))
    m.resize_token_embeddings(cfg["vocab_size"] - 10)
    m.save_pretrained(str(b))
    r = transplant(b, other_bpe, tmp_path / "o", method="mean")
    assert r.out_of_range_old_ids == 10


# ----- eval-bpb ----------------------------------------------------------------------------------------------
def test_eval_bpb_against_token_by_token_reference(base, tmp_path):
    import math

    docs = load_documents([_text(tmp_path)], lines_per_doc=3)
    res = eval_bpb(base, docs, prefix="Text: ", batch_tokens=64, bootstrap=200)
    m = transformers.AutoModelForCausalLM.from_pretrained(str(base)).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(base))
    pre = tok("Text: ", add_special_tokens=False)["input_ids"]
    bits = 0.0
    ntok = 0
    for d in docs:
        ids = tok(d, add_special_tokens=False)["input_ids"]
        seq = pre + ids
        with torch.no_grad():
            logp = torch.log_softmax(m(torch.tensor([seq])).logits[0].double(), -1)
        for t in range(len(pre), len(seq)):
            bits -= float(logp[t - 1, seq[t]]) / math.log(2)
        ntok += len(ids)
    nbytes = sum(len(d.encode()) for d in docs)
    assert res.tokens == ntok and res.bytes == nbytes and res.documents == len(docs)
    assert res.bpb == pytest.approx(bits / nbytes, rel=1e-4)
    assert res.ci_low <= res.bpb <= res.ci_high


def test_eval_bpb_byte_level(base, tmp_path):
    """--byte-level: the exact byte-level probability of each document counts every canonical token sequence
    covering its bytes and renormalises over canonical tokens, so it is at least the probability of the
    document's own tokenization: byte-level bits <= token-level bits, per document, with the same token count."""
    from toksmith.evalbpb import document_bits
    from toksmith.evalbpb_bytes import byte_level_bits

    docs = load_documents([_text(tmp_path)], lines_per_doc=3)[:2]
    m = transformers.AutoModelForCausalLM.from_pretrained(str(base)).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(base))
    tbits, tn = document_bits(m, tok, docs, prefix="Text: ")
    bbits, bn, stats = byte_level_bits(m, tok, docs, prefix="Text: ")
    assert list(bn) == list(tn)
    assert np.all(bbits > 0) and np.all(bbits <= tbits + 1e-6), (bbits, tbits)
    assert 0.9 <= stats["rows_per_byte"] <= 1.5
    res = eval_bpb(base, docs, prefix="Text: ", bootstrap=0, byte_level=True)
    assert res.bpb == pytest.approx(bbits.sum() / sum(len(d.encode()) for d in docs), rel=1e-9)
    out = _cli("eval-bpb", str(base), str(_text(tmp_path)), "--byte-level", "--json", "--max-lines", "3")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["byte_level"] is True


def test_bootstrap_and_documents(tmp_path):

    lo, hi = bootstrap_ci(np.array([10.0, 10.0, 10.0]), np.array([5.0, 5.0, 5.0]))
    assert lo == hi == 2.0
    p = tmp_path / "t.txt"
    p.write_text("a\nb\n\nc\nd\ne\n")
    assert load_documents([p], lines_per_doc=2) == ["a b", "c d", "e"]
    assert load_documents([p], lines_per_doc=2, max_lines=3) == ["a b", "c"]
    assert load_documents([p], chars_per_doc=4) == ["a\nb\n", "\nc\nd", "\ne\n"]
    p.write_text("Ça VA\n")
    assert load_documents([p], normalize="bert") == ["ca va"]
    with pytest.raises(TransplantError):
        load_documents([tmp_path / "nope.txt"])


# ----- CLI -------------------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toksmith", *args], capture_output=True, text=True)


def test_cli_transplant_and_eval(base, other_bpe, tmp_path):
    out = tmp_path / "cli"
    r = _cli("transplant", str(base), str(other_bpe), str(out), "--method", "subword-mean", "--json", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["method"] == "subword-mean"
    r = _cli("eval-bpb", str(out), str(_text(tmp_path)), "--json", "--no-progress", "--lines-per-doc", "3")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["documents"] == len(load_documents([_text(tmp_path)], lines_per_doc=3))
    assert d["bpb"] > 0 and d["bytes_per_token"] > 0
    r = _cli("transplant", str(base), str(tmp_path / "nope.json"), str(tmp_path / "x"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no such tokenizer" in r.stderr
    assert not (tmp_path / "x").exists()
    r = _cli("transplant", str(base), str(other_bpe), str(tmp_path / "x"), "--method", "omp")
    assert r.returncode == 1 and r.stderr.startswith("toksmith: error:") and r.stderr.count("\n") == 1


def test_progress_log_reports_about_every_tenth_and_the_end():
    from toksmith.transplant.methods.aux import progress_log

    seen: list[str] = []
    prog = progress_log(seen.append, "embedding", 95)
    for _ in range(19):
        prog(5)
    assert seen[-1] == "embedding: 95 / 95"
    assert 9 <= len(seen) <= 11
    done = [int(m.split(": ")[1].split(" /")[0]) for m in seen]
    assert done == sorted(done) and all(b - a >= 9 for a, b in zip(done[:-1], done[1:-1]))
    assert progress_log(None, "x", 10) is None
