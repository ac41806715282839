"""End to end: every tests/cases/*.yaml recipe through mergeforge and through MergeKit.

Modes (a case's `expect.compare`):

mergekit (default)
  Run both tools, then compare per COMPAT.md's matching policy (compare.py): tensor names,
  shapes, saved dtypes, values; config.json; the non-weight files (tokenizer copy, README.md,
  mergekit_config.yml); then load both with transformers and compare logits.
  Optional keys:
    policy: close|ulp|ref         override the automatic choice
    mergekit_overrides: {k: v}    top-level recipe keys changed for MergeKit only, where
                                  COMPAT.md deliberately differs from it (null deletes a key)
    config: {key: value}          values our config.json must hold (dotted keys for nesting)
    config_ignore: [key]          config keys not compared with MergeKit's (documented QUIRKs)
    tensors_present / tensors_absent: [name]
    tensors_equal: {name: model}  our tensor equals that input's, bit for bit (passed through)
    warnings: [text]              our merge's output (stdout + stderr) says each text
    files_present / files_absent: [file]
    ignore_tensors: [name]        tensors not compared with MergeKit (documented QUIRKs)
    mergekit_lenient_config: true MergeKit's output config is saved without transformers'
                                  validation (it writes a config transformers refuses)
    sharded: true|false           whether our output must have an index
    logits: compare|load|none     (default compare; load = ours must load and be finite)
    logits_atol: float
    tokenizer: {order, chat_template, texts}
                                  the output tokenizer is written fresh (a tokenizer section or a
                                  chat_template): compared as transformers loads it instead of byte
                                  for byte (vocab_compare.py). order: id (default; the same token ids
                                  as MergeKit) or token (union: MergeKit's rows are put in our token
                                  order first). chat_template: text (default), render or
                                  render_ignore_whitespace (built-in templates). texts: more texts
                                  to encode with both tokenizers

stats
  Random methods at density < 1. `stats: {base, model, density, weight, rescale, epsilon}`
  describes the single fine-tune merged into its base (epsilon: della's, for the per-rank
  check); or `stats: {base, models: [{model, weight, density}], normalize, epsilon}` two
  fine-tunes merged with sign consensus and `rescale: false` (random_stats.consensus_problems).
  Runs ours twice with the first seed (-j 1 and -j 2: identical bytes), once with the second
  seed (must differ), checks random_stats on ours and, as a check of the harness, on
  MergeKit's output with the first seed.

fusion_stats
  arcee_fusion on tensors above 1e6 elements, whose quantiles come from a random sample.
  `fusion: {base, model}`. Runs ours as stats does (-j 1 / -j 2 identical, another seed
  differs on every sampled tensor and on no other); tensors up to 1e6 elements are compared
  with MergeKit (close policy); on the sampled ones, for ours and for MergeKit: every element
  is the base or the fine-tune, the kept set is a threshold on the importance, and the fraction
  taken from the fine-tune is within `sigmas` (default 5) standard deviations of the fraction
  with the exact quantiles (the standard deviation measured by redrawing the sample;
  fusion_stats.py), and ours within that distance of MergeKit's.

A case whose merge_method `mergeforge methods` does not list fails; `test_methods_match_mergekit`
checks that it lists exactly MergeKit's methods.

error
  `error: {contains: [text], regex: [pattern]}`: mergeforge must exit non-zero, print every
  text (case-insensitive) / match every pattern, and leave no output directory behind.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

import compare
import fusion_stats
import mergekit_runner
import random_stats
import vocab_compare
from cases import REPO, Case, load_cases
from conftest import require_binary
from logits import logits_of, logits_tolerance

CASES = load_cases()
EXAMPLES = sorted((REPO / "examples").glob("*.yml"))
CLI_TIMEOUT_S = 300


# --------------------------------------------------------------------------- helpers


def cli_args(options: dict, threads: int | None = None) -> list[str]:
    args: list[str] = []
    if options.get("random_seed") is not None:
        args += ["--random-seed", str(options["random_seed"])]
    if options.get("out_shard_size") is not None:
        args += ["--out-shard-size", str(options["out_shard_size"])]
    if options.get("copy_tokenizer") is False:
        args += ["--no-copy-tokenizer"]
    if options.get("write_model_card") is False:
        args += ["--no-write-model-card"]
    if options.get("allow_crimes"):
        args += ["--allow-crimes"]
    if options.get("unsafe_truncate_embeddings"):
        args += ["--unsafe-truncate-embeddings"]
    t = threads if threads is not None else options.get("threads")
    if t is not None:
        args += ["-j", str(t)]
    return args


def run_mergeforge(binary: Path, recipe: Path, out: Path, options: dict,
                   threads: int | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    require_binary(binary)
    cmd = [str(binary), "merge", str(recipe), str(out)] + cli_args(options, threads)
    return subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


# stdout + stderr of each successful merge_ours run, by output directory
OUR_OUTPUT: dict[str, str] = {}


def merge_ours(binary: Path, recipe: Path, out: Path, options: dict, threads: int | None = None,
               cwd: Path = REPO) -> Path:
    proc = run_mergeforge(binary, recipe, out, options, threads, cwd)
    OUR_OUTPUT[str(out)] = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(
            f"mergeforge exited with {proc.returncode}\ncommand: {' '.join(proc.args)}\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    if not out.is_dir():
        pytest.fail(f"mergeforge exited 0 but wrote no {out}", pytrace=False)
    return out


_METHODS_CACHE: dict[str, set[str]] = {}


def implemented_methods(binary: Path) -> set[str]:
    """Method names `mergeforge methods` lists (empty when the command fails)."""
    key = str(binary)
    if key not in _METHODS_CACHE:
        names: set[str] = set()
        try:
            proc = subprocess.run([key, "methods"], capture_output=True, text=True, timeout=60)
            if proc.returncode == 0:
                names = {ln.strip() for ln in proc.stdout.splitlines()
                         if ln.strip() and not ln[0].isspace() and " " not in ln.strip()}
        except OSError:
            pass
        _METHODS_CACHE[key] = names
    return _METHODS_CACHE[key]


def apply_overrides(recipe_text: str, overrides: dict | None) -> str:
    if not overrides:
        return recipe_text
    data = yaml.safe_load(recipe_text)
    for k, v in overrides.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    return yaml.safe_dump(data, sort_keys=False)


def dotted_get(d: dict, key: str):
    cur = d
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return "<absent>"
        cur = cur[part]
    return cur


def expected_config_dtype(recipe: dict) -> str | None:
    return compare.normalize_dtype(recipe.get("out_dtype") or recipe.get("dtype"))


def donor_dir(recipe: dict) -> Path | None:
    models = compare.recipe_models(recipe)
    return Path(models[0]) if models else None


def base_dir(recipe: dict) -> Path | None:
    if recipe.get("base_model") and not recipe.get("slices"):
        b = recipe["base_model"]
        return Path(b["model"] if isinstance(b, dict) else b)
    return None


def dir_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for root in paths:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def check_expectations(case: Case, ours: Path, variables: dict, failures: list[str]) -> None:
    ex = lambda k, d=None: case.expect_value(k, variables, d)  # noqa: E731
    names = set(compare.weight_files(ours))
    for n in ex("tensors_present", []) or []:
        if n not in names:
            failures.append(f"ours lacks tensor {n}")
    for n in ex("tensors_absent", []) or []:
        if n in names:
            failures.append(f"ours has tensor {n}, which should be absent")
    files = {p.name for p in ours.iterdir()}
    for f in ex("files_present", []) or []:
        if f not in files:
            failures.append(f"ours lacks file {f}")
    for f in ex("files_absent", []) or []:
        if f in files:
            failures.append(f"ours has file {f}, which should be absent")
    sharded = ex("sharded")
    if sharded is not None:
        has_index = (ours / "model.safetensors.index.json").exists()
        if bool(sharded) != has_index:
            failures.append(f"ours: index present={has_index}, expected sharded={sharded}")
        if sharded and len(list(ours.glob("model-*-of-*.safetensors"))) < 2:
            failures.append("ours: sharded output with fewer than 2 shards")
        for p in ours.glob("model-*.safetensors"):
            if not re.fullmatch(r"model-\d{5}-of-\d{5}\.safetensors", p.name):
                failures.append(f"ours: shard name {p.name} is not model-NNNNN-of-NNNNN.safetensors")
    text = OUR_OUTPUT.get(str(ours), "")
    for w in ex("warnings", []) or []:
        if str(w).lower() not in text.lower():
            failures.append(f"our output does not say {w!r}:\n{text[-2000:]}")
    for n, model in (ex("tensors_equal", {}) or {}).items():
        if n not in names:
            continue  # reported by tensors_present when listed there
        mine = compare.load_tensors(ours, [n])[n]
        theirs = compare.load_tensors(Path(model), [n]).get(n)
        if theirs is None:
            failures.append(f"tensors_equal: {model} has no tensor {n}")
        elif mine.shape != theirs.shape or not torch.equal(mine, theirs.to(mine.dtype)):
            failures.append(f"ours: {n} is not {model}'s tensor passed through")
    cfg = json.loads((ours / "config.json").read_text())
    for k, v in (ex("config", {}) or {}).items():
        got = dotted_get(cfg, k)
        if got != v:
            failures.append(f"ours: config.json {k} = {got!r}, expected {v!r}")


def compare_logits(case_expect: dict, kind: str, ours: Path, theirs: Path | None,
                   failures: list[str], config_fallback: bool = False) -> float | None:
    mode = case_expect.get("logits", "compare")
    if mode == "none":
        return None
    try:
        lo = logits_of(ours)
    except Exception as e:  # noqa: BLE001
        failures.append(f"transformers cannot load our output: {type(e).__name__}: {e}")
        return None
    if not bool(torch.isfinite(lo).all()):
        failures.append("our output gives non-finite logits")
    if mode == "load" or theirs is None:
        return None
    try:
        lt = logits_of(theirs)
    except Exception as e:  # noqa: BLE001
        if not config_fallback:
            failures.append(f"transformers cannot load MergeKit's output: {type(e).__name__}: {e}")
            return None
        lt = logits_of(theirs, config_dir=ours)
    if lo.shape != lt.shape:
        failures.append(f"logits shape {tuple(lo.shape)} (ours) vs {tuple(lt.shape)} (MergeKit)")
        return None
    scale = float(lt.abs().max())
    atol = case_expect.get("logits_atol") or logits_tolerance(kind, scale)
    dev = float((lo - lt).abs().max())
    if not dev <= atol:
        failures.append(f"logits differ from MergeKit's by {dev:.3g} (tolerance {atol:.3g}, |logits| <= {scale:.3g})")
    return dev


def finish(failures: list[str], header: str) -> None:
    if failures:
        pytest.fail(header + "\n" + "\n".join(f"- {f}" for f in failures), pytrace=False)


# --------------------------------------------------------------------------- modes


def compare_case(case: Case, recipe_text: str, recipe_path: Path, mergeforge_bin: Path,
                 variables: dict, cache_dir: Path, tmp_path: Path, salt: str = "",
                 cwd: Path = REPO, monkeypatch=None) -> None:
    recipe = yaml.safe_load(recipe_text)
    ours = merge_ours(mergeforge_bin, recipe_path, tmp_path / "ours", case.options, cwd=cwd)

    mk_text = apply_overrides(recipe_text, case.expect_value("mergekit_overrides", variables))
    options = dict(case.options)
    if monkeypatch is not None:
        monkeypatch.chdir(cwd)  # MergeKit resolves relative model paths against the cwd
    lenient = bool(case.expect.get("mergekit_lenient_config"))
    theirs = mergekit_runner.run_mergekit(mk_text, options, cache_dir, salt, lenient)

    policy = compare.choose_policy(recipe)
    forced = case.expect.get("policy")
    if forced:
        policy.kind = forced
    failures: list[str] = []
    tok_spec = case.expect_value("tokenizer", variables)
    if tok_spec is not None:
        theirs, failures = fresh_tokenizer_checks(ours, theirs, tok_spec, tmp_path / "mergekit-in-our-order")
    if tok_spec is not None and policy.kind == "ref":
        pytest.fail("case design: a tokenizer case needs the close or ulp policy (float32, or linear/slerp in "
                    "half precision): the ref policy reads the inputs' tensors, whose vocabularies differ",
                    pytrace=False)
    ref = None
    if policy.kind == "ref":
        for m in compare.recipe_models(recipe):
            dts = compare.model_dtypes(Path(m))
            if dts != {policy.compute}:
                pytest.fail(f"case design: the float64 reference needs every input stored in "
                            f"{policy.compute}; {m} holds {sorted(dts)}", pytrace=False)
        ref = mergekit_runner.run_mergekit_reference(mk_text, options, cache_dir, salt, lenient)
    selection = None
    if policy.kind == "ref" and (policy.ties or policy.method == "arcee_fusion"):
        try:
            selection = compare.selection_inputs_from_recipe(recipe)
        except ValueError as e:
            pytest.fail(f"case design: {e}", pytrace=False)
    cmp = compare.compare_weights(ours, theirs, policy, ref_dir=ref, base_dir=base_dir(recipe),
                                  ignore=case.expect_value("ignore_tensors", variables, []) or [],
                                  selection=selection)
    if not cmp.ok:
        failures.append("weights differ from MergeKit's:\n" + cmp.report())

    failures += compare.compare_configs(ours, theirs, expected_config_dtype(recipe),
                                        ignore=case.expect_value("config_ignore", variables, []) or [])
    if tok_spec is not None:
        failures += vocab_compare.compare_side_files(ours, theirs, recipe_text,
                                                     model_card=case.options.get("write_model_card", True))
    else:
        failures += compare.compare_side_files(ours, theirs, recipe_text, donor_dir(recipe),
                                               model_card=case.options.get("write_model_card", True))
    check_expectations(case, ours, variables, failures)
    cmp.logits_dev = compare_logits(case.expect, policy.kind, ours, theirs, failures,
                                    config_fallback=lenient)
    compare.SUMMARY.add(case.name, cmp)
    finish(failures, f"{case.name}: {case.description}")


def fresh_tokenizer_checks(ours: Path, theirs: Path, spec: dict, copy_to: Path) -> tuple[Path, list[str]]:
    """Compares the output tokenizers; returns MergeKit's output in our token order (a permuted copy
    for `order: token`) for the weight, config and logits comparisons, and the problems found."""
    failures = [f"tokenizer: {p}" for p in vocab_compare.compare_tokenizers(ours, theirs, spec)]
    if spec.get("order", "id") == "id":
        return theirs, failures + vocab_compare.same_ids(ours, theirs)
    perm, problems = vocab_compare.token_permutation(ours, theirs)
    failures += problems
    return (vocab_compare.permuted_copy(theirs, perm, copy_to) if perm else theirs), failures


def stats_case(case: Case, recipe_text: str, recipe_path: Path, mergeforge_bin: Path,
               variables: dict, cache_dir: Path, tmp_path: Path) -> None:
    st = case.expect_value("stats", variables)
    seeds = case.expect.get("seeds") or [1234, 4321]
    s1, s2 = int(seeds[0]), int(seeds[1])
    failures: list[str] = []
    opts1 = {**case.options, "random_seed": s1}
    a = merge_ours(mergeforge_bin, recipe_path, tmp_path / "ours_seed1_j1", opts1, threads=1)
    b = merge_ours(mergeforge_bin, recipe_path, tmp_path / "ours_seed1_j2", opts1, threads=2)
    c = merge_ours(mergeforge_bin, recipe_path, tmp_path / "ours_seed2", {**case.options, "random_seed": s2})
    differ = compare.identical_bytes(a, b)
    if differ:
        failures.append(f"same seed, -j 1 vs -j 2: {len(differ)} tensors differ, e.g. {differ[:5]}")
    changed = compare.identical_bytes(a, c)
    big = [n for n, t in compare.load_tensors(a).items() if t.numel() >= 256]
    unchanged = [n for n in big if n not in changed]
    if unchanged:
        failures.append(f"seeds {s1} and {s2} give identical tensors: {unchanged[:5]} "
                        f"({len(unchanged)} of {len(big)} tensors with >= 256 elements)")
    base = Path(st["base"])
    epsilon = float(st["epsilon"]) if st.get("epsilon") is not None else None
    sigmas = float(st.get("sigmas", 4.0))
    if st.get("models"):
        def check(out):
            return random_stats.consensus_problems(out, base, st["models"], bool(st["normalize"]),
                                                   epsilon=epsilon, sigmas=sigmas)
    else:
        def check(out):
            return random_stats.sparsified_delta_problems(
                out, base, Path(st["model"]), density=float(st["density"]),
                weight=float(st.get("weight", 1.0)), rescale=bool(st.get("rescale", True)),
                sigmas=sigmas, epsilon=epsilon)
    for label, out in (("ours (seed 1)", a), ("ours (seed 2)", c)):
        probs, summary = check(out)
        failures += [f"{label}: {p}" for p in probs]
    theirs = mergekit_runner.run_mergekit(recipe_text, opts1, cache_dir)
    probs, summary_t = check(theirs)
    if probs:
        failures.append("harness check: MergeKit's own output fails these statistics too, the case "
                        "is wrong: " + "; ".join(probs[:5]))
    recipe = yaml.safe_load(recipe_text)
    failures += compare.layout_problems(a)
    failures += compare.compare_configs(a, theirs, expected_config_dtype(recipe),
                                        ignore=case.expect_value("config_ignore", variables, []) or [])
    failures += compare.compare_side_files(a, theirs, recipe_text, donor_dir(recipe))
    names_o, names_t = set(compare.weight_files(a)), set(compare.weight_files(theirs))
    if names_o != names_t:
        failures.append(f"tensor names differ: only ours {sorted(names_o - names_t)}, "
                        f"only MergeKit {sorted(names_t - names_o)}")
    dt_o, dt_t = compare.saved_dtypes(a), compare.saved_dtypes(theirs)
    for n in sorted(names_o & names_t):
        if dt_o[n] != dt_t[n]:
            failures.append(f"{n}: saved dtype {dt_o[n]} (ours) vs {dt_t[n]} (MergeKit)")
    check_expectations(case, a, variables, failures)
    compare_logits({"logits": "load"}, "close", a, None, failures)
    finish(failures, f"{case.name}: {case.description}")


def fusion_stats_case(case: Case, recipe_text: str, recipe_path: Path, mergeforge_bin: Path,
                      variables: dict, cache_dir: Path, tmp_path: Path) -> None:
    spec = case.expect_value("fusion", variables) or {}
    seeds = case.expect.get("seeds") or [1234, 4321]
    s1, s2 = int(seeds[0]), int(seeds[1])
    sigmas = float(spec.get("sigmas", 5.0))
    failures: list[str] = []
    opts1 = {**case.options, "random_seed": s1}
    a = merge_ours(mergeforge_bin, recipe_path, tmp_path / "ours_seed1_j1", opts1, threads=1)
    b = merge_ours(mergeforge_bin, recipe_path, tmp_path / "ours_seed1_j2", opts1, threads=2)
    c = merge_ours(mergeforge_bin, recipe_path, tmp_path / "ours_seed2", {**case.options, "random_seed": s2})
    differ = compare.identical_bytes(a, b)
    if differ:
        failures.append(f"same seed, -j 1 vs -j 2: {len(differ)} tensors differ, e.g. {differ[:5]}")
    ta = compare.load_tensors(a)
    large = sorted(n for n, t in ta.items() if t.numel() > fusion_stats.SAMPLE_SIZE)
    if not large:
        pytest.fail(f"case design: no tensor above {fusion_stats.SAMPLE_SIZE} elements", pytrace=False)
    changed = set(compare.identical_bytes(a, c))
    same = [n for n in large if n not in changed]
    if same:
        failures.append(f"seeds {s1} and {s2} give identical sampled tensors: {same}")
    small_changed = sorted(changed - set(large))
    if small_changed:
        failures.append(f"seeds {s1} and {s2} change tensors of at most {fusion_stats.SAMPLE_SIZE} elements "
                        f"(exact quantiles, no randomness expected): {small_changed[:5]}")

    theirs = mergekit_runner.run_mergekit(recipe_text, opts1, cache_dir)
    recipe = yaml.safe_load(recipe_text)
    policy = compare.choose_policy(recipe)
    if case.expect.get("policy"):
        policy.kind = case.expect["policy"]
    ref_dir = (mergekit_runner.run_mergekit_reference(recipe_text, opts1, cache_dir)
               if policy.kind == "ref" else None)
    cmp = compare.compare_weights(a, theirs, policy, ref_dir=ref_dir, base_dir=base_dir(recipe), ignore=large)
    if not cmp.ok:
        failures.append("tensors up to the sample size differ from MergeKit's:\n" + cmp.report())
    names_t = set(compare.weight_files(theirs))
    if not set(large) <= names_t:
        failures.append(f"MergeKit's output lacks {sorted(set(large) - names_t)}")

    base_t = compare.load_tensors(Path(spec["base"]), large)
    model_t = compare.load_tensors(Path(spec["model"]), large)
    tc = compare.load_tensors(c, large)
    tt = compare.load_tensors(theirs, [n for n in large if n in names_t])
    dt_o, dt_t = compare.saved_dtypes(a), compare.saved_dtypes(theirs)
    for n in large:
        if n in dt_t and dt_o[n] != dt_t[n]:
            failures.append(f"{n}: saved dtype {dt_o[n]} (ours) vs {dt_t[n]} (MergeKit)")
        ref = fusion_stats.Reference(base_t[n], model_t[n])
        fractions = {}
        for label, t in ((f"ours (seed {s1})", ta[n]), (f"ours (seed {s2})", tc[n])):
            probs, fractions[label] = fusion_stats.taken_problems(
                n, t, base_t[n], model_t[n], ref, sigmas, threshold_rtol=float(spec.get("threshold_rtol", 1e-5)))
            failures += [f"{label}: {p}" for p in probs]
        if n in tt:
            probs, f_mk = fusion_stats.taken_problems(n, tt[n], base_t[n], model_t[n], ref, sigmas)
            if probs:
                failures.append("harness check: MergeKit's own output fails these statistics, the case is "
                                "wrong: " + "; ".join(probs))
            f_ours = fractions[f"ours (seed {s1})"]
            if abs(f_ours - f_mk) > fusion_stats.sigma_bound(ref, sigmas):
                failures.append(f"{n}: fraction taken from the fine-tune {f_ours:.6f} (ours) vs {f_mk:.6f} "
                                f"(MergeKit, same seed number): more than {sigmas} sigma * sqrt(2) = "
                                f"{fusion_stats.sigma_bound(ref, sigmas):.2e} apart")
    failures += compare.compare_configs(a, theirs, expected_config_dtype(recipe),
                                        ignore=case.expect_value("config_ignore", variables, []) or [])
    failures += compare.compare_side_files(a, theirs, recipe_text, donor_dir(recipe))
    check_expectations(case, a, variables, failures)
    compare.SUMMARY.add(case.name, cmp)
    finish(failures, f"{case.name}: {case.description}")


def error_case(case: Case, recipe_text: str, recipe_path: Path, mergeforge_bin: Path,
               variables: dict, tmp_path: Path) -> None:
    spec = case.expect_value("error", variables) or {}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    out = run_dir / "out"
    proc = run_mergeforge(mergeforge_bin, recipe_path, out, case.options)
    text = proc.stdout + proc.stderr
    failures: list[str] = []
    if proc.returncode == 0:
        failures.append("mergeforge exited 0 on a broken recipe")
    elif proc.returncode < 0:
        failures.append(f"mergeforge died from signal {-proc.returncode}")
    for s in spec.get("contains", []) or []:
        if str(s).lower() not in text.lower():
            failures.append(f"message does not mention {s!r}")
    for pat in spec.get("regex", []) or []:
        if not re.search(pat, text, flags=re.IGNORECASE | re.MULTILINE):
            failures.append(f"message does not match /{pat}/")
    left = sorted(p.name for p in run_dir.iterdir())
    if left:
        failures.append(f"output left behind after the failure: {left}")
    finish(failures, f"{case.name}: {case.description}\nexit status {proc.returncode}\n"
                     f"output:\n{text[-3000:]}")


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, mergeforge_bin, variables, cache_dir, tmp_path):
    recipe_text = case.recipe(variables)
    recipe_path = tmp_path / "recipe.yml"
    recipe_path.write_text(recipe_text, encoding="utf-8")
    mode = case.expect.get("compare", "mergekit")
    if mode != "error":
        require_binary(mergeforge_bin)
        method = yaml.safe_load(recipe_text)["merge_method"]
        known = implemented_methods(mergeforge_bin)
        if method not in known:
            pytest.fail(f"{case.name}: merge_method {method} is not listed by `mergeforge methods` "
                        f"(it lists {len(known)}: {', '.join(sorted(known))})", pytrace=False)
    if mode == "error":
        error_case(case, recipe_text, recipe_path, mergeforge_bin, variables, tmp_path)
    elif mode == "stats":
        stats_case(case, recipe_text, recipe_path, mergeforge_bin, variables, cache_dir, tmp_path)
    elif mode == "fusion_stats":
        fusion_stats_case(case, recipe_text, recipe_path, mergeforge_bin, variables, cache_dir, tmp_path)
    elif mode == "mergekit":
        compare_case(case, recipe_text, recipe_path, mergeforge_bin, variables, cache_dir, tmp_path)
    else:
        pytest.fail(f"{case.path}: unknown expect.compare {mode!r}", pytrace=False)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example(example: Path, mergeforge_bin, cache_dir, tmp_path, monkeypatch):
    """The shipped examples, run from the repository root as the README shows."""
    monkeypatch.chdir(REPO)
    text = example.read_text(encoding="utf-8")
    case = Case(name=f"example_{example.stem}", path=example, description=f"examples/{example.name}",
                recipe_template=text, expect={"compare": "mergekit"})
    recipe = yaml.safe_load(text)
    salt = dir_hash([REPO / m for m in compare.recipe_models(recipe)])
    compare_case(case, text, example, mergeforge_bin, {}, cache_dir, tmp_path, salt=salt,
                 cwd=REPO, monkeypatch=monkeypatch)


def test_methods_match_mergekit(mergeforge_bin):
    """`mergeforge methods` lists every merge method MergeKit registers, and no other."""
    from mergekit.merge_methods import registry

    require_binary(mergeforge_bin)
    theirs = set(registry._METHODS)  # name -> method, as `merge_method:` looks them up
    assert len(theirs) == 20, sorted(theirs)
    ours = implemented_methods(mergeforge_bin)
    assert ours == theirs, (f"missing: {sorted(theirs - ours)}, not in MergeKit: "
                            f"{sorted(ours - theirs)}")


def test_case_files_are_valid(variables):
    """Every case parses, names known keys, and its recipe is accepted by MergeKit's schema."""
    from mergekit.config import MergeConfiguration

    assert len(CASES) >= 22, f"only {len(CASES)} cases"
    for case in CASES:
        text = case.recipe(variables)
        if case.expect.get("compare") == "error":
            continue
        MergeConfiguration.model_validate(yaml.safe_load(text))
        for m in compare.recipe_models(yaml.safe_load(text)):
            assert Path(m).is_dir(), f"{case.name}: model {m} was not generated"
