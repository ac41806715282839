"""Vocabulary merging beyond the MergeKit comparisons of tests/cases/tokenizer_*.yaml: `mergeforge plan`
output, the union's documented stable order, the built-in chat templates against MergeKit's, the
--no-copy-tokenizer rules, and a check that the permuted comparison notices misplaced rows."""

from __future__ import annotations

import importlib.resources
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import compare
import mergekit_runner
import vocab_compare
from conftest import require_binary

UNION = """\
merge_method: linear
base_model: {t}/bpe/base
models:
  - model: {t}/bpe/base
    parameters: {{weight: 0.4}}
  - model: {t}/bpe/chat
    parameters: {{weight: 0.3}}
  - model: {t}/bpe/other
    parameters: {{weight: 0.3}}
{extra}
dtype: float32
"""


def recipe(tmp_path: Path, tok_models_root: Path, extra: str = "tokenizer_source: union", name="r.yml") -> Path:
    p = tmp_path / name
    p.write_text(UNION.format(t=tok_models_root, extra=extra), encoding="utf-8")
    return p


def run(binary: Path, *args) -> subprocess.CompletedProcess:
    require_binary(binary)
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_plan_shows_the_output_vocabulary(mergeforge_bin, tok_models_root, tmp_path):
    proc = run(mergeforge_bin, "plan", recipe(tmp_path, tok_models_root))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^vocab: +163 tokens \(union\), 163 rows", proc.stdout, re.M), proc.stdout
    lacks = re.findall(r"bpe/(\w+)  (?:\(config donor\)  )?\(lacks (\d+) of the output's tokens\)", proc.stdout)
    assert dict(lacks) == {"base": "63", "chat": "61", "other": "52"}, proc.stdout

    padded = recipe(tmp_path, tok_models_root, "tokenizer: {source: base, pad_to_multiple_of: 64}", "p.yml")
    proc = run(mergeforge_bin, "plan", padded)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^vocab: +100 tokens \(base\), 128 rows", proc.stdout, re.M), proc.stdout

    plain = recipe(tmp_path, tok_models_root, "", "plain.yml")
    proc = run(mergeforge_bin, "plan", plain)
    assert proc.returncode != 0 and "tokenizer_source: base" in proc.stderr
    proc = run(mergeforge_bin, "plan", plain, "--unsafe-truncate-embeddings")
    assert proc.returncode == 0, proc.stderr
    assert "vocab:" not in proc.stdout
    assert proc.stdout.count("--unsafe-truncate-embeddings") == 2, proc.stdout  # a warning per tensor


def test_union_order_is_stable_and_documented(mergeforge_bin, tok_models_root, tmp_path):
    r = recipe(tmp_path, tok_models_root)
    outs = []
    for i, threads in enumerate((1, 3)):
        out = tmp_path / f"out{i}"
        proc = run(mergeforge_bin, "merge", r, out, "-q", "-j", threads)
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    assert (outs[0] / "tokenizer.json").read_bytes() == (outs[1] / "tokenizer.json").read_bytes()
    assert compare.identical_bytes(outs[0], outs[1]) == []

    ids = vocab_compare.load_tokenizer(outs[0]).get_vocab()
    source = {m: json.loads((tok_models_root / "bpe" / m / "tokenizer.json").read_text()) for m in ("base", "other",
                                                                                                    "chat")}
    base_vocab = source["base"]["model"]["vocab"]
    # The base keeps its ids (its <|reserved|> at id 100 is past vocab_size 100 and dropped).
    assert all(ids[t] == i for t, i in base_vocab.items())
    assert "<|reserved|>" not in ids
    # Then chat's ordinary tokens (none: it shares the base's BPE), then other's, in their id order.
    others = sorted((i, t) for t, i in source["other"]["model"]["vocab"].items() if t not in base_vocab)
    assert [ids[t] for _, t in others] == list(range(100, 100 + len(others)))
    # Then the added tokens, model by model (chat before other), each model's in id order; <extra> is
    # past other's vocab_size and dropped.
    added = ["<|im_start|>", "<|im_end|>", "<tool>"]
    assert [ids[t] for t in added] == list(range(100 + len(others), 100 + len(others) + 3))
    assert "<extra>" not in ids and len(ids) == 100 + len(others) + 3


def _mergekit_template(name: str) -> str:
    from mergekit._data import chat_templates

    return importlib.resources.files(chat_templates).joinpath(name + ".jinja").read_text()


@pytest.mark.parametrize("name", ["chatml", "llama3", "mistral", "alpaca", "exaone"])
def test_builtin_chat_templates_behave_like_mergekits(name, mergeforge_bin, tok_models_root, tmp_path):
    r = recipe(tmp_path, tok_models_root, f"tokenizer_source: base\nchat_template: {name}")
    out = tmp_path / "out"
    proc = run(mergeforge_bin, "merge", r, out, "-q")
    assert proc.returncode == 0, proc.stderr
    ours = (out / "chat_template.jinja").read_text(encoding="utf-8")
    assert ours != _mergekit_template(name)  # our own text
    for conv in vocab_compare.CONVERSATIONS:
        for gen in (False, True):
            a = vocab_compare._render(ours, conv, gen)
            b = vocab_compare._render(_mergekit_template(name), conv, gen)
            if name == "exaone":
                # MergeKit's indented template renders its indentation too (docs/COMPATIBILITY.md)
                b_clean = re.sub(r"\s+", "", b)
                assert re.sub(r"\s+", "", a) == b_clean
                assert not a.startswith(" ") and "\n\n" not in a
            elif name == "alpaca":
                # The same, except: no leading blank line without a system message, and a blank line
                # before the generation prompt (docs/COMPATIBILITY.md)
                if conv[0]["role"] != "system":
                    b = b.removeprefix("\n\n")
                if gen and conv[-1]["role"] != "assistant":
                    b = b.replace("### Response:\n", "\n\n### Response:\n")
                    b = b.replace("\n\n\n\n### Response:\n", "\n\n### Response:\n")
                assert a == b
            else:
                assert a == b
    # transformers reads it back from chat_template.jinja
    tok = vocab_compare.load_tokenizer(out)
    assert tok.chat_template == ours


def test_no_copy_tokenizer(mergeforge_bin, tok_models_root, models_root, tmp_path):
    # A tokenizer section writes the tokenizer regardless (as MergeKit does).
    out = tmp_path / "section"
    proc = run(mergeforge_bin, "merge", recipe(tmp_path, tok_models_root), out, "-q", "--no-copy-tokenizer")
    assert proc.returncode == 0, proc.stderr
    assert (out / "tokenizer.json").exists()
    # A chat_template alone follows --no-copy-tokenizer: nothing is written.
    r = tmp_path / "ct.yml"
    r.write_text(f"merge_method: linear\nmodels:\n  - model: {models_root}/llama/ft1\n    parameters: {{weight: 1}}\n"
                 f"  - model: {models_root}/llama/ft2\n    parameters: {{weight: 1}}\nchat_template: chatml\n")
    out = tmp_path / "ct"
    proc = run(mergeforge_bin, "merge", r, out, "-q", "--no-copy-tokenizer")
    assert proc.returncode == 0, proc.stderr
    assert not {p.name for p in out.iterdir()} & vocab_compare.TOKENIZER_FILES
    out = tmp_path / "ct-copy"
    proc = run(mergeforge_bin, "merge", r, out, "-q")
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} >= {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}
    assert not (out / "generation_config.json").exists()


def test_permuted_comparison_notices_misplaced_rows(variables, cache_dir, tmp_path):
    """The harness: MergeKit's union output, put in its own token order, matches itself; with two
    token rows swapped it does not."""
    from cases import CASES_DIR, load_case

    case = load_case(CASES_DIR / "tokenizer_union_linear.yaml")
    theirs = mergekit_runner.run_mergekit(case.recipe(variables), case.options, cache_dir)
    perm, problems = vocab_compare.token_permutation(theirs, theirs)
    assert problems == [] and perm == list(range(len(perm)))
    same = vocab_compare.permuted_copy(theirs, perm, tmp_path / "same")
    policy = compare.choose_policy(yaml.safe_load(case.recipe(variables)))
    assert compare.compare_weights(same, theirs, policy).ok
    swapped = list(perm)
    swapped[120], swapped[121] = swapped[121], swapped[120]
    bad = vocab_compare.permuted_copy(theirs, swapped, tmp_path / "swapped")
    cmp = compare.compare_weights(bad, theirs, policy)
    assert not cmp.ok
    assert {t.name for t in cmp.tensors if not t.ok} == {"model.embed_tokens.weight", "lm_head.weight"}
    # and the tokenizer comparison notices a different tokenizer
    assert vocab_compare.compare_tokenizers(theirs, tok_dir(variables, "bpe/base"), {}) != []


def tok_dir(variables: dict, name: str) -> Path:
    return Path(variables["tok_models"]) / name
