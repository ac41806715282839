#!/usr/bin/env python3
"""Writes the benchmark's Llama-shaped bf16 checkpoints: a base and three fine-tunes of it.

    python3 bench/make_models.py --sizes 1b,3b [--scratch DIR]

Each size is written once to DIR/models/<size>/{base,ft1,ft2,ft3} (DIR: --scratch, else
$MERGEFORGE_BENCH_DIR, else /work/bench-scratch) and skipped afterwards: a size is complete when
DIR/models/<size>/spec.json matches the spec below (change the spec and it is regenerated).

The tensors are written directly with numpy (no transformers model init): each tensor is generated
in row chunks of about 4M elements for all four models at once, rounded float32 -> bf16 with
round-to-nearest-even on the uint32 view, and appended to the shard files, which are safetensors
written by hand (8-byte little-endian header length, JSON header, raw bytes). Peak memory is a few
hundred MB whatever the size. Output is deterministic: every tensor of every model has its own
generator seeded from (seed, model, tensor name), so the bytes depend on nothing else.

Shapes (embeddings tied, as in the Llama 3.2 models these copy; no lm_head tensor is stored):
  tiny  hidden 128,  intermediate 512,  4 layers,  4 heads / 2 kv, vocab 4096      ~1.5M params
  100m  hidden 768,  intermediate 2048, 12 layers, 12 heads / 4 kv, vocab 32000    ~0.1B
  1b    hidden 2048, intermediate 8192, 16 layers, 32 heads / 8 kv, vocab 128256   1.24B (Llama-3.2-1B)
  3b    hidden 3072, intermediate 8192, 28 layers, 24 heads / 8 kv, vocab 128256   3.21B (Llama-3.2-3B)

Weights: the base is N(0, 0.02^2) for matrices (std growing slightly with depth) and 1 + N(0, 0.05^2)
for RMSNorm weights. A fine-tune is bf16(base + delta), with a delta shaped like a real fine-tune's:
  delta = s_model * s_layer * s_row * (0.8 * noise + 0.6 * low_rank)
  - s_model: 1%, 1.5%, 2% of the tensor's std for ft1, ft2, ft3
  - s_layer: 0.7 at the first layer rising to 1.3 at the last (later layers move more)
  - s_row:   a log-normal factor per output row (some neurons move much more than others)
  - noise:   N(0, 1); low_rank: a rank-4 product U V normalised to unit variance (shared
             directions, as in LoRA-like updates); 0.8^2 + 0.6^2 = 1
So after bf16 rounding many delta entries are exactly 0 or one ulp, as in real bf16 fine-tunes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
import zlib
from pathlib import Path

import numpy as np

SPEC_VERSION = 1
SEED = 20240601
CHUNK_ELEMENTS = 1 << 22  # rows per chunk are chosen so a chunk holds about this many elements
FINE_TUNE_SCALES = {"ft1": 0.010, "ft2": 0.015, "ft3": 0.020}
LOW_RANK = 4

SIZES = {
    "tiny": dict(hidden=128, intermediate=512, layers=4, heads=4, kv_heads=2, vocab=4096,
                 shard_bytes=1 << 20),
    "100m": dict(hidden=768, intermediate=2048, layers=12, heads=12, kv_heads=4, vocab=32000,
                 shard_bytes=2 * 10**9),
    "1b": dict(hidden=2048, intermediate=8192, layers=16, heads=32, kv_heads=8, vocab=128256,
               shard_bytes=2 * 10**9),
    "3b": dict(hidden=3072, intermediate=8192, layers=28, heads=24, kv_heads=8, vocab=128256,
               shard_bytes=2 * 10**9),
}
MODELS = ["base", "ft1", "ft2", "ft3"]


def default_scratch() -> Path:
    return Path(os.environ.get("MERGEFORGE_BENCH_DIR", "/work/bench-scratch"))


def spec_of(size: str) -> dict:
    return {"spec_version": SPEC_VERSION, "seed": SEED, "size": size, **SIZES[size],
            "fine_tune_scales": FINE_TUNE_SCALES, "low_rank": LOW_RANK, "tied_embeddings": True}


def tensor_list(d: dict) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, layer or -1) in checkpoint order."""
    h, i, head_dim = d["hidden"], d["intermediate"], d["hidden"] // d["heads"]
    kv = d["kv_heads"] * head_dim
    out = [("model.embed_tokens.weight", (d["vocab"], h), -1)]
    for layer in range(d["layers"]):
        p = f"model.layers.{layer}."
        out += [
            (p + "input_layernorm.weight", (h,), layer),
            (p + "self_attn.q_proj.weight", (h, h), layer),
            (p + "self_attn.k_proj.weight", (kv, h), layer),
            (p + "self_attn.v_proj.weight", (kv, h), layer),
            (p + "self_attn.o_proj.weight", (h, h), layer),
            (p + "post_attention_layernorm.weight", (h,), layer),
            (p + "mlp.gate_proj.weight", (i, h), layer),
            (p + "mlp.up_proj.weight", (i, h), layer),
            (p + "mlp.down_proj.weight", (h, i), layer),
        ]
    out.append(("model.norm.weight", (h,), -1))
    return out


def param_count(size: str) -> int:
    return sum(math.prod(s) for _, s, _ in tensor_list(SIZES[size]))


def config_json(d: dict) -> dict:
    big_vocab = d["vocab"] == 128256
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": d["hidden"],
        "intermediate_size": d["intermediate"],
        "num_hidden_layers": d["layers"],
        "num_attention_heads": d["heads"],
        "num_key_value_heads": d["kv_heads"],
        "head_dim": d["hidden"] // d["heads"],
        "vocab_size": d["vocab"],
        "hidden_act": "silu",
        "max_position_embeddings": 131072 if big_vocab else 4096,
        "rms_norm_eps": 1e-05,
        "rope_theta": 500000.0 if big_vocab else 10000.0,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
        "bos_token_id": 128000 if big_vocab else 1,
        "eos_token_id": 128001 if big_vocab else 2,
        "dtype": "bfloat16",
        "use_cache": True,
    }


def to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits (uint16), round to nearest even (finite inputs)."""
    u = x.view(np.uint32)
    return ((u + (((u >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16)


def from_bf16(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << 16).view(np.float32)


def rng_for(model: str, name: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence([SEED, MODELS.index(model), zlib.crc32(name.encode())])))


def shard_layout(tensors, shard_bytes: int) -> list[list]:
    shards, current, used = [], [], 0
    for t in tensors:
        nbytes = math.prod(t[1]) * 2
        if current and used + nbytes > shard_bytes:
            shards.append(current)
            current, used = [], 0
        current.append(t)
        used += nbytes
    if current:
        shards.append(current)
    return shards


def safetensors_header(shard) -> bytes:
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in shard:
        nbytes = math.prod(shape) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


class TensorGenerator:
    """Generates one tensor for the base and every fine-tune, chunk by chunk (rows)."""

    def __init__(self, name: str, shape: tuple[int, ...], layer: int, layers: int):
        self.name, self.shape = name, shape
        self.is_norm = len(shape) == 1
        depth = 0.5 if layer < 0 else layer / max(1, layers - 1)
        self.std = 0.05 if self.is_norm else 0.02 * (1.0 + 0.25 * depth)
        self.layer_scale = 0.7 + 0.6 * depth
        self.rows = shape[0] if not self.is_norm else 1
        self.cols = shape[1] if not self.is_norm else shape[0]
        self.rngs = {m: rng_for(m, name) for m in MODELS}
        self.row_scale, self.u, self.v = {}, {}, {}
        for m in MODELS[1:]:
            r = self.rngs[m]
            self.row_scale[m] = np.exp(r.normal(0.0, 0.5, self.rows)).astype(np.float32)
            self.row_scale[m] /= np.sqrt(np.mean(self.row_scale[m] ** 2))
            # U V has unit-variance entries: U ~ N(0, 1/r), V ~ N(0, 1).
            self.u[m] = r.standard_normal((self.rows, LOW_RANK), dtype=np.float32) / np.float32(
                math.sqrt(LOW_RANK))
            self.v[m] = r.standard_normal((LOW_RANK, self.cols), dtype=np.float32)

    def chunks(self):
        """Yields {model: bf16 bytes} per chunk of rows."""
        step = max(1, CHUNK_ELEMENTS // self.cols)
        for r0 in range(0, self.rows, step):
            r1 = min(self.rows, r0 + step)
            shape = (r1 - r0, self.cols)
            base = self.rngs["base"].standard_normal(shape, dtype=np.float32)
            base *= np.float32(self.std)
            if self.is_norm:
                base += np.float32(1.0)
            base_bits = to_bf16(base)
            base_f = from_bf16(base_bits)
            out = {"base": base_bits.tobytes()}
            for m in MODELS[1:]:
                delta = self.rngs[m].standard_normal(shape, dtype=np.float32)
                delta *= np.float32(0.8)
                delta += np.float32(0.6) * (self.u[m][r0:r1] @ self.v[m])
                scale = FINE_TUNE_SCALES[m] * self.layer_scale * (1.0 if self.is_norm else self.std)
                delta *= (np.float32(scale) * self.row_scale[m][r0:r1])[:, None]
                delta += base_f
                out[m] = to_bf16(delta).tobytes()
            yield out


def generate(size: str, scratch: Path, quiet: bool = False) -> Path:
    """Writes DIR/models/<size> unless it is already complete; returns that directory."""
    root = scratch / "models" / size
    spec = spec_of(size)
    spec_file = root / "spec.json"
    if spec_file.exists():
        try:
            if json.loads(spec_file.read_text()) == spec:
                return root
        except (OSError, ValueError):
            pass
    d = SIZES[size]
    tensors = tensor_list(d)
    shards = shard_layout(tensors, d["shard_bytes"])
    total = sum(math.prod(s) for _, s, _ in tensors)
    if not quiet:
        print(f"make_models: writing {size} ({total / 1e6:.1f}M params, "
              f"{len(shards)} shard(s) per model, 4 models, {4 * 2 * total / 2**30:.1f} GiB) to {root}",
              flush=True)
    tmp = scratch / "models" / f".{size}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)  # an incomplete or outdated size
    need = 4 * 2 * total
    free = shutil.disk_usage(tmp.parent).free
    if free < need * 1.05:
        sys.exit(f"make_models: {size} needs {need / 2**30:.1f} GiB in {tmp.parent}, "
                 f"{free / 2**30:.1f} GiB are free")
    for m in MODELS:
        (tmp / m).mkdir(parents=True)
    n = len(shards)
    names = [f"model-{k + 1:05d}-of-{n:05d}.safetensors" for k in range(n)]
    start, done = time.monotonic(), 0
    for k, shard in enumerate(shards):
        header = safetensors_header(shard)
        files = {m: open(tmp / m / names[k], "wb") for m in MODELS}
        try:
            for f in files.values():
                f.write(header)
            for name, shape, layer in shard:
                for chunk in TensorGenerator(name, shape, layer, d["layers"]).chunks():
                    for m in MODELS:
                        files[m].write(chunk[m])
                done += math.prod(shape)
                if not quiet and size != "tiny":
                    print(f"\r  {done / total:6.1%}  {time.monotonic() - start:6.0f} s", end="",
                          flush=True)
        finally:
            for f in files.values():
                f.close()
    if not quiet and size != "tiny":
        print()
    index = {
        "metadata": {"total_size": 2 * total},
        "weight_map": {name: names[k] for k, shard in enumerate(shards) for name, _, _ in shard},
    }
    for m in MODELS:
        (tmp / m / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
        (tmp / m / "config.json").write_text(json.dumps(config_json(d), indent=2) + "\n")
    (tmp / "spec.json").write_text(json.dumps(spec, indent=2) + "\n")
    tmp.rename(root)
    if not quiet:
        print(f"make_models: {size} done in {time.monotonic() - start:.0f} s", flush=True)
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", "--size", default="1b,3b",
                    help=f"comma-separated, of {', '.join(SIZES)} (default 1b,3b)")
    ap.add_argument("--scratch", type=Path, default=None,
                    help="scratch directory (default $MERGEFORGE_BENCH_DIR or /work/bench-scratch)")
    args = ap.parse_args()
    scratch = (args.scratch or default_scratch()).resolve()
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        if size not in SIZES:
            ap.error(f"unknown size {size!r} (known: {', '.join(SIZES)})")
        print(generate(size, scratch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
