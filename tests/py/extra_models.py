"""More generated test models, kept apart from models.py so its set (and its cache) stays as it is.

The set lives in ``<cache>/extra-models-<EXTRA_MODELS_VERSION>`` (``${extra_models}`` in the case
files) and is built once; bump EXTRA_MODELS_VERSION whenever anything here changes.

    granite/{base,ft1,ft2,ft3}  Granite, 2 layers, attention_bias=true (q/k/v/o biases), untied,
                                no tokenizer. ft* are base + deltas as in models.py (ft1 dense,
                                ft2 dense + half of ft1's, ft3 sparse).
    granite/ft2-missing         ft2 saved without PARTIAL_TENSOR (config unchanged): a fine-tune
    granite/ft3-missing         that lacks one tensor, the case "tensors present in only some inputs"
    granite/base-missing        the base without PARTIAL_TENSOR
    llama-big-embed/{base,ft1}  Llama, 1 layer, hidden 32, vocab 34000, tied embeddings, float32:
                                model.embed_tokens.weight has 34000 x 32 = 1,088,000 elements, above
                                the 1e6 where arcee_fusion samples its quantiles; every other tensor
                                is small. ft1 = base + a dense delta (2% of the rms).
    llama-big-embed/{base,ft1}-bf16  the same two stored in bfloat16 (above 2^20 elements, where
                                the magnitude cuts of ties and breadcrumbs start from a sample)

The large tensor has short rows on purpose: arcee_fusion's per-row KL divergence of two nearly equal
softmaxes is a difference of nearly equal numbers, and MergeKit computes it in float32. On rows of
1024 with deltas of 2% of a 1/sqrt(1024) weight scale its KL is off by ~25% (median, per row) and the
elements it keeps are not a threshold on the true importance; on rows of 32 it is within ~0.1%, so
the two tools can be compared.

Granite is used for the partial-input cases because MergeKit's Granite template marks the biases
optional: MergeKit then applies its per-method policy for tensors only some inputs have, which is
what COMPAT.md describes (for Llama, whose template has no biases, MergeKit would drop an extra
tensor altogether or refuse a missing one).
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

EXTRA_MODELS_VERSION = "mf-extra-2"

PARTIAL_TENSOR = "model.layers.1.self_attn.q_proj.bias"
BIG_EMBED_VOCAB = 34000


def root_for(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"extra-models-{EXTRA_MODELS_VERSION}"


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(("extra",) + parts).encode()) & 0x7FFFFFFF


def _base_tensor(family: str, name: str, shape: tuple[int, ...]):
    import torch

    g = torch.Generator().manual_seed(_seed(family, "base", name))
    if len(shape) == 1:
        if "norm" in name:
            return 1.0 + 0.05 * torch.randn(shape, generator=g)
        return 0.02 * torch.randn(shape, generator=g)
    std = 0.5 if ("embed" in name or name.startswith("lm_head")) else shape[-1] ** -0.5
    return std * torch.randn(shape, generator=g)


def _delta(family: str, ft: str, name: str, base, prev=None):
    import torch

    g = torch.Generator().manual_seed(_seed(family, ft, name))
    scale = 0.02 * (float(base.pow(2).mean().sqrt()) or 1.0)
    if ft == "ft3":
        mask = torch.rand(base.shape, generator=g) < 0.1
        return torch.randn(base.shape, generator=g) * (3 * scale) * mask
    d = torch.randn(base.shape, generator=g) * scale
    if ft == "ft2" and prev is not None:
        d = d + 0.5 * prev
    return d


def _save(model, tensors: dict, path: Path, drop: tuple[str, ...] = ()) -> None:
    """config.json via save_pretrained, then model.safetensors rewritten with `tensors` minus `drop`."""
    import torch
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(tensors[n])
    model.save_pretrained(str(path))
    kept = {n: t.contiguous() for n, t in tensors.items() if n not in drop}
    for f in path.glob("model*.safetensors*"):
        f.unlink()
    # tied weights are stored once, as save_pretrained does
    if getattr(model.config, "tie_word_embeddings", False):
        kept.pop("lm_head.weight", None)
    save_file(kept, str(path / "model.safetensors"), metadata={"format": "pt"})


def _granite(root: Path) -> None:
    import torch
    import transformers as tf

    cfg = tf.GraniteConfig(
        vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        attention_bias=True, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(_seed("granite", "init"))
    model = tf.AutoModelForCausalLM.from_config(cfg).eval()
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert PARTIAL_TENSOR in shapes
    base = {n: _base_tensor("granite", n, s) for n, s in shapes.items()}
    variants = {"base": base}
    prev = None
    for ft in ("ft1", "ft2", "ft3"):
        deltas = {n: _delta("granite", ft, n, base[n], prev and prev[n]) for n in base}
        if ft == "ft1":
            prev = deltas
        variants[ft] = {n: base[n] + deltas[n] for n in base}
    d = root / "granite"
    for name, w in variants.items():
        _save(model, w, d / name)
    for name in ("ft2", "ft3", "base"):
        _save(model, variants[name], d / f"{name}-missing", drop=(PARTIAL_TENSOR,))


def _llama_big_embed(root: Path) -> None:
    import torch
    import transformers as tf

    cfg = tf.LlamaConfig(
        vocab_size=BIG_EMBED_VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    torch.manual_seed(_seed("llama-big-embed", "init"))
    model = tf.AutoModelForCausalLM.from_config(cfg).eval()
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    base = {n: _base_tensor("llama-big-embed", n, s) for n, s in shapes.items()}
    ft1 = {n: base[n] + _delta("llama-big-embed", "ft1", n, base[n]) for n in base}
    d = root / "llama-big-embed"
    _save(model, base, d / "base")
    _save(model, ft1, d / "ft1")
    # The same models stored in bfloat16: their deltas have few significant bits, as a real
    # fine-tune's do.
    model = model.to(torch.bfloat16)
    _save(model, {n: t.to(torch.bfloat16) for n, t in base.items()}, d / "base-bf16")
    _save(model, {n: t.to(torch.bfloat16) for n, t in ft1.items()}, d / "ft1-bf16")


def build(root: Path) -> None:
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    _granite(root)
    _llama_big_embed(root)
    (root / "MANIFEST.json").write_text(json.dumps(
        {"generator": EXTRA_MODELS_VERSION,
         "models": sorted(str(p.parent.relative_to(root)) for p in root.rglob("config.json"))},
        indent=1))


def ensure(cache_dir: Path) -> Path:
    """The models root, generated first if missing."""
    root = root_for(cache_dir)
    if (root / ".complete").exists():
        return root
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(cache_dir) / f".tmp-extra-{EXTRA_MODELS_VERSION}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    build(tmp)
    (tmp / ".complete").write_text(EXTRA_MODELS_VERSION + "\n")
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root


if __name__ == "__main__":
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from models import default_cache_dir

    t0 = time.time()
    print(ensure(default_cache_dir()), f"{time.time() - t0:.1f}s")
