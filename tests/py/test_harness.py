"""Checks of the test harness itself, with MergeKit only (no mergeforge binary needed).

The comparison must find MergeKit's output equal to itself and must flag a perturbed copy;
the generated models must have the properties the cases rely on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

import compare
import mergekit_runner
import random_stats
from cases import CASES_DIR, load_case


def mergekit_out(name: str, variables: dict, cache_dir: Path, reference: bool = False) -> tuple[Path, str]:
    case = load_case(CASES_DIR / f"{name}.yaml")
    text = case.recipe(variables)
    run = mergekit_runner.run_mergekit_reference if reference else mergekit_runner.run_mergekit
    return run(text, case.options, cache_dir), text


def rewrite(out_dir: Path, change) -> None:
    """Apply change(dict of tensors) to a copied single-file output and save it back."""
    path = out_dir / "model.safetensors"
    tensors = compare.load_tensors(out_dir)
    change(tensors)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def copy_out(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------- models


def test_model_set(models_root):
    for fam in ("llama", "mistral", "qwen2", "gemma2", "phi3", "gpt2"):
        for m in ("base", "ft1", "ft2", "ft3"):
            assert (models_root / fam / m / "config.json").exists(), f"{fam}/{m}"
    sharded = models_root / "llama" / "ft1-sharded"
    assert (sharded / "model.safetensors.index.json").exists()
    assert len(list(sharded.glob("model-*.safetensors"))) >= 2
    # the sharded copy holds exactly ft1's tensors
    assert compare.identical_bytes(sharded, models_root / "llama" / "ft1") == []
    assert compare.model_dtypes(models_root / "llama-bf16" / "ft1") == {"bfloat16"}
    assert compare.model_dtypes(models_root / "llama-fp16" / "ft1") == {"float16"}
    assert compare.model_dtypes(models_root / "qwen2-bf16" / "ft1") == {"bfloat16"}
    names = lambda m: set(compare.weight_files(models_root / m))  # noqa: E731
    assert "lm_head.weight" not in names("llama-tied/base")
    assert "lm_head.weight" in names("llama-tied/ft2-untied")
    assert "lm_head.weight" not in names("gemma2/base")
    assert "transformer.h.1.attn.c_attn.weight" in names("gpt2/base")
    assert "lm_head.weight" not in names("gpt2/base")
    cfg = json.loads((models_root / "llama6" / "base" / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 6
    tok = json.loads((models_root / "llama" / "base" / "tokenizer.json").read_text())
    assert len(tok["model"]["vocab"]) <= cfg["vocab_size"]
    assert (models_root / "llama" / "ft1" / "chat_template.jinja").exists()
    assert not (models_root / "llama" / "base" / "chat_template.jinja").exists()


def test_fine_tune_deltas_are_small(models_root):
    b = compare.load_tensors(models_root / "llama" / "base")
    for ft, lo, hi in (("ft1", 0.01, 0.04), ("ft3", 0.002, 0.05)):
        x = compare.load_tensors(models_root / "llama" / ft)
        for n in b:
            rel = float((x[n] - b[n]).pow(2).mean().sqrt() / b[n].pow(2).mean().sqrt())
            assert lo < rel < hi, (ft, n, rel)
    ft3 = compare.load_tensors(models_root / "llama" / "ft3")
    w = "model.layers.0.mlp.up_proj.weight"
    frac = float((ft3[w] != b[w]).float().mean())
    assert 0.05 < frac < 0.15, frac


# --------------------------------------------------------------------------- utilities


def test_ulp_values():
    u = lambda x, d: float(compare.ulp(torch.tensor([x], dtype=torch.float64), d)[0])  # noqa: E731
    assert u(1.0, "bfloat16") == 2.0**-7
    assert u(0.99, "bfloat16") == 2.0**-8
    assert u(1.5, "float16") == 2.0**-10
    assert u(0.0, "float16") == 2.0**-24
    assert u(1.0, "float32") == 2.0**-23


def test_policy_choice(variables):
    def pol(name):
        return compare.choose_policy(yaml.safe_load(load_case(CASES_DIR / f"{name}.yaml").recipe(variables)))

    assert pol("linear_llama_three_models").kind == "close"
    assert pol("linear_llama_float16").kind == "ulp"
    assert pol("linear_qwen2_bf16_inferred").kind == "ulp"
    assert pol("linear_qwen2_bf16_inferred").precision == "bfloat16"
    assert pol("slerp_llama_bf16").kind == "ulp"
    assert pol("task_arithmetic_out_dtype_bf16").kind == "ulp"
    p = pol("ties_llama_bf16")
    assert (p.kind, p.ties) == ("ref", True)
    assert pol("task_arithmetic_fp16_reference").kind == "ref"
    mixed = pol("linear_mixed_half_dtypes")
    assert (mixed.compute, mixed.kind) == ("float32", "close")


def test_mergekit_cache_key_depends_on_inputs():
    k = mergekit_runner.cache_key
    assert k("a", {}) == k("a", {})
    assert k("a", {}) != k("b", {})
    assert k("a", {"random_seed": 1}) != k("a", {"random_seed": 2})
    assert k("a", {"threads": 4}) == k("a", {})  # threads change no numbers
    assert mergekit_runner.parse_size("100k") == 100_000
    assert mergekit_runner.parse_size("5B") == 5_000_000_000


# --------------------------------------------------------------------------- comparison


def test_identical_outputs_pass(variables, cache_dir):
    out, text = mergekit_out("linear_llama_three_models", variables, cache_dir)
    policy = compare.choose_policy(yaml.safe_load(text))
    cmp = compare.compare_weights(out, out, policy)
    assert cmp.ok, cmp.report()
    assert all(t.max_abs == 0 for t in cmp.tensors)
    assert compare.compare_configs(out, out, "float32") == []
    # MergeKit's own card and recipe copy pass our side-file checks
    assert compare.compare_side_files(out, out, text) == []


def test_perturbations_are_flagged(variables, cache_dir, tmp_path):
    out, text = mergekit_out("linear_llama_three_models", variables, cache_dir)
    policy = compare.choose_policy(yaml.safe_load(text))
    name = "model.layers.1.self_attn.q_proj.weight"

    # a float32 value moved by 1e-5 relative: outside 1e-6
    bad = copy_out(out, tmp_path / "perturbed")

    def nudge(t):
        t[name] = t[name].clone()
        t[name].view(-1)[17] *= 1 + 1e-5

    rewrite(bad, nudge)
    cmp = compare.compare_weights(bad, out, policy)
    assert not cmp.ok
    assert [t.name for t in cmp.tensors if not t.ok] == [name]
    assert name in cmp.report()

    # a float32 value moved by 1e-7 relative: inside
    ok = copy_out(out, tmp_path / "tiny")

    def tiny(t):
        t[name] = t[name].clone()
        t[name].view(-1)[17] *= 1 + 1e-7

    rewrite(ok, tiny)
    assert compare.compare_weights(ok, out, policy).ok

    # a missing tensor, a changed dtype, a changed shape
    broken = copy_out(out, tmp_path / "broken")

    def mangle(t):
        del t["model.norm.weight"]
        t[name] = t[name].to(torch.bfloat16)
        t["model.layers.0.input_layernorm.weight"] = t["model.layers.0.input_layernorm.weight"][:-1]

    rewrite(broken, mangle)
    cmp = compare.compare_weights(broken, out, policy)
    text_report = "\n".join(cmp.problems)
    assert "model.norm.weight" in text_report
    assert f"{name}: saved dtype bfloat16" in text_report
    assert "model.layers.0.input_layernorm.weight: shape" in text_report


def test_config_and_side_file_differences_are_flagged(variables, cache_dir, tmp_path):
    out, text = mergekit_out("passthrough_frankenmerge", variables, cache_dir)
    mine = copy_out(out, tmp_path / "mine")
    cfg = json.loads((mine / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 8
    cfg["num_hidden_layers"] = 4
    cfg["torch_dtype"] = cfg.pop("dtype")
    (mine / "config.json").write_text(json.dumps(cfg))
    (mine / "tokenizer.json").unlink()
    (mine / "mergekit_config.yml").write_text(text + "\n# edited\n")
    probs = compare.compare_configs(mine, out, "float32")
    assert any("num_hidden_layers" in p for p in probs)
    assert any("torch_dtype" in p for p in probs)
    probs = compare.compare_side_files(mine, out, text)
    assert any("tokenizer.json" in p for p in probs)
    assert any("verbatim" in p for p in probs)


def test_layout_problems_are_flagged(variables, cache_dir, tmp_path):
    out, _ = mergekit_out("ties_sharded_input_output", variables, cache_dir)
    assert (out / "model.safetensors.index.json").exists()
    assert compare.layout_problems(out) == []
    bad = copy_out(out, tmp_path / "bad")
    idx = json.loads((bad / "model.safetensors.index.json").read_text())
    victim = sorted(idx["weight_map"])[0]
    del idx["weight_map"][victim]
    idx["metadata"]["total_size"] = 1
    (bad / "model.safetensors.index.json").write_text(json.dumps(idx))
    probs = compare.layout_problems(bad)
    assert any(victim in p for p in probs)
    assert any("total_size" in p for p in probs)


def test_half_ulp_policy(variables, cache_dir, tmp_path):
    out, text = mergekit_out("slerp_llama_bf16", variables, cache_dir)
    policy = compare.choose_policy(yaml.safe_load(text))
    assert policy.kind == "ulp"
    name = "model.layers.2.mlp.gate_proj.weight"

    def step(t, k):
        # move every 7th element k steps along the bf16 grid (same sign: bit pattern +k)
        x = t[name].clone().contiguous()
        bits = x.view(torch.int16).view(-1)
        bits[::7] += k
        t[name] = x

    one = copy_out(out, tmp_path / "one")
    rewrite(one, lambda t: step(t, 1))
    cmp = compare.compare_weights(one, out, policy)
    assert cmp.ok, cmp.report()
    assert max(t.max_ulp for t in cmp.tensors) == pytest.approx(1.0)
    two = copy_out(out, tmp_path / "two")
    rewrite(two, lambda t: step(t, 2))
    cmp = compare.compare_weights(two, out, policy)
    assert [t.name for t in cmp.tensors if not t.ok] == [name]


def test_reference_policy_accepts_correct_rounding(variables, cache_dir, tmp_path):
    """An implementation that rounds the exact result once passes; a worse one fails."""
    out, text = mergekit_out("ties_llama_bf16", variables, cache_dir)
    ref, _ = mergekit_out("ties_llama_bf16", variables, cache_dir, reference=True)
    recipe = yaml.safe_load(text)
    policy = compare.choose_policy(recipe)
    base = Path(recipe["base_model"])
    assert compare.saved_dtypes(ref)["model.norm.weight"] == "float64"

    ideal = copy_out(out, tmp_path / "ideal")
    exact = compare.load_tensors(ref)
    rewrite(ideal, lambda t: t.update({k: v.to(torch.bfloat16) for k, v in exact.items()}))
    sel = compare.selection_inputs_from_recipe(recipe)
    cmp = compare.compare_weights(ideal, out, policy, ref_dir=ref, base_dir=base, selection=sel)
    assert cmp.ok, cmp.report()

    name = "model.layers.1.mlp.up_proj.weight"

    def skew(t):
        x = t[name].clone().contiguous()
        x.view(torch.int16).view(-1)[::50] += 3
        t[name] = x

    worse = copy_out(ideal, tmp_path / "worse")
    rewrite(worse, skew)
    cmp = compare.compare_weights(worse, out, policy, ref_dir=ref, base_dir=base, selection=sel)
    assert [t.name for t in cmp.tensors if not t.ok] == [name], cmp.report()


def test_random_statistics_on_mergekit(variables, cache_dir):
    case = load_case(CASES_DIR / "dare_linear_stats.yaml")
    text = case.recipe(variables)
    st = case.expect_value("stats", variables)
    out = mergekit_runner.run_mergekit(text, {"random_seed": 42}, cache_dir)
    again = mergekit_runner.run_mergekit(text, {"random_seed": 42}, cache_dir)
    assert out == again  # cached
    probs, summary = random_stats.sparsified_delta_problems(
        out, Path(st["base"]), Path(st["model"]), density=0.5)
    assert probs == [], probs
    assert abs(summary["kept_fraction"] - 0.5) < 0.02
    # the same output judged against a wrong density fails
    probs, _ = random_stats.sparsified_delta_problems(out, Path(st["base"]), Path(st["model"]), density=0.7)
    assert any("kept fraction" in p for p in probs)
    # a plain (unsparsified) merge fails too
    full, _ = mergekit_out("task_arithmetic_llama", variables, cache_dir)
    probs, _ = random_stats.sparsified_delta_problems(full, Path(st["base"]), Path(st["model"]), density=0.5)
    assert probs


def test_mergekit_seed_reproducible(variables, cache_dir, tmp_path):
    """MergeKit with the same seed gives the same bytes (the runner relies on it to cache)."""
    case = load_case(CASES_DIR / "dare_ties_stats.yaml")
    text = case.recipe(variables)
    a = mergekit_runner.run_mergekit(text, {"random_seed": 11}, tmp_path / "c1")
    b = mergekit_runner.run_mergekit(text, {"random_seed": 11}, tmp_path / "c2")
    c = mergekit_runner.run_mergekit(text, {"random_seed": 12}, tmp_path / "c3")
    assert compare.identical_bytes(a, b) == []
    assert len(compare.identical_bytes(a, c)) > 10


def test_mergekit_layer_types_quirk(variables, cache_dir):
    """MergeKit keeps a frankenmerge's per-layer layer_types at the source length; the
    runner's lenient mode lets it save that config so the rest of the output exists."""
    case = load_case(CASES_DIR / "passthrough_qwen2_layer_types.yaml")
    assert case.expect.get("mergekit_lenient_config")
    text = case.recipe(variables)
    out = mergekit_runner.run_mergekit(text, case.options, cache_dir, lenient_config=True)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 3
    assert len(cfg["layer_types"]) == 2
    assert (out / "README.md").exists()
    assert "model.layers.2.self_attn.q_proj.bias" in compare.weight_files(out)


# --------------------------------------------------------------------------- random-method checks


def _write_out(directory: Path, tensors: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / "model.safetensors"),
              metadata={"format": "pt"})
    return directory


def test_della_rank_buckets_flag_uniform_masks(variables, cache_dir):
    """A uniform keep probability (dare) at della's mean density passes the plain kept-fraction
    check but fails the per-rank one; della's own output (MergeKit's) passes both."""
    case = load_case(CASES_DIR / "della_linear_stats.yaml")
    text = case.recipe(variables)
    st = case.expect_value("stats", variables)
    base, model = Path(st["base"]), Path(st["model"])
    della = mergekit_runner.run_mergekit(text, {"random_seed": 5}, cache_dir)
    probs, summary = random_stats.sparsified_delta_problems(della, base, model, density=0.6, epsilon=0.1)
    assert probs == [], probs
    # the bottom bucket keeps ~0.52, the top ~0.68
    assert summary["bucket_kept"][0] < 0.55 < 0.65 < summary["bucket_kept"][-1]
    dare = mergekit_runner.run_mergekit(text.replace("della_linear", "dare_linear"), {"random_seed": 5}, cache_dir)
    probs, _ = random_stats.sparsified_delta_problems(dare, base, model, density=0.6)
    assert probs == [], probs
    probs, _ = random_stats.sparsified_delta_problems(dare, base, model, density=0.6, epsilon=0.1)
    assert any("rank bucket 1/5" in p for p in probs), probs
    assert any("all tensors: rank bucket 5/5" in p for p in probs), probs


def test_della_probabilities_match_the_formula():
    d = torch.tensor([[0.3, -0.1, 0.2, -0.5], [1.0, 2.0, -3.0, 0.5]], dtype=torch.float64)
    p = random_stats.della_probabilities(d, 0.5, 0.3).view(2, 4)
    step = 2 * 0.3 / 3
    assert torch.allclose(p[0], torch.tensor([0.2 + 2 * step, 0.2, 0.2 + step, 0.8], dtype=torch.float64))
    assert torch.allclose(p[1], torch.tensor([0.2 + step, 0.2 + 2 * step, 0.8, 0.2], dtype=torch.float64))
    # a 1-D tensor is one row; rows of one element use the density (COMPAT.md QUIRK)
    assert torch.allclose(random_stats.della_probabilities(d[0], 0.5, 0.3), p[0])
    assert torch.equal(random_stats.della_probabilities(torch.ones(5, 1), 0.4, 0.15),
                       torch.full((5,), 0.4, dtype=torch.float64))


def test_l1_rescale_is_checked_to_rounding(variables, cache_dir, tmp_path):
    """A rescale off by 1e-5 relative (10x looser than before, far above float32 rounding of
    the sums) is flagged; MergeKit's own output is not."""
    case = load_case(CASES_DIR / "dare_linear_stats.yaml")
    st = case.expect_value("stats", variables)
    base, model = Path(st["base"]), Path(st["model"])
    out = mergekit_runner.run_mergekit(case.recipe(variables), {"random_seed": 42}, cache_dir)
    assert random_stats.sparsified_delta_problems(out, base, model, density=0.5)[0] == []
    name = "model.layers.2.mlp.up_proj.weight"
    b = compare.load_tensors(base, [name])[name]
    bad = copy_out(out, tmp_path / "bad")

    def off(t):
        t[name] = (b.double() + (t[name].double() - b.double()) * (1 + 1e-5)).float()

    rewrite(bad, off)
    probs, _ = random_stats.sparsified_delta_problems(bad, base, model, density=0.5)
    assert [p for p in probs if "L1" in p and name in p], probs


def _consensus_outputs(variables, tmp_path, normalize: bool, p_keep):
    """Synthetic two-model merges of llama ft1 / ft2 (weights 0.3 / 0.9) with the right sign
    election and three wrong ones. p_keep(d, density) gives keep probabilities."""
    root = Path(variables["models"]) / "llama"
    base = compare.load_tensors(root / "base")
    xs = [compare.load_tensors(root / m) for m in ("ft1", "ft2")]
    w, dens = [0.3, 0.9], [0.5, 0.6]
    g = torch.Generator().manual_seed(3)
    rules = {"right": {}, "no_election": {}, "unweighted_vote": {}, "loser_kept": {}}
    for name, bt in base.items():
        if any(name not in x for x in xs):
            continue
        b = bt.double()
        d = [x[name].double() - b for x in xs]
        m = [torch.bernoulli(p_keep(d[i], dens[i]).view_as(b), generator=g) for i in range(2)]
        c = [w[i] * d[i] * m[i] for i in range(2)]
        for rule in rules:
            if rule == "unweighted_vote":
                vote = d[0] * m[0] + d[1] * m[1]
            else:
                vote = c[0] + c[1]
            sign = torch.where(vote >= 0, 1.0, -1.0).double()
            if rule == "loser_kept":
                sign = -sign
            counts = [(torch.sign(ci) == sign) | torch.tensor(rule == "no_election") for ci in c]
            counts = [k & (ci != 0) for k, ci in zip(counts, c)]
            mixed = sum(torch.where(k, ci, 0.0) for k, ci in zip(counts, c))
            if normalize:
                div = sum(torch.where(k, wi, 0.0) for k, wi in zip(counts, w))
                mixed = mixed / torch.where(div == 0, 1.0, div)
            rules[rule][name] = (b + mixed).float()
    models = [{"model": str(root / "ft1"), "weight": w[0], "density": dens[0]},
              {"model": str(root / "ft2"), "weight": w[1], "density": dens[1]}]
    return root / "base", models, {r: _write_out(tmp_path / r, t) for r, t in rules.items()}


def test_consensus_check_flags_wrong_elections(variables, tmp_path):
    base, models, outs = _consensus_outputs(variables, tmp_path, False, lambda d, p: torch.full_like(d, p))
    probs, summary = random_stats.consensus_problems(outs["right"], base, models, normalize=False)
    assert probs == [], probs
    assert summary["unmatched"] == 0 and min(summary["observed"]) > 10000
    # the plain sum of two kept deltas of opposite sign matches none of the four results
    probs, summary = random_stats.consensus_problems(outs["no_election"], base, models, normalize=False)
    assert summary["unmatched"] > 1000 and any("match none" in p for p in probs)
    # a vote on unweighted deltas elects the other sign where |d1| > |d2| but 0.3 |d1| < 0.9 |d2|
    probs, _ = random_stats.consensus_problems(outs["unweighted_vote"], base, models, normalize=False)
    assert probs
    # keeping the loser: every value is still one of the four, but the winner's kept fraction drops
    probs, summary = random_stats.consensus_problems(outs["loser_kept"], base, models, normalize=False)
    assert summary["unmatched"] == 0
    assert any("all tensors" in p for p in probs), probs


def test_consensus_check_della_normalized_per_rank(variables, tmp_path):
    def della_p(d, density):
        return random_stats.della_probabilities(d, density, 0.2).view_as(d)

    base, models, outs = _consensus_outputs(variables, tmp_path, True, della_p)
    probs, _ = random_stats.consensus_problems(outs["right"], base, models, normalize=True, epsilon=0.2)
    assert probs == [], probs
    # the same masks judged with a narrower probability band fail the per-rank check
    probs, _ = random_stats.consensus_problems(outs["right"], base, models, normalize=True, epsilon=0.05)
    assert any("rank bucket" in p for p in probs), probs
    # judged without the normalization, the values do not match
    probs, summary = random_stats.consensus_problems(outs["right"], base, models, normalize=False, epsilon=0.2)
    assert summary["unmatched"] > 1000


def test_fusion_stats_flag_wrong_thresholds(variables, cache_dir, tmp_path):
    """The arcee_fusion large-tensor checks: the exact rule passes, MergeKit's sampled output
    passes, a wrong threshold, a non-threshold selection and a foreign value are flagged."""
    import fusion_stats

    case = load_case(CASES_DIR / "arcee_fusion_large_tensor_sampled.yaml")
    spec = case.expect_value("fusion", variables)
    name = "model.embed_tokens.weight"
    b = compare.load_tensors(Path(spec["base"]), [name])[name]
    x = compare.load_tensors(Path(spec["model"]), [name])[name]
    assert b.numel() > fusion_stats.SAMPLE_SIZE
    ref = fusion_stats.Reference(b, x)
    assert 0 < ref.sd < 0.01 * ref.exact_fraction
    theirs = mergekit_runner.run_mergekit(case.recipe(variables), {"random_seed": 1}, cache_dir)
    t = compare.load_tensors(theirs, [name])[name]
    probs, f_mk = fusion_stats.taken_problems(name, t, b, x, ref)
    assert probs == [], probs

    def fused(mask):
        return torch.where(mask.view_as(b), b + (x - b), b)

    exact = fused(ref.importance >= ref.exact_threshold)
    probs, f = fusion_stats.taken_problems(name, exact, b, x, ref, threshold_rtol=1e-5)
    assert probs == [] and f == ref.exact_fraction
    assert abs(f - f_mk) <= fusion_stats.sigma_bound(ref)
    # median + 1.4 IQR instead of 1.5: still a threshold, but the fraction is off
    s = torch.sort(ref.importance).values
    q = [float(s[int(p * (s.numel() - 1))]) for p in (0.25, 0.5, 0.75)]
    wrong = fused(ref.importance >= q[1] + 1.4 * (q[2] - q[0]))
    probs, _ = fusion_stats.taken_problems(name, wrong, b, x, ref, threshold_rtol=1e-5)
    assert any("fraction taken" in p for p in probs), probs
    # swap one kept element of high importance with a left one of low importance
    imp = ref.importance
    mask = imp >= ref.exact_threshold
    hi = int(torch.argmax(torch.where(mask, imp, -1.0)))
    lo = int(torch.argmin(torch.where(~mask & (x.flatten() != b.flatten()), imp, float("inf"))))
    mask[hi], mask[lo] = False, True
    probs, _ = fusion_stats.taken_problems(name, fused(mask), b, x, ref, threshold_rtol=1e-5)
    assert any("not a threshold" in p for p in probs), probs
    odd = exact.clone()
    odd.view(-1)[5] += 1.0
    probs, _ = fusion_stats.taken_problems(name, odd, b, x, ref)
    assert any("neither the base nor the fine-tune" in p for p in probs), probs


def test_extra_model_set(extra_models_root):
    """The models the partial-input and large-tensor cases rely on."""
    import extra_models

    g = extra_models_root / "granite"
    names = lambda m: set(compare.weight_files(g / m))  # noqa: E731
    full = names("base")
    assert extra_models.PARTIAL_TENSOR in full
    for m in ("ft1", "ft2", "ft3"):
        assert names(m) == full, m
    for m in ("ft2", "ft3", "base"):
        assert names(f"{m}-missing") == full - {extra_models.PARTIAL_TENSOR}, m
        # the same values otherwise
        assert compare.identical_bytes(g / m, g / f"{m}-missing") == [extra_models.PARTIAL_TENSOR]
    cfg = json.loads((g / "ft2-missing" / "config.json").read_text())
    assert cfg["attention_bias"] is True
    big = compare.load_tensors(extra_models_root / "llama-big-embed" / "base")
    assert big["model.embed_tokens.weight"].numel() > 1_000_000
    assert sorted(n for n, t in big.items() if t.numel() > 1_000_000) == ["model.embed_tokens.weight"]
    assert "lm_head.weight" not in big
    assert compare.model_dtypes(extra_models_root / "llama-big-embed" / "ft1") == {"float32"}
