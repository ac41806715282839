"""Data-driven end-to-end cases: tests/cases/*.yaml.

A case file holds:

  description: one line
  recipe: |            # a MergeKit YAML recipe, written to disk verbatim after substitution
    merge_method: ...
    base_model: ${models}/llama/base
  options:             # optional, command-line options for both tools
    random_seed: 42
    out_shard_size: 100k
    threads: 2         # mergeforge -j
  expect:
    compare: mergekit | stats | fusion_stats | error
    ...                # see test_e2e.py for the keys each mode reads

Placeholders: ${models} (the generated model set), ${tok_models} (the models with differing
tokenizers, tokenizer_models.py), ${extra_models} (extra_models.py: a Granite family with a tensor some
fine-tunes lack, a Llama with a 1.1M-element embedding), ${repo} (the repository root).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = REPO / "tests" / "cases"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

KNOWN_EXPECT_KEYS = {
    "compare", "policy", "mergekit_overrides", "config", "config_ignore", "tensors_present",
    "tensors_absent", "files_present", "files_absent", "sharded", "logits", "logits_atol",
    "stats", "seeds", "error", "ignore_tensors", "mergekit_lenient_config", "tokenizer",
    "fusion", "warnings", "tensors_equal",
}


@dataclass
class Case:
    name: str
    path: Path
    description: str
    recipe_template: str
    options: dict = field(default_factory=dict)
    expect: dict = field(default_factory=dict)

    def recipe(self, variables: dict[str, str]) -> str:
        return substitute(self.recipe_template, variables)

    def expect_value(self, key: str, variables: dict[str, str], default: Any = None) -> Any:
        return substitute_tree(self.expect.get(key, default), variables)


def substitute(text: str, variables: dict[str, str]) -> str:
    def repl(m: re.Match) -> str:
        if m.group(1) not in variables:
            raise KeyError(f"unknown placeholder ${{{m.group(1)}}}")
        return str(variables[m.group(1)])

    return _PLACEHOLDER.sub(repl, text)


def substitute_tree(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return substitute(value, variables)
    if isinstance(value, list):
        return [substitute_tree(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute_tree(v, variables) for k, v in value.items()}
    return value


def load_case(path: Path) -> Case:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "recipe" not in data:
        raise ValueError(f"{path}: a case needs a `recipe:` block")
    expect = data.get("expect") or {"compare": "mergekit"}
    unknown = set(expect) - KNOWN_EXPECT_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown expect keys {sorted(unknown)}")
    unknown_top = set(data) - {"description", "recipe", "options", "expect"}
    if unknown_top:
        raise ValueError(f"{path}: unknown keys {sorted(unknown_top)}")
    return Case(
        name=path.stem,
        path=path,
        description=str(data.get("description", "")),
        recipe_template=data["recipe"],
        options=dict(data.get("options") or {}),
        expect=dict(expect),
    )


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    return [load_case(p) for p in sorted(Path(directory).glob("*.yaml"))]
