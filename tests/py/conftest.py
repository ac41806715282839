"""Fixtures for the end-to-end suite.

Environment:
  MERGEFORGE_BIN          the CLI under test (default <repo>/build/mergeforge)
  MERGEFORGE_TEST_CACHE   generated models and cached MergeKit outputs
                          (default <repo>/build/test-cache)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compare  # noqa: E402
import extra_models  # noqa: E402
import models  # noqa: E402
import tokenizer_models  # noqa: E402
from cases import REPO  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:mergekit.*")
    # tiny tensors: more threads only add overhead; keep the suite's own runs predictable
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    d = models.default_cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def models_root(cache_dir) -> Path:
    return models.ensure_models(cache_dir)


@pytest.fixture(scope="session")
def tok_models_root(cache_dir) -> Path:
    return tokenizer_models.ensure(cache_dir)


@pytest.fixture(scope="session")
def extra_models_root(cache_dir) -> Path:
    return extra_models.ensure(cache_dir)


@pytest.fixture(scope="session")
def variables(models_root, tok_models_root, extra_models_root) -> dict[str, str]:
    return {"models": str(models_root), "tok_models": str(tok_models_root),
            "extra_models": str(extra_models_root), "repo": str(REPO)}


def mergeforge_path() -> Path:
    return Path(os.environ.get("MERGEFORGE_BIN") or REPO / "build" / "mergeforge")


@pytest.fixture(scope="session")
def mergeforge_bin() -> Path:
    """The CLI under test; a test that runs it fails (not skips) when it is missing."""
    return mergeforge_path()


def require_binary(p: Path) -> None:
    if not p.exists():
        pytest.fail(
            f"mergeforge binary not found at {p}: build it (cmake -B build && cmake --build build) "
            "or point MERGEFORGE_BIN at it",
            pytrace=False,
        )
    if not os.access(p, os.X_OK):
        pytest.fail(f"mergeforge binary at {p} is not executable", pytrace=False)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = compare.SUMMARY.lines()
    if not lines:
        return
    terminalreporter.section("deviation from MergeKit per method (ours vs MergeKit, per tensor maxima)")
    for line in lines:
        terminalreporter.write_line(line)
    try:
        out = models.default_cache_dir() / "e2e-deviations.json"
        out.write_text(json.dumps(compare.SUMMARY.to_json(), indent=1, default=str))
        terminalreporter.write_line(f"per-tensor details: {out}")
    except OSError:
        pass
