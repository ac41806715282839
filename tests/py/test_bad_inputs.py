"""The bad-input matrix: every file in tests/bad_inputs/ is one defect class. Each case copies a set of tiny
valid models, damages it as the file says, runs `mergeforge merge recipe.yml out` and checks that the command
fails the documented way: the exit status of the error class, a short message (no stack trace) naming the
file / tensor / YAML line, nothing at the target path, no leftover partial directory, and inputs unchanged.

Independent of torch and transformers (numpy only), so it also runs on its own:
    MERGEFORGE_BIN=build/mergeforge python3 -m pytest --noconftest tests/py/test_bad_inputs.py -q
The file format is described in tests/bad_inputs/README.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

import tiny_models as tm

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = REPO / "tests" / "bad_inputs"
CASES = sorted(CASES_DIR.glob("*.yaml"))

DEFAULT_RECIPE = """\
merge_method: linear
models:
  - model: ${models}/a
    parameters:
      weight: 0.5
  - model: ${models}/b
    parameters:
      weight: 0.5
"""

# What a crash or an unhandled exception prints; none of it may reach a user.
CRASH_MARKERS = ("Traceback", "terminate called", "Assertion", "AddressSanitizer", "runtime error:",
                 "Segmentation fault", "core dumped", "what():")


def mergeforge_bin() -> Path:
    return Path(os.environ.get("MERGEFORGE_BIN") or REPO / "build" / "mergeforge")


@pytest.fixture(scope="session")
def model_set(tmp_path_factory) -> Path:
    """The valid models every case starts from (copied per case before it is damaged)."""
    root = tmp_path_factory.mktemp("bad-input-models")
    tm.write_llama(root / "base", seed=0)
    tm.write_llama(root / "a", seed=1)
    tm.write_llama(root / "b", seed=2)
    tm.write_llama(root / "wide", hidden=16, seed=3)
    tm.write_llama(root / "six", layers=6, seed=4)
    tm.write_llama(root / "sharded", seed=5, shards=2)
    return root


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: mappings merge recursively, null deletes a key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_mutation(models: Path, m: dict) -> None:
    path = models / m["file"]
    if "truncate_to" in m:
        raw = path.read_bytes()
        n = m["truncate_to"]
        path.write_bytes(raw[:n] if n >= 0 else raw[:len(raw) + n])
    elif "write" in m:
        path.write_bytes(m["write"].encode("latin-1"))
    elif "delete" in m:
        path.unlink()
    elif "make_dir" in m:
        path.unlink()
        path.mkdir()
    elif "chmod" in m:
        path.chmod(int(str(m["chmod"]), 8))
    elif "replace" in m:
        raw = path.read_bytes()
        find, repl = m["replace"]["find"].encode("latin-1"), m["replace"]["with"].encode("latin-1")
        assert find in raw, f"{m['file']}: `{m['replace']['find']}` not found"
        path.write_bytes(raw.replace(find, repl, 1))
    elif "json_merge" in m:
        path.write_text(json.dumps(merge_patch(json.loads(path.read_text()), m["json_merge"]), indent=2))
    elif "header_merge" in m:
        header, data = tm.read_safetensors_raw(path)
        tm.write_safetensors_raw(path, merge_patch(header, m["header_merge"]), data)
    elif "header_length" in m:
        raw = bytearray(path.read_bytes())
        raw[:8] = int(m["header_length"]).to_bytes(8, "little")
        path.write_bytes(bytes(raw))
    elif "append" in m:
        with open(path, "ab") as f:
            f.write(b"\0" * int(m["append"]))
    elif "set_value" in m:
        spec = m["set_value"]
        header, data = tm.read_safetensors_raw(path)
        info = header[spec["tensor"]]
        assert info["dtype"] == "F32"
        at = info["data_offsets"][0] + 4 * int(spec.get("index", 0))
        value = np.float32(float(spec["value"])).tobytes()
        tm.write_safetensors_raw(path, header, data[:at] + value + data[at + 4:])
    elif "drop_tensors" in m:
        tensors = tm.read_tensors(path)
        kept = {k: v for k, v in tensors.items() if not re.search(m["drop_tensors"], k)}
        assert len(kept) < len(tensors), f"{m['file']}: nothing matches {m['drop_tensors']}"
        tm.write_safetensors(path, kept, {"format": "pt"})
    elif "add_tensor" in m:
        tensors = dict(tm.read_tensors(path))
        spec = m["add_tensor"]
        tensors[spec["name"]] = np.zeros(spec["shape"], np.float32)
        tm.write_safetensors(path, tensors, {"format": "pt"})
    elif "copy_from" in m:
        shutil.copyfile(models / m["copy_from"], path)
    else:
        raise AssertionError(f"unknown mutation {m}")


def prepare_output(work: Path, kind: str | None, models: Path) -> Path:
    """The target path, after setting up what the case says is there."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    if kind is None:
        return out
    if kind == "input_model":
        return models / "a"
    if kind == "inside_input_model":
        return models / "a" / "merged"
    if kind == "symlink_to_input_model":
        out.symlink_to(models / "a", target_is_directory=True)
        return out
    if kind == "earlier_output_holding_a_model":
        shutil.copytree(models / "a", out)
        shutil.copytree(models / "b", out / "b")
        return out
    if kind == "file":
        out.write_text("a file the user cares about\n")
    elif kind == "nonempty_dir":
        out.mkdir()
        (out / "notes.txt").write_text("not a model\n")
    elif kind == "parent_is_file":
        (work / "parent").write_text("a file\n")
        return work / "parent" / "out"
    elif kind == "readonly_parent":
        parent = work / "readonly"
        parent.mkdir()
        parent.chmod(0o555)
        return parent / "out"
    else:
        raise AssertionError(f"unknown output kind {kind}")
    return out


def unprivileged_prefix() -> list[str] | None:
    """A command prefix under which permission bits apply. Root ignores them (CAP_DAC_OVERRIDE), so as root
    the command runs without the capabilities that bypass file permissions; None when that is impossible."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        probe = subprocess.run(prefix + ["true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if probe.returncode == 0 else None


def expand(text, variables: dict[str, str]) -> str:
    text = str(text)
    for key, value in variables.items():
        text = text.replace("${" + key + "}", value)
    return text


def test_matrix_covers_enough_defect_classes():
    assert len(CASES) >= 30, f"only {len(CASES)} defect classes in {CASES_DIR}"


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_bad_input(case_file: Path, model_set: Path, tmp_path: Path):
    case = yaml.safe_load(case_file.read_text())
    expect = case["expect"]

    prefix: list[str] = []
    if case.get("needs_permissions"):
        p = unprivileged_prefix()
        if p is None:
            pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE (setpriv failed), so file "
                        "permissions cannot make a file unreadable here")
        prefix = p

    models = tmp_path / "models"
    shutil.copytree(model_set, models)
    for m in case.get("mutate", []):
        apply_mutation(models, m)

    work = tmp_path / "work"
    out = prepare_output(work, case.get("output"), models)
    variables = {"models": str(models), "out": str(out)}
    recipe = tmp_path / "recipe.yml"
    recipe.write_text(expand(case.get("recipe", DEFAULT_RECIPE), variables))
    recipe_before = recipe.read_bytes()
    variables["recipe"] = str(recipe)
    recipe_arg = str(recipe)
    recipe_file = case.get("recipe_file")
    if recipe_file == "missing":
        recipe_arg = str(tmp_path / "no-such-recipe.yml")
    elif recipe_file == "directory":
        recipe_arg = str(tmp_path / "recipe-dir.yml")
        Path(recipe_arg).mkdir()
    elif recipe_file == "unreadable":
        recipe.chmod(0)
    elif recipe_file is not None:
        raise AssertionError(f"unknown recipe_file {recipe_file}")
    variables["recipe"] = recipe_arg

    inputs_before = tm.tree_digest(models)
    target_before = tm.tree_digest(out) if out.is_dir() else (out.read_bytes() if out.exists() else None)

    args = [expand(a, variables) for a in case.get("args", [])]
    cmd = prefix + [str(mergeforge_bin()), "merge", recipe_arg, str(out), "-q", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, errors="replace")
    stderr = proc.stderr
    context = f"$ {' '.join(cmd)}\nexit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{stderr}"

    # The documented exit status of the error class.
    assert proc.returncode == expect["exit"], context

    # A short message, not a crash report.
    for marker in CRASH_MARKERS:
        assert marker not in stderr + proc.stdout, context
    message_lines = [l for l in stderr.splitlines() if l.strip() and not l.startswith(("warning:", "note:"))]
    assert len(message_lines) <= 5, f"message too long\n{context}"
    if expect["exit"] != 0:
        assert message_lines and message_lines[0].startswith("mergeforge: "), context
    for part in expect.get("message", []):
        assert expand(part, variables) in stderr, f"message lacks `{expand(part, variables)}`\n{context}"
    if "warning" in expect:
        warnings = [l for l in stderr.splitlines() if l.startswith("warning:")]
        assert any(all(expand(p, variables) in w for p in expect["warning"]) for w in warnings), \
            f"no warning with {expect['warning']}\n{context}"

    # Nothing at the target (or what was there, untouched), and no partial merge left behind.
    if expect["exit"] != 0:
        if target_before is None:
            assert not out.exists() and not out.is_symlink(), f"{out} was created\n{context}"
        elif isinstance(target_before, dict):
            assert tm.tree_digest(out) == target_before, f"{out} was modified\n{context}"
        else:
            assert out.read_bytes() == target_before, f"{out} was modified\n{context}"
    else:
        assert (out / "config.json").is_file(), context
    if out.parent.is_dir():
        leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.mergeforge-")]
        assert not leftovers, f"left behind: {leftovers}\n{context}"

    # Inputs are never written to.
    assert tm.tree_digest(models) == inputs_before, f"an input file changed\n{context}"
    recipe.chmod(0o644)
    assert recipe.read_bytes() == recipe_before
