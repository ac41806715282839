#!/usr/bin/env python3
"""Generate the tiny example models used by examples/*.yml.

    python examples/make_examples.py          # from the repository root

Writes examples/models/{tiny-base,tiny-ft-a,tiny-ft-b}: Llama-style, hidden size 32,
2 layers, a 128-token BPE tokenizer, float32 safetensors (about 110 kB each). The two
"fine-tunes" are the base plus small fixed random deltas. Everything is seeded, so running
the script again rewrites the same weights. Needs torch, transformers and tokenizers.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

OUT = Path(__file__).resolve().parent / "models"
VOCAB = 128

CORPUS = [
    "model merging combines the weights of several fine tuned models",
    "a task vector is a fine tune minus its base model",
    "linear merging averages the weights",
    "ties keeps the largest changes and resolves sign conflicts",
    "slerp interpolates along the sphere between two models",
    "the merged model needs no training at all",
]


def seed_of(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode()) & 0x7FFFFFFF


def tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")
    assert len(fast) <= VOCAB
    return fast


def base_weights(model: LlamaForCausalLM) -> dict[str, torch.Tensor]:
    res = {}
    for name, p in model.named_parameters():
        g = torch.Generator().manual_seed(seed_of("base", name))
        if p.ndim == 1:  # RMSNorm weights
            res[name] = 1.0 + 0.05 * torch.randn(p.shape, generator=g)
        elif "embed" in name or "lm_head" in name:
            res[name] = 0.5 * torch.randn(p.shape, generator=g)
        else:
            res[name] = p.shape[-1] ** -0.5 * torch.randn(p.shape, generator=g)
    return res


def fine_tune(base: dict[str, torch.Tensor], tag: str) -> dict[str, torch.Tensor]:
    res = {}
    for name, w in base.items():
        g = torch.Generator().manual_seed(seed_of(tag, name))
        rms = float(w.pow(2).mean().sqrt())
        res[name] = w + 0.03 * rms * torch.randn(w.shape, generator=g)
    return res


def main() -> None:
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    tok = tokenizer()
    base = base_weights(model)
    variants = {"tiny-base": base, "tiny-ft-a": fine_tune(base, "ft-a"), "tiny-ft-b": fine_tune(base, "ft-b")}
    if OUT.exists():
        shutil.rmtree(OUT)
    for name, weights in variants.items():
        with torch.no_grad():
            for pname, p in model.named_parameters():
                p.copy_(weights[pname])
        path = OUT / name
        model.save_pretrained(str(path))
        tok.save_pretrained(str(path))
        print(path.relative_to(OUT.parent.parent))


if __name__ == "__main__":
    main()
