"""Tiny Llama-shaped model directories written with numpy alone (no torch, no transformers), and the raw
safetensors reading / writing the robustness tests need to damage them on purpose.

Used by test_bad_inputs.py and test_crash_safety.py; fast enough to rebuild per test session.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np

DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4,
               "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


# --- raw safetensors -------------------------------------------------------------------------------------

def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    """Writes float32 / int64 arrays in the given order, header padded to 8 bytes (as the reference writer)."""
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    chunks, offset = [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("float16"): "F16"}[array.dtype]
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def read_safetensors_raw(path: Path) -> tuple[dict, bytes]:
    """(header dict, data section) of a well-formed file."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_safetensors_raw(path: Path, header: dict, data: bytes) -> None:
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + data)


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    header, data = read_safetensors_raw(path)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = {"F32": "<f4", "I64": "<i8", "F16": "<f2"}[info["dtype"]]
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"])
    return out


# --- model directories -----------------------------------------------------------------------------------

def llama_tensors(layers: int, hidden: int, vocab: int, seed: int, intermediate: int | None = None,
                  lm_head: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inter = intermediate or 2 * hidden

    def w(*shape):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.05)

    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": w(vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = np.ones(hidden, np.float32) + w(hidden)
        t[p + "self_attn.q_proj.weight"] = w(hidden, hidden)
        t[p + "self_attn.k_proj.weight"] = w(hidden, hidden)
        t[p + "self_attn.v_proj.weight"] = w(hidden, hidden)
        t[p + "self_attn.o_proj.weight"] = w(hidden, hidden)
        t[p + "post_attention_layernorm.weight"] = np.ones(hidden, np.float32) + w(hidden)
        t[p + "mlp.gate_proj.weight"] = w(inter, hidden)
        t[p + "mlp.up_proj.weight"] = w(inter, hidden)
        t[p + "mlp.down_proj.weight"] = w(hidden, inter)
    t["model.norm.weight"] = np.ones(hidden, np.float32)
    if lm_head:
        t["lm_head.weight"] = w(vocab, hidden)
    return t


def llama_config(layers: int, hidden: int, vocab: int, intermediate: int | None = None,
                 lm_head: bool = True) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "intermediate_size": intermediate or 2 * hidden, "num_hidden_layers": layers,
        "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": vocab,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "tie_word_embeddings": not lm_head,
        "torch_dtype": "float32",
    }


def write_llama(directory: Path, layers: int = 4, hidden: int = 8, vocab: int = 16, seed: int = 0,
                shards: int = 1, intermediate: int | None = None, lm_head: bool = True) -> Path:
    """A model directory: config.json plus model.safetensors, or `shards` shards with an index."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(llama_config(layers, hidden, vocab, intermediate, lm_head),
                                                      indent=2))
    tensors = llama_tensors(layers, hidden, vocab, seed, intermediate, lm_head)
    if shards == 1:
        write_safetensors(directory / "model.safetensors", tensors, {"format": "pt"})
        return directory
    names = list(tensors)
    per = -(-len(names) // shards)
    weight_map = {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s * per:(s + 1) * per]}
        write_safetensors(directory / file, part, {"format": "pt"})
        weight_map.update({n: file for n in part})
    total = sum(a.nbytes for a in tensors.values())
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    return directory


# --- checks ----------------------------------------------------------------------------------------------

def tree_digest(root: Path) -> dict[str, str]:
    """relative path -> sha256 (or the mode for directories) of everything under root, to prove nothing
    was written to the inputs."""
    root = Path(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            out[str(p.relative_to(root)) + "/"] = oct(p.stat().st_mode)
        for f in filenames:
            p = Path(dirpath) / f
            st = p.stat()
            try:
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            except PermissionError:
                digest = "unreadable"
            out[str(p.relative_to(root))] = f"{digest} {oct(st.st_mode)} {st.st_mtime_ns}"
    return out


def dir_bytes(root: Path) -> dict[str, bytes]:
    """relative path -> contents of every file under root."""
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
