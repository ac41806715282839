"""The plan-time memory check end to end: a merge whose method cannot stream (karcher holds every
tensor whole) and whose largest tensor needs more than --max-memory is refused before anything is
written, with the over-budget exit status and a message naming the tensor and the option. The same
budget is enough for a method that streams.

Independent of torch and transformers, so it also runs on its own:
    MERGEFORGE_BIN=build/mergeforge python3 -m pytest --noconftest tests/py/test_memory.py -q
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "models"
EXIT_OVER_BUDGET = 8


def mergeforge_bin() -> Path:
    return Path(os.environ.get("MERGEFORGE_BIN") or REPO / "build" / "mergeforge")


def tensor_shapes(model: Path) -> dict[str, list[int]]:
    with open(model / "model.safetensors", "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def run_merge(tmp_path: Path, method: str, max_memory: str,
              threads: int = 2) -> tuple[subprocess.CompletedProcess, Path]:
    recipe = tmp_path / f"{method}.yml"
    # karcher takes no per-model weight; linear needs one.
    weights = ["    parameters: {weight: 0.6}\n", "    parameters: {weight: 0.4}\n"]
    if method != "linear":
        weights = ["", ""]
    recipe.write_text(
        f"merge_method: {method}\n"
        "models:\n"
        f"  - model: {EXAMPLES / 'tiny-ft-a'}\n" + weights[0] +
        f"  - model: {EXAMPLES / 'tiny-ft-b'}\n" + weights[1] +
        "dtype: float32\n")
    out = tmp_path / f"out-{method}-{max_memory}-j{threads}"
    cmd = [str(mergeforge_bin()), "merge", str(recipe), str(out), "-q", "-j", str(threads),
           "--max-memory", max_memory]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, errors="replace")
    return proc, out


@pytest.fixture(scope="module")
def binary() -> Path:
    p = mergeforge_bin()
    if not p.exists():
        pytest.fail(f"mergeforge binary not found at {p}: build it or point MERGEFORGE_BIN at it",
                    pytrace=False)
    return p


def test_whole_tensor_method_over_budget_is_refused(binary, tmp_path):
    shapes = tensor_shapes(EXAMPLES / "tiny-ft-a")
    # karcher holds each of its two float32 inputs, a result and scratch whole: the largest
    # tensor (128 x 32) alone is 16 KiB per copy, far over 8 KiB.
    assert max(a * b for a, b in (s for s in shapes.values() if len(s) == 2)) * 4 > 8 << 10
    proc, out = run_merge(tmp_path, "karcher", "8K")
    context = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == EXIT_OVER_BUDGET, context
    assert "--max-memory" in proc.stderr, context
    named = re.findall(r"`([^`]+)`", proc.stderr)
    assert any(name in shapes for name in named), f"no tensor named\n{context}"
    for marker in ("terminate called", "what():", "Assertion", "Segmentation fault"):
        assert marker not in proc.stderr, context
    lines = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("warning:")]
    assert lines and lines[0].startswith("mergeforge: ") and len(lines) <= 5, context
    # Refused before anything was written: no output and no hidden partial directory.
    assert not out.exists(), context
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], context


def test_whole_tensor_method_within_budget_runs(binary, tmp_path):
    proc, out = run_merge(tmp_path, "karcher", "1G")
    assert proc.returncode == 0, proc.stderr
    assert (out / "config.json").is_file()


def test_streaming_method_fits_a_budget_the_whole_tensor_method_does_not(binary, tmp_path):
    # karcher needs 4096 elements x 4 bytes x (2 inputs + result + output) = 64 KiB for the
    # embedding whole. linear streams in chunks of at least 1024 elements, each holding two inputs
    # (as read and converted), scratch, a result and the output bytes: 32 to 40 KiB on one thread,
    # well within 60 KiB.
    proc, out = run_merge(tmp_path, "karcher", "60K", threads=1)
    assert proc.returncode == EXIT_OVER_BUDGET, proc.stderr
    assert not out.exists()
    proc, out = run_merge(tmp_path, "linear", "60K", threads=1)
    assert proc.returncode == 0, proc.stderr
    assert (out / "config.json").is_file()
    # Streaming is checked too: 8 KiB is below the smallest chunks.
    proc, out = run_merge(tmp_path, "linear", "8K", threads=1)
    assert proc.returncode == EXIT_OVER_BUDGET, proc.stderr
    assert "--max-memory" in proc.stderr
    assert not out.exists()
