"""The command line as a thin layer over the engine: `plan` accepts every option `merge` accepts and
makes the same checks, so a recipe `plan` accepts does not fail `merge` on an option or the memory
budget, and the other way round."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tiny_models as tm

REPO = Path(__file__).resolve().parents[2]


def mergeforge_bin() -> Path:
    return Path(os.environ.get("MERGEFORGE_BIN") or REPO / "build" / "mergeforge")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(mergeforge_bin()), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    tm.write_llama(root / "a", seed=1)
    tm.write_llama(root / "b", seed=2)
    path = root / "recipe.yml"
    path.write_text(f"merge_method: linear\nmodels:\n  - model: {root / 'a'}\n    parameters: {{weight: 0.5}}\n"
                    f"  - model: {root / 'b'}\n    parameters: {{weight: 0.5}}\n")
    return path


# Every option of `merge` besides the output path, with a value where it takes one.
MERGE_OPTIONS = [
    ["--out-shard-size", "1M"], ["--max-memory", "64M"], ["-j", "1"], ["--random-seed", "3"], ["--strict"],
    ["--resume"], ["--no-copy-tokenizer"], ["--no-write-model-card"], ["--safe-serialization"],
    ["--allow-crimes"], ["--unsafe-truncate-embeddings"], ["-v"], ["-q"], ["--device", "cpu"], ["--cuda"],
    ["--lazy-unpickle"], ["--low-cpu-memory"], ["--trust-remote-code"], ["--clone-tensors"], ["--async-write"],
    ["--write-threads", "2"], ["--multi-gpu"], ["--read-to-gpu"], ["--gpu-rich"],
    ["--transformers-cache", "/tmp"], ["--lora-merge-cache", "/tmp"], ["--lora-merge-dtype", "float16"],
]


@pytest.mark.parametrize("option", MERGE_OPTIONS, ids=[o[0] for o in MERGE_OPTIONS])
def test_plan_accepts_every_merge_option(recipe: Path, option: list[str], tmp_path: Path):
    planned = run("plan", str(recipe), *option)
    assert planned.returncode == 0, planned.stderr
    merged = run("merge", str(recipe), str(tmp_path / "out"), *option)
    assert merged.returncode == 0, merged.stderr


@pytest.mark.parametrize("args,status", [
    (["--max-memory", "1K"], 8),          # a tensor cannot fit: refused while planning, by both
    (["--max-memory", "inf"], 2),
    (["--out-shard-size", "1e30"], 2),
    (["--no-safe-serialization"], 6),
])
def test_plan_and_merge_refuse_alike(recipe: Path, args: list[str], status: int, tmp_path: Path):
    planned = run("plan", str(recipe), *args)
    merged = run("merge", str(recipe), str(tmp_path / "out"), *args)
    assert planned.returncode == status, planned.stderr
    assert merged.returncode == status, merged.stderr
    assert planned.stderr.splitlines()[0] == merged.stderr.splitlines()[0]
    assert not (tmp_path / "out").exists()
