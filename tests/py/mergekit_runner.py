"""Run MergeKit in-process and cache its outputs.

A MergeKit output is keyed by sha256 of (recipe text after placeholder substitution,
the option dict, the MergeKit version, the model generator version), so a rerun of the
suite does not merge again. The float64 reference used by the half-precision matching
policy is the same recipe with ``dtype: float64`` and ``out_dtype: float64``, cached the
same way.

MergeKit seeds through ``transformers.trainer_utils.set_seed(options.random_seed)`` at
the start of ``run_merge`` (python ``random``, numpy and torch's global generator); with
no seed the random methods are not reproducible, so random recipes always pass one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import yaml

from models import GENERATOR_VERSION

_MERGEKIT_VERSION = None


def mergekit_version() -> str:
    global _MERGEKIT_VERSION
    if _MERGEKIT_VERSION is None:
        from importlib.metadata import version

        _MERGEKIT_VERSION = version("mergekit")
    return _MERGEKIT_VERSION


def parse_size(value: Any) -> int:
    """Shard size as the CLI reads it: an integer, or k/m/b suffixes (decimal)."""
    if isinstance(value, int):
        return value
    s = str(value).strip().lower()
    mult = {"k": 10**3, "m": 10**6, "b": 10**9}.get(s[-1:], 1)
    if mult != 1:
        s = s[:-1]
    return int(float(s) * mult)


def options_for_mergekit(options: Mapping[str, Any] | None) -> dict:
    """Translate a case's `options:` block to MergeOptions keyword arguments."""
    out: dict = {}
    for k, v in (options or {}).items():
        if k == "random_seed":
            out["random_seed"] = int(v)
        elif k == "out_shard_size":
            out["out_shard_size"] = parse_size(v)
        elif k in ("threads", "num_threads"):
            continue  # no effect on the numbers
        elif k in ("copy_tokenizer", "write_model_card", "allow_crimes", "unsafe_truncate_embeddings"):
            out[k] = bool(v)
        else:
            raise ValueError(f"unknown case option {k!r}")
    return out


def float64_recipe(recipe_text: str) -> str:
    """The same recipe computed and saved in float64 (the reference for half dtypes)."""
    data = yaml.safe_load(recipe_text)
    data["dtype"] = "float64"
    data["out_dtype"] = "float64"
    return yaml.safe_dump(data, sort_keys=False)


def cache_key(recipe_text: str, options: Mapping[str, Any] | None, salt: str = "") -> str:
    payload = json.dumps(
        {
            "recipe": recipe_text,
            "salt": salt,
            "options": options_for_mergekit(options),
            "mergekit": mergekit_version(),
            "models": GENERATOR_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def run_mergekit(recipe_text: str, options: Mapping[str, Any] | None, cache_dir: Path,
                 salt: str = "", lenient_config: bool = False) -> Path:
    """Merge with MergeKit (or reuse the cached output) and return the output directory.

    salt: extra cache-key material, e.g. a hash of input files that are not generated
    (relative paths in the recipe are resolved against the current directory).
    lenient_config: let MergeKit save an output config that transformers' validation
    refuses (a frankenmerge of a model whose config has per-layer `layer_types`: MergeKit
    keeps the old list, transformers refuses it at save time and MergeKit stops after the
    weights). With this, the config is saved unvalidated, which is what MergeKit means to
    write, and the rest of the output (card, tokenizer) follows."""
    key = cache_key(recipe_text, options, salt + ("|lenient-config" if lenient_config else ""))
    out_root = Path(cache_dir) / "mergekit-out"
    out = out_root / key[:24]
    done = out_root / f"{key[:24]}.done"
    if done.exists() and out.is_dir():
        return out
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / f".tmp-{key[:24]}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)

    import torch
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    config = MergeConfiguration.model_validate(yaml.safe_load(recipe_text))
    opts = MergeOptions(quiet=True, **options_for_mergekit(options))
    # MergeKit changes torch's global thread count when num_threads is set; keep ours.
    threads = torch.get_num_threads()
    logging.getLogger("mergekit").setLevel(logging.ERROR)
    sink = io.StringIO()
    patch = contextlib.ExitStack()
    if lenient_config:
        from unittest import mock

        import transformers

        from compare import recipe_models

        # transformers' strict config classes carry their own `validate`: patch each class
        # the output config can have (the donor's)
        for m in recipe_models(yaml.safe_load(recipe_text)):
            cls = type(transformers.AutoConfig.from_pretrained(m))
            patch.enter_context(mock.patch.object(cls, "validate", lambda self: None))
    try:
        with contextlib.redirect_stderr(sink), patch:
            run_merge(config, str(tmp), options=opts, config_source=recipe_text)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(threads)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    done.write_text(json.dumps({"key": key, "options": dict(options or {}), "recipe": recipe_text}))
    return out


def run_mergekit_reference(recipe_text: str, options: Mapping[str, Any] | None, cache_dir: Path,
                           salt: str = "", lenient_config: bool = False) -> Path:
    """MergeKit's output for the recipe recomputed in float64."""
    return run_mergekit(float64_recipe(recipe_text), options, cache_dir, salt, lenient_config)
