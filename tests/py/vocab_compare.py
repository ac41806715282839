"""Comparisons for merges whose output tokenizer is written fresh (a tokenizer section, or a
chat_template), used by test_e2e.py for cases with an ``expect.tokenizer`` block.

MergeKit numbers the tokens a union adds in dict and set order, which changes from run to run;
ours follow COMPAT.md's stable order. So with ``order: token`` MergeKit's output is first copied
with the rows of its vocabulary-indexed tensors put in our token order (matched by token string;
padding rows stay where they are), and that copy is compared with the ordinary matching policy
(weights, config, logits). With ``order: id`` (base and model sources, whose ids are
deterministic) the ids must be identical.

The tokenizers themselves are compared the way a user sees them: loaded with transformers'
AutoTokenizer, the same vocabulary (token strings), the same added tokens with the same options,
and the same tokens for fixed texts. Chat templates must be the same text, or with
``chat_template: render`` (our built-in templates are our own text) render the same
conversations the same way, whitespace aside where ``render_whitespace: ignore``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

import compare
from tokenizer_models import SAMPLE_TEXTS

# tokenizer_config.json keys transformers adds on its own when it saves a loaded tokenizer
CONFIG_NOISE = {"is_local", "local_files_only", "added_tokens_decoder", "chat_template"}
TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "tokenizer.model",
                   "special_tokens_map.json"}
CONVERSATIONS = [
    [{"role": "user", "content": "Hi there "}, {"role": "assistant", "content": " Hello!"},
     {"role": "user", "content": "Bye"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Yo"}],
]


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def token_permutation(ours: Path, theirs: Path) -> tuple[list[int] | None, list[str]]:
    """For each of our token ids, MergeKit's id of the same token string."""
    vo, vt = load_tokenizer(ours).get_vocab(), load_tokenizer(theirs).get_vocab()
    problems = []
    if set(vo) != set(vt):
        problems.append(f"vocabularies differ: only ours {sorted(set(vo) - set(vt))[:10]}, only MergeKit's "
                        f"{sorted(set(vt) - set(vo))[:10]}")
        return None, problems
    perm = [0] * len(vo)
    for token, i in vo.items():
        if i >= len(perm):
            problems.append(f"our token {token!r} has id {i}, past the {len(perm)} tokens")
            return None, problems
        perm[i] = vt[token]
    return perm, problems


def vocabulary_tensor_names(out_dir: Path, rows: int) -> list[str]:
    """Tensors whose dimension 0 indexes the vocabulary (embeddings and output head)."""
    shapes = {}
    for name, f in compare.weight_files(out_dir).items():
        shapes[name] = compare._read_header(f)[name]["shape"]
    return [n for n, s in shapes.items()
            if s and s[0] == rows and ("embed_tokens" in n or "lm_head" in n or n.endswith("wte.weight"))]


def permuted_copy(theirs: Path, perm: list[int], dest: Path) -> Path:
    """MergeKit's output with its vocabulary rows in our token order (only model.safetensors outputs)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(theirs, dest)
    rows = json.loads((theirs / "config.json").read_text())["vocab_size"]
    tensors = compare.load_tensors(theirs)
    index = torch.arange(rows)
    index[: len(perm)] = torch.tensor(perm)
    for name in vocabulary_tensor_names(theirs, rows):
        tensors[name] = tensors[name].index_select(0, index).contiguous()
    for f in dest.glob("*.safetensors"):
        f.unlink()
    (dest / "model.safetensors.index.json").unlink(missing_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(dest / "model.safetensors"),
              metadata={"format": "pt"})
    return dest


def same_ids(ours: Path, theirs: Path) -> list[str]:
    vo, vt = load_tokenizer(ours).get_vocab(), load_tokenizer(theirs).get_vocab()
    if vo == vt:
        return []
    moved = sorted(t for t in set(vo) & set(vt) if vo[t] != vt[t])
    return [f"token ids differ from MergeKit's ({len(moved)} tokens moved, e.g. {moved[:5]}; only ours "
            f"{sorted(set(vo) - set(vt))[:5]}, only MergeKit's {sorted(set(vt) - set(vo))[:5]})"]


def _added(tok) -> dict[str, tuple]:
    return {a.content: (a.special, a.normalized, a.lstrip, a.rstrip, a.single_word)
            for a in tok.added_tokens_decoder.values()}


def _render(template: str, conversation: list[dict], generation: bool) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    out, _ = render_jinja_template(conversations=[conversation], chat_template=template,
                                   add_generation_prompt=generation, bos_token="<s>", eos_token="</s>")
    return out[0]


def compare_chat_templates(ours: Path, theirs: Path, mode: str) -> list[str]:
    fo, ft = ours / "chat_template.jinja", theirs / "chat_template.jinja"
    if fo.exists() != ft.exists():
        return [f"chat_template.jinja present in ours: {fo.exists()}, in MergeKit's: {ft.exists()}"]
    if not fo.exists():
        return []
    to, tt = fo.read_text(encoding="utf-8"), ft.read_text(encoding="utf-8")
    if mode == "text":
        return [] if to == tt else ["chat_template.jinja differs from MergeKit's"]
    problems = []
    for conv in CONVERSATIONS:
        for gen in (False, True):
            ro, rt = _render(to, conv, gen), _render(tt, conv, gen)
            if mode == "render_ignore_whitespace":
                ro, rt = re.sub(r"\s+", "", ro), re.sub(r"\s+", "", rt)
            if ro != rt:
                problems.append(f"chat template renders {ro!r}, MergeKit's {rt!r}")
    return problems


def compare_tokenizers(ours: Path, theirs: Path, spec: dict) -> list[str]:
    problems = []
    so = {p.name for p in ours.iterdir()} & TOKENIZER_FILES
    st = {p.name for p in theirs.iterdir()} & TOKENIZER_FILES
    if so != st:
        problems.append(f"tokenizer files differ: ours {sorted(so)}, MergeKit's {sorted(st)}")
    co = json.loads((ours / "tokenizer_config.json").read_text())
    ct = json.loads((theirs / "tokenizer_config.json").read_text())
    for k in sorted((set(co) | set(ct)) - CONFIG_NOISE):
        if co.get(k, "<absent>") != ct.get(k, "<absent>"):
            problems.append(f"tokenizer_config.json {k}: ours {co.get(k, '<absent>')!r}, MergeKit's "
                            f"{ct.get(k, '<absent>')!r}")
    try:
        to, tt = load_tokenizer(ours), load_tokenizer(theirs)
    except Exception as e:  # noqa: BLE001
        return problems + [f"AutoTokenizer cannot load a tokenizer: {type(e).__name__}: {e}"]
    if len(to) != len(tt):
        problems.append(f"{len(to)} tokens (ours) vs {len(tt)} (MergeKit)")
    ao, at = _added(to), _added(tt)
    if ao != at:
        diff = sorted(k for k in set(ao) | set(at) if ao.get(k) != at.get(k))
        problems.append(f"added tokens differ: {[(k, ao.get(k), at.get(k)) for k in diff[:5]]}")
    for text in SAMPLE_TEXTS + list(spec.get("texts") or []):
        eo = to.convert_ids_to_tokens(to(text)["input_ids"])
        et = tt.convert_ids_to_tokens(tt(text)["input_ids"])
        if eo != et:
            problems.append(f"{text!r} encodes to {eo} (ours) vs {et} (MergeKit)")
        if to.decode(to(text)["input_ids"]) != tt.decode(tt(text)["input_ids"]):
            problems.append(f"{text!r} does not decode like MergeKit's")
    problems += compare_chat_templates(ours, theirs, spec.get("chat_template", "text"))
    return problems


def compare_side_files(ours: Path, theirs: Path, recipe_text: str, model_card: bool = True) -> list[str]:
    """compare.compare_side_files for outputs whose tokenizer is written fresh: the same set of
    files, the tokenizer files compared by compare_tokenizers instead of byte for byte."""
    problems = []
    so, st = compare.side_files(ours), compare.side_files(theirs)
    if so != st:
        problems.append(f"non-weight files differ: only ours {sorted(so - st)}, only MergeKit {sorted(st - so)}")
    if model_card:
        cfg = ours / "mergekit_config.yml"
        if not cfg.exists() or cfg.read_text(encoding="utf-8") != recipe_text:
            problems.append("ours: mergekit_config.yml is missing or not the recipe verbatim")
        readme = ours / "README.md"
        if not readme.exists():
            problems.append("ours: no README.md")
        else:
            problems += [f"ours: README.md {p}"
                         for p in compare.readme_problems(readme.read_text(encoding="utf-8"), recipe_text)]
    return problems
