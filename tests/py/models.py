"""Tiny, deterministic test models for the end-to-end suite.

Every model is generated from fixed seeds with transformers and written with
``save_pretrained`` (safetensors). The set lives in ``<cache>/models-<GENERATOR_VERSION>``
and is built once; bump GENERATOR_VERSION whenever anything here changes so a stale
set is never reused.

Layout (the ``${models}`` placeholder in tests/cases/*.yaml points at the root):

    llama/{base,ft1,ft2,ft3}        4 layers, float32, untied, tokenizer (ft* add a chat template)
    llama/ft1-sharded               ft1's weights saved in several shards (index json)
    llama-bf16/{base,ft1,ft2,ft3}   the llama family rounded to bfloat16
    llama-fp16/{base,ft1,ft2}       the llama family rounded to float16
    llama6/base                     6 layers, same widths as llama (frankenmerge donor)
    llama-tied/{base,ft1}           tie_word_embeddings=true, no lm_head stored
    llama-tied/ft2-untied           same widths, stores its own lm_head
    mistral/{base,ft1,ft2,ft3}      2 layers, tokenizer
    qwen2/{base,ft1,ft2,ft3}        2 layers, q/k/v biases, layer_types in config
    qwen2-bf16/{base,ft1,ft2}
    gemma2/{base,ft1,ft2,ft3}       tied embeddings, layer_types in config, no tokenizer
    phi3/{base,ft1,ft2,ft3}         fused qkv / gate_up projections, no tokenizer
    gpt2/{base,ft1,ft2,ft3}         transformer.h.N naming, Conv1D weights, biases, tied, no tokenizer

Fine-tunes are the base plus small deltas: ft1 dense N(0, (0.02 rms)^2), ft2 half of
ft1's delta plus its own dense delta (so the two partly agree in sign), ft3 sparse (10%
of the elements, 3x larger).
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

GENERATOR_VERSION = "mf-models-3"

VOCAB = 256
FT_NAMES = ("ft1", "ft2", "ft3")

# Sentences for the tokenizer; any text works, it only needs to be fixed.
_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a merge combines the weights of several fine tuned models",
    "task vectors are the difference between a fine tune and its base",
    "spherical interpolation keeps the norm of the weights",
    "sparse deltas keep only the largest changes of each tensor",
    "layers can be stacked from different models into a taller one",
    "tokenizers map text to integer ids and back again",
    "small models are fast to build and fast to test",
    "every tensor is compared element by element with a tolerance",
    "hello world, this is a tiny language model for testing merges!",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}</s>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

# family -> (architecture, layers, tie_word_embeddings, has tokenizer)
FAMILIES = {
    "llama": ("llama", 4, False, True),
    "llama6": ("llama", 6, False, True),
    "llama-tied": ("llama", 4, True, True),
    "mistral": ("mistral", 2, False, True),
    "qwen2": ("qwen2", 2, False, True),
    "gemma2": ("gemma2", 2, True, False),
    "phi3": ("phi3", 2, False, False),
    "gpt2": ("gpt2", 2, True, False),
}


def default_cache_dir() -> Path:
    env = os.environ.get("MERGEFORGE_TEST_CACHE")
    if env:
        return Path(env).resolve()
    return (Path(__file__).resolve().parents[2] / "build" / "test-cache").resolve()


def models_root(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"models-{GENERATOR_VERSION}"


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode()) & 0x7FFFFFFF


def make_config(arch: str, layers: int, tie: bool):
    import transformers as tf

    common = dict(
        vocab_size=VOCAB,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=tie,
    )
    if arch == "gpt2":
        return tf.GPT2Config(n_embd=32, n_layer=layers, n_head=4, n_positions=64, **common)
    llama_like = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        **common,
    )
    if arch == "llama":
        return tf.LlamaConfig(**llama_like)
    if arch == "mistral":
        return tf.MistralConfig(sliding_window=64, **llama_like)
    if arch == "qwen2":
        llama_like.update(hidden_size=64, intermediate_size=128)
        return tf.Qwen2Config(**llama_like)
    if arch == "gemma2":
        return tf.Gemma2Config(head_dim=8, query_pre_attn_scalar=8, sliding_window=16, **llama_like)
    if arch == "phi3":
        return tf.Phi3Config(**llama_like)
    raise ValueError(arch)


def _is_norm(name: str) -> bool:
    return "norm" in name or ".ln_" in name or name.startswith("ln_")


def _base_tensor(family: str, name: str, like, arch: str):
    import torch

    g = torch.Generator().manual_seed(_seed(family, "base", name))
    shape = tuple(like.shape)
    if len(shape) == 1:
        if _is_norm(name) and name.endswith("weight"):
            return 1.0 + 0.05 * torch.randn(shape, generator=g)
        return 0.02 * torch.randn(shape, generator=g)
    if "embed" in name or ".wte." in name or ".wpe." in name or name.startswith("lm_head"):
        std = 0.5
    else:
        # nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out]
        fan_in = shape[0] if arch == "gpt2" else shape[-1]
        std = fan_in ** -0.5
    return std * torch.randn(shape, generator=g)


def _delta(family: str, ft: str, name: str, base, prev_delta=None):
    import torch

    g = torch.Generator().manual_seed(_seed(family, ft, name))
    rms = float(base.pow(2).mean().sqrt()) or 1.0
    scale = 0.02 * rms
    if ft == "ft3":
        mask = torch.rand(base.shape, generator=g) < 0.1
        return torch.randn(base.shape, generator=g) * (3 * scale) * mask
    d = torch.randn(base.shape, generator=g) * scale
    if ft == "ft2" and prev_delta is not None:
        d = d + 0.5 * prev_delta
    return d


def _build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=200,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    assert len(fast) <= VOCAB, len(fast)
    return fast


def _set_weights(model, tensors):
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(tensors[name])


def _save(model, path: Path, tokenizer=None, chat_template=None, dtype=None, **kw):
    import torch

    path.mkdir(parents=True, exist_ok=True)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(str(path), **kw)
    if dtype is not None:
        model.to(torch.float32)
    if tokenizer is not None:
        tokenizer.chat_template = chat_template
        tokenizer.save_pretrained(str(path))


def _build_family(root: Path, family: str, tokenizer) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    arch, layers, tie, has_tok = FAMILIES[family]
    tok = tokenizer if has_tok else None
    cfg = make_config(arch, layers, tie)
    torch.manual_seed(_seed(family, "init"))
    model = AutoModelForCausalLM.from_config(cfg).eval()
    params = dict(model.named_parameters())
    base = {n: _base_tensor(family, n, p, arch) for n, p in params.items()}
    _set_weights(model, base)
    _save(model, root / family / "base", tok)

    variants = {"base": base}
    if family in ("llama6",):
        return
    prev = None
    for ft in FT_NAMES:
        deltas = {n: _delta(family, ft, n, base[n], prev and prev[n]) for n in base}
        prev = deltas if ft == "ft1" else prev
        w = {n: base[n] + deltas[n] for n in base}
        variants[ft] = w
        if family == "llama-tied" and ft != "ft1":
            continue
        _set_weights(model, w)
        _save(model, root / family / ft, tok, CHAT_TEMPLATE if tok is not None else None)

    if family == "llama":
        _set_weights(model, variants["ft1"])
        _save(model, root / "llama" / "ft1-sharded", tok, CHAT_TEMPLATE, max_shard_size="100KB")
        for suffix, dtype, names in (
            ("bf16", torch.bfloat16, ("base", "ft1", "ft2", "ft3")),
            ("fp16", torch.float16, ("base", "ft1", "ft2")),
        ):
            for n in names:
                _set_weights(model, variants[n])
                _save(model, root / f"llama-{suffix}" / n, tok,
                      None if n == "base" else CHAT_TEMPLATE, dtype=dtype)
    if family == "qwen2":
        for n in ("base", "ft1", "ft2"):
            _set_weights(model, variants[n])
            _save(model, root / "qwen2-bf16" / n, tok, None if n == "base" else CHAT_TEMPLATE,
                  dtype=torch.bfloat16)
    if family == "llama-tied":
        # same family, but untied: stores lm_head = embed_tokens + its own delta
        ucfg = make_config(arch, layers, False)
        umodel = AutoModelForCausalLM.from_config(ucfg).eval()
        w = dict(variants["ft2"])
        emb = "model.embed_tokens.weight"
        w["lm_head.weight"] = w[emb] + _delta(family, "ft2-lm_head", "lm_head.weight", base[emb])
        _set_weights(umodel, w)
        _save(umodel, root / family / "ft2-untied", tok, CHAT_TEMPLATE)


def build_models(root: Path) -> None:
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    tokenizer = _build_tokenizer()
    for family in FAMILIES:
        _build_family(root, family, tokenizer)
    (root / "MANIFEST.json").write_text(
        json.dumps(
            {
                "generator": GENERATOR_VERSION,
                "models": sorted(
                    str(p.parent.relative_to(root)) for p in root.rglob("config.json")
                ),
            },
            indent=1,
        )
    )


def ensure_models(cache_dir: Path | None = None) -> Path:
    """Return the models root, generating the set first if it is missing."""
    cache_dir = Path(cache_dir or default_cache_dir())
    root = models_root(cache_dir)
    if (root / ".complete").exists():
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".tmp-models-{GENERATOR_VERSION}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    build_models(tmp)
    (tmp / ".complete").write_text(GENERATOR_VERSION + "\n")
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root


if __name__ == "__main__":
    import time

    t0 = time.time()
    print(ensure_models(), f"{time.time() - t0:.1f}s")
