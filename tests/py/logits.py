"""Load an output with transformers and run a fixed input through it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

# fixed token ids, taken modulo the model's vocabulary size
INPUT_IDS = [1, 5, 17, 33, 60, 100, 150, 199, 2, 7, 42, 88, 123, 250, 3, 64]


def logits_of(model_dir: Path, config_dir: Path | None = None) -> torch.Tensor:
    """Logits of the fixed input, the model loaded in float32.

    config_dir: take config.json from there instead (used when MergeKit writes a config that
    transformers refuses, see the layer_types QUIRK in COMPAT.md)."""
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory(prefix="mf-logits-") as tmp:
        src = Path(model_dir)
        if config_dir is not None:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
            shutil.copy(Path(config_dir) / "config.json", Path(tmp) / "config.json")
            src = Path(tmp)
        model = AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.float32)
        model.eval()
        vocab = model.get_input_embeddings().weight.shape[0]
        ids = torch.tensor([[i % vocab for i in INPUT_IDS]])
        with torch.no_grad():
            out = model(ids).logits[0]
    return out.to(torch.float64)


def logits_tolerance(kind: str, scale: float) -> float:
    """Absolute tolerance between two outputs' logits for a comparison policy.

    close: float32 rounding only. ulp: weights differ by at most one half-precision ulp on
    some elements (the random test models amplify that: +-1 ulp on 30% of all elements moves
    their logits by ~4% of the largest logit). ref: half-precision outputs that legitimately
    differ more (MergeKit rounds op by op, tie breaks differ). The weights are the real
    check; this one catches outputs transformers reads differently (names, tying, config)."""
    scale = max(1.0, scale)
    if kind == "close":
        return 1e-4 * max(1.0, scale / 10)
    if kind == "ulp":
        return 5e-2 * scale
    return 1e-1 * scale
