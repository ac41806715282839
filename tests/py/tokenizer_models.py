"""Tiny models whose vocabularies differ, for the tokenizer cases (tests/cases/tokenizer_*.yaml).

Tokenizers are trained with the `tokenizers` library on two small corpora that partly overlap, so
the vocabularies share some tokens and differ in others (and in size); fine-tunes add special
tokens, as chat and tool fine-tunes do. Every model is a 2-layer Llama (hidden 32, untied head).
The set lives in ``<cache>/tok-models-<TOKENIZER_MODELS_VERSION>`` (``${tok_models}`` in the case
files); bump the version whenever anything here changes.

    bpe/base          BPE on corpus A: 100 tokens, plus an added special token <|reserved|> at id
                      100 that config.json's vocab_size (100) leaves out (dropped as unused)
    bpe/chat          the base's BPE plus special tokens <|im_start|> <|im_end|> (ids 100, 101),
                      vocab_size 102, a chat template; weights = base + small deltas
    bpe/other         BPE on corpus B: 110 tokens, plus the special token <tool> (110) and <extra>
                      (111, past vocab_size 111, so unused); a chat template
    wp/base           WordPiece (lower-cased, BERT pre-tokenizer) on corpus A: 90 tokens, but 96
                      embedding rows (vocab_size 96)
    wp/other          WordPiece on corpus B: 100 tokens plus the special token [TOOL], vocab_size 101
    uni/base          Unigram (Metaspace) on corpus A: 75 pieces, vocab_size 75
    uni/other         Unigram on corpus B: 75 pieces plus the special token <tool>, 80 rows
    wl/base           WordLevel (whitespace pre-tokenizer) on corpus A: 51 words
    wl/other          WordLevel on corpus B: 48 words plus the special token [TOOL]
    bad/broken-json   bpe/chat whose tokenizer.json is not JSON
    bad/spm-only      bpe/base's weights with a tokenizer.model and no tokenizer.json

Rows of a token a model shares with its family's base are the base's row plus a small delta;
other rows are random, so merges of shared tokens behave like merges of fine-tunes.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

TOKENIZER_MODELS_VERSION = "mf-tok-2"

CORPUS_A = [
    "the quick brown fox jumps over the lazy dog",
    "a merge combines the weights of several fine tuned models",
    "task vectors are the difference between a fine tune and its base",
    "spherical interpolation keeps the norm of the weights",
    "hello world, this is a tiny language model for testing merges!",
    "every tensor is compared element by element with a tolerance",
]
CORPUS_B = [
    "tokenizers map text to integer ids and back again",
    "the quick brown cat sleeps under the warm kitchen table",
    "tools are called with json arguments and return results",
    "hello there world, chat models answer questions politely",
    "every token gets an embedding row and an output row",
    "small models are fast to build and fast to test",
]
# Texts the tests encode with the output tokenizers.
SAMPLE_TEXTS = [
    "hello world, the quick brown cat merges tensors",
    "<|im_start|>user\ncall a tool<|im_end|><tool> ids again",
    "Tokenizers MAP integer ids; [TOOL] the lazy dog!",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
HIDDEN = 32


def models_root(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"tok-models-{TOKENIZER_MODELS_VERSION}"


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode()) & 0x7FFFFFFF


def _bpe(corpus, size):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=size, special_tokens=["<pad>", "<s>", "</s>", "<unk>"], show_progress=False))
    assert tok.get_vocab_size() == size, (tok.get_vocab_size(), size)
    return tok


def _wordpiece(corpus, size):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(
        vocab_size=size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False))
    assert tok.get_vocab_size() == size, (tok.get_vocab_size(), size)
    return tok


def _unigram(corpus):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(corpus, trainers.UnigramTrainer(
        vocab_size=90, special_tokens=["<pad>", "<s>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False))
    return tok


def _wordlevel(corpus):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]"], show_progress=False))
    return tok


def _fast(tok, specials: dict, added_special: list[str]):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tok.to_str()), **specials)
    if added_special:
        fast.add_tokens(added_special, special_tokens=True)
    return fast


def _config(vocab: int):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                       tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def _weights(family: str, name: str, model, vocab: dict[str, int], base: dict | None):
    """Deterministic weights: base + delta for shared tensors and shared tokens, random otherwise."""
    import torch

    out = {}
    for pname, p in model.named_parameters():
        g = torch.Generator().manual_seed(_seed(family, name, pname))
        shape = tuple(p.shape)
        std = 0.5 if ("embed" in pname or "lm_head" in pname) else (1.0 if len(shape) == 1 else shape[-1] ** -0.5)
        fresh = std * torch.randn(shape, generator=g)
        if len(shape) == 1 and "norm" in pname:
            fresh = 1.0 + 0.05 * torch.randn(shape, generator=g)
        if base is None:
            out[pname] = fresh
            continue
        b_tensors, b_vocab = base
        delta = 0.02 * torch.randn(shape, generator=g) * float(b_tensors[pname].pow(2).mean().sqrt())
        if "embed_tokens" in pname or "lm_head" in pname:
            t = fresh.clone()
            for tok, i in vocab.items():
                j = b_vocab.get(tok)
                if j is not None and i < shape[0] and j < b_tensors[pname].shape[0]:
                    t[i] = b_tensors[pname][j] + delta[i]
            out[pname] = t
        else:
            out[pname] = b_tensors[pname] + delta
    return out


def _save(root: Path, family: str, name: str, fast, vocab_size: int, base=None, chat_template=None):
    import torch
    from transformers import AutoModelForCausalLM

    path = root / family / name
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(_seed(family, name, "init"))
    model = AutoModelForCausalLM.from_config(_config(vocab_size)).eval()
    vocab = fast.get_vocab()
    tensors = _weights(family, name, model, vocab, base)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.copy_(tensors[pname])
    model.save_pretrained(str(path))
    fast.chat_template = chat_template
    fast.save_pretrained(str(path))
    return tensors, vocab


def build(root: Path) -> None:
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    bpe_specials = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    bpe_a = _bpe(CORPUS_A, 100)
    base = _save(root, "bpe", "base", _fast(bpe_a, bpe_specials, ["<|reserved|>"]), 100)
    _save(root, "bpe", "chat", _fast(bpe_a, bpe_specials, ["<|im_start|>", "<|im_end|>"]), 102, base,
          CHAT_TEMPLATE)
    _save(root, "bpe", "other", _fast(_bpe(CORPUS_B, 110), bpe_specials, ["<tool>", "<extra>"]), 111, base,
          CHAT_TEMPLATE)

    wp_specials = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                       mask_token="[MASK]")
    wp_base = _save(root, "wp", "base", _fast(_wordpiece(CORPUS_A, 90), wp_specials, []), 96)
    _save(root, "wp", "other", _fast(_wordpiece(CORPUS_B, 100), wp_specials, ["[TOOL]"]), 101, wp_base)

    uni_specials = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    uni_a = _fast(_unigram(CORPUS_A), uni_specials, [])
    uni_base = _save(root, "uni", "base", uni_a, len(uni_a))
    uni_b = _fast(_unigram(CORPUS_B), uni_specials, ["<tool>"])
    _save(root, "uni", "other", uni_b, len(uni_b) + 4, uni_base)
    wl_specials = dict(unk_token="[UNK]", pad_token="[PAD]")
    wl_a = _fast(_wordlevel(CORPUS_A), wl_specials, [])
    wl_base = _save(root, "wl", "base", wl_a, len(wl_a))
    wl_b = _fast(_wordlevel(CORPUS_B), wl_specials, ["[TOOL]"])
    _save(root, "wl", "other", wl_b, len(wl_b), wl_base)

    broken = root / "bad" / "broken-json"
    shutil.copytree(root / "bpe" / "chat", broken)
    (broken / "tokenizer.json").write_text("{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\", ", encoding="utf-8")
    spm = root / "bad" / "spm-only"
    shutil.copytree(root / "bpe" / "base", spm)
    (spm / "tokenizer.json").unlink()
    (spm / "tokenizer.model").write_bytes(b"\x0a\x05<unk>")  # never parsed: its presence is the point


def ensure(cache_dir: Path) -> Path:
    """The tokenizer model set, generated first when missing."""
    root = models_root(cache_dir)
    if (root / ".complete").exists():
        return root
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(cache_dir) / f".tmp-tok-models-{TOKENIZER_MODELS_VERSION}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    build(tmp)
    (tmp / ".complete").write_text(json.dumps({"version": TOKENIZER_MODELS_VERSION}) + "\n")
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root


if __name__ == "__main__":
    import sys
    import time

    t0 = time.time()
    print(ensure(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/test-cache")), f"{time.time() - t0:.1f}s")
