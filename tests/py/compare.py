"""The matching policy of COMPAT.md, as functions over two output directories.

Outputs are read the way a consumer reads them: through model.safetensors.index.json
when it exists, else model.safetensors. Shard membership is not compared.

Policies (chosen by `choose_policy` from the recipe's method and dtypes):
  close   float32/float64 compute and output: |ours - theirs| <= max(1e-6 |theirs|, 1e-7)
  ulp     both sides round once from float32 to a half dtype (linear, slerp, passthrough
          in half precision; any method computed in float32 and saved in a half dtype):
          |ours - theirs| <= 1 ulp of the half dtype at max(|ours|, |theirs|)
  ref     other methods computed in a half dtype: against MergeKit's float64 output on
          the same inputs, our total and worst absolute error <= MergeKit's on every
          tensor, and |ours - ref| <= 1 ulp of the local scale max(|base|, |theirs|,
          |ours|) on >= 99.5% of the elements. For methods that select by magnitude
          (`ties` flag), the elements whose result depends on a tie break (equal magnitudes
          that straddle the cut in some input's task vector; a sign election whose sum is
          zero up to the binary representation of the weights), found from the inputs, are
          left out, and the two outputs must agree within 1 ulp on >= 97% of the rest.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

HALF = {"bfloat16", "float16"}
LINEAR_LIKE = {"linear", "slerp", "passthrough"}
MAGNITUDE_SELECTING = {"ties", "breadcrumbs", "breadcrumbs_ties"}
RANDOM_METHODS = {"dare_linear", "dare_ties", "della", "della_linear"}

FLOAT_RTOL = 1e-6
FLOAT_ATOL = 1e-7
REF_ULP_FRACTION = 0.995
TIE_AGREEMENT = 0.97

_ST_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}
# mantissa bits, smallest normal exponent
_FORMAT = {
    "bfloat16": (7, -126),
    "float16": (10, -14),
    "float32": (23, -126),
    "float64": (52, -1022),
}


def normalize_dtype(name: str | None) -> str | None:
    if name is None:
        return None
    name = str(name).removeprefix("torch.")
    return {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32",
            "float": "float32", "fp64": "float64", "double": "float64"}.get(name, name)


def promote(dtypes: Iterable[str]) -> str:
    ds = {d for d in dtypes if d in _FORMAT}
    if not ds:
        return "float32"
    if len(ds) == 1:
        return ds.pop()
    if "float64" in ds:
        return "float64"
    return "float32"


# --------------------------------------------------------------------------- loading


class OutputError(AssertionError):
    pass


def _read_header(path: Path) -> dict:
    with open(path, "rb") as fp:
        (n,) = struct.unpack("<Q", fp.read(8))
        return json.loads(fp.read(n))


def weight_files(out_dir: Path) -> dict[str, Path]:
    """Tensor name -> file, through the index when there is one."""
    out_dir = Path(out_dir)
    index = out_dir / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        return {k: out_dir / v for k, v in weight_map.items()}
    single = out_dir / "model.safetensors"
    if single.exists():
        return {k: single for k in _read_header(single) if k != "__metadata__"}
    raise OutputError(f"{out_dir}: neither model.safetensors.index.json nor model.safetensors")


def layout_problems(out_dir: Path) -> list[str]:
    """Structural checks of an output directory's weight files."""
    out_dir = Path(out_dir)
    problems: list[str] = []
    index = out_dir / "model.safetensors.index.json"
    shards = sorted(out_dir.glob("*.safetensors"))
    if index.exists():
        data = json.loads(index.read_text())
        weight_map = data.get("weight_map", {})
        listed = set(weight_map.values())
        seen: dict[str, str] = {}
        total = 0
        for f in sorted(listed):
            p = out_dir / f
            if not p.exists():
                problems.append(f"index names missing shard {f}")
                continue
            hdr = _read_header(p)
            meta = hdr.pop("__metadata__", {}) or {}
            if meta.get("format") != "pt":
                problems.append(f"{f}: metadata format is {meta.get('format')!r}, not 'pt'")
            for name, info in hdr.items():
                seen[name] = f
                total += info["data_offsets"][1] - info["data_offsets"][0]
        for name, f in weight_map.items():
            if seen.get(name) != f:
                problems.append(f"index maps {name} to {f}, which does not hold it")
        for name in seen:
            if name not in weight_map:
                problems.append(f"{name} is in a shard but not in the index")
        ts = (data.get("metadata") or {}).get("total_size")
        if ts is not None and int(ts) != total:
            problems.append(f"index total_size {ts} != {total} bytes of tensor data")
        stray = {s.name for s in shards} - listed
        if stray:
            problems.append(f"shards not in the index: {sorted(stray)}")
    elif (out_dir / "model.safetensors").exists():
        hdr = _read_header(out_dir / "model.safetensors")
        meta = hdr.get("__metadata__", {}) or {}
        if meta.get("format") != "pt":
            problems.append(f"model.safetensors: metadata format is {meta.get('format')!r}, not 'pt'")
        if len(shards) != 1:
            problems.append(f"model.safetensors without an index beside other shards: {[s.name for s in shards]}")
    else:
        problems.append("no weights (model.safetensors or an index)")
    return problems


def saved_dtypes(out_dir: Path) -> dict[str, str]:
    res = {}
    files = weight_files(out_dir)
    headers: dict[Path, dict] = {}
    for name, f in files.items():
        if f not in headers:
            headers[f] = _read_header(f)
        res[name] = _ST_DTYPES.get(headers[f][name]["dtype"], headers[f][name]["dtype"])
    return res


def load_tensors(out_dir: Path, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    files = weight_files(out_dir)
    wanted = set(files) if names is None else set(names) & set(files)
    by_file: dict[Path, list[str]] = {}
    for n in wanted:
        by_file.setdefault(files[n], []).append(n)
    res = {}
    for f, ns in by_file.items():
        with safe_open(str(f), framework="pt") as st:
            for n in ns:
                res[n] = st.get_tensor(n)
    return res


def model_dtypes(model_dir: Path) -> set[str]:
    """Float dtypes stored in an input model directory."""
    return {d for d in saved_dtypes(model_dir).values() if d in _FORMAT}


# --------------------------------------------------------------------------- policy


@dataclass
class Policy:
    kind: str  # close | ulp | ref
    precision: str  # dtype whose ulp is the unit (ulp/ref)
    method: str
    compute: str
    saved: str
    ties: bool = False

    def describe(self) -> str:
        extra = " +ties" if self.ties else ""
        return f"{self.kind}({self.precision}{extra})"


def recipe_models(recipe: Mapping[str, Any]) -> list[str]:
    """Every model path a recipe references (plain strings and {model: ...} forms)."""

    def ref(m):
        if isinstance(m, dict):
            m = m.get("model")
        return str(m).split("+")[0].split("@")[0] if m is not None else None

    found: list[str] = []

    def add(m):
        r = ref(m)
        if r and r not in found:
            found.append(r)

    def walk(section):
        for m in section.get("models") or []:
            add(m.get("model"))
        for s in section.get("slices") or []:
            for src in s.get("sources") or []:
                add(src.get("model"))
            if s.get("base_model"):
                add(s["base_model"])

    if recipe.get("base_model"):
        add(recipe["base_model"])
    walk(recipe)
    for mod in (recipe.get("modules") or {}).values():
        walk(mod)
    return found


def choose_policy(recipe: Mapping[str, Any]) -> Policy:
    method = recipe["merge_method"]
    compute = normalize_dtype(recipe.get("dtype"))
    if compute is None:
        dts: set[str] = set()
        for m in recipe_models(recipe):
            if Path(m).exists():
                dts |= model_dtypes(Path(m))
        compute = promote(dts)
    saved = normalize_dtype(recipe.get("out_dtype")) or compute
    if compute not in HALF:
        if saved in HALF:
            return Policy("ulp", saved, method, compute, saved)
        return Policy("close", saved, method, compute, saved)
    if method in LINEAR_LIKE:
        prec = compute if saved not in HALF else (saved if _FORMAT[saved][0] < _FORMAT[compute][0] else compute)
        return Policy("ulp", prec, method, compute, saved)
    prec = compute
    if saved in HALF and _FORMAT[saved][0] < _FORMAT[compute][0]:
        prec = saved
    return Policy("ref", prec, method, compute, saved, ties=method in MAGNITUDE_SELECTING)


def ulp(x_abs: torch.Tensor, dtype: str) -> torch.Tensor:
    """Spacing of `dtype` at |x| (float64 in, float64 out); subnormal spacing near 0."""
    p, emin = _FORMAT[dtype]
    x = x_abs.to(torch.float64).clamp_min(2.0**emin)
    _, e = torch.frexp(x)  # x = m 2^e, m in [0.5, 1)
    return torch.ldexp(torch.ones_like(x), (e - 1 - p).to(torch.int64))


# --------------------------------------------------------------------------- tie breaks


@dataclass
class SelectionInputs:
    """What a magnitude-selecting method ranks: each input's task vector, density, weight."""

    method: str
    base: Path
    models: list[tuple[Path, float, float, float]]  # (model dir, density, gamma, weight)


def _scalar(value, what: str):
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise ValueError(f"tie detection needs a plain number for {what}, got {value!r}")


def selection_inputs_from_recipe(recipe: Mapping[str, Any]) -> SelectionInputs:
    """Densities and weights per input, for a `models:` recipe with scalar parameters."""
    if recipe.get("slices") or recipe.get("modules") or not recipe.get("base_model"):
        raise ValueError("tie detection supports `models:` recipes with a base_model")

    def path(m):
        return str(m["model"] if isinstance(m, dict) else m)

    base = path(recipe["base_model"])
    glob = recipe.get("parameters") or {}

    def param(params, name, default):
        v = _scalar(params.get(name), f"{name} of {p}")
        if v is None:
            v = _scalar(glob.get(name), f"global {name}")
        if v is None:
            if default is None:
                raise ValueError(f"no {name} for {p}")
            v = default
        return float(v)

    models = []
    for entry in recipe["models"]:
        p = path(entry["model"])
        if p == base:
            continue
        params = entry.get("parameters") or {}
        models.append((Path(p), param(params, "density", 1.0), param(params, "gamma", 0.01),
                       param(params, "weight", 1.0 if recipe["merge_method"] == "arcee_fusion" else None)))
    return SelectionInputs(recipe["merge_method"], Path(base), models)


# relative size of a sign-election sum below which the vote is a tie (weights like 0.3 are
# not exact in binary: float32 and float64 representations may elect different signs)
VOTE_TIE_RTOL = 1e-6


# relative error of a row's KL divergence in arcee_fusion (a sum of cancelling terms: float64
# implementations differ by about 1e-12), and how many perturbations of it are tried
FUSION_KL_RTOL = 1e-11
FUSION_KL_TRIALS = 32


def ambiguous_fusion(base: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """arcee_fusion elements whose selection (exact quantiles) changes when the rows' KL
    divergences move within their rounding error: importances at the threshold up to rounding.
    bf16 deltas in small ratios tie with it exactly in real numbers; where float64 keeps the tie
    whatever the divergence (a first quartile and median of 0, say) the element is not ambiguous."""
    b, x = base.to(torch.float64), x.to(torch.float64)
    if b.numel() == 0 or b.numel() > 1_000_000:
        return torch.zeros(b.numel(), dtype=torch.bool)
    p, q = torch.softmax(x, -1) + 1e-8, torch.softmax(b, -1) + 1e-8
    kl = (p * torch.log(p / q)).sum(-1, keepdim=True)
    gen = torch.Generator().manual_seed(0)
    kept = []
    for trial in range(FUSION_KL_TRIALS):
        noise = 2 * torch.rand(kl.shape, generator=gen, dtype=torch.float64) - 1
        imp = ((x - b).abs() * (kl if trial == 0 else kl * (1 + FUSION_KL_RTOL * noise))).flatten()
        s, m = torch.sort(imp).values, imp.numel()
        kept.append(imp >= s[(m - 1) // 2] + 1.5 * (s[3 * (m - 1) // 4] - s[(m - 1) // 4]))
    kept = torch.stack(kept)
    return kept.any(0) & ~kept.all(0)


def ambiguous_selection(method: str, base: torch.Tensor,
                        inputs: list[tuple[torch.Tensor, float, float, float]]) -> torch.Tensor:
    """Elements whose result depends on how ties are broken.

    Selection: equal magnitudes straddling a cut in some input's task vector (a kept zero
    changes nothing, so ties at zero do not count). Election (methods with a sign vote):
    sum_i w_i d_i of the kept deltas is zero up to the representation of the weights.
    arcee_fusion: importances at the threshold (ambiguous_fusion)."""
    if method == "arcee_fusion":  # a tensor the other model lacks is passed through
        return ambiguous_fusion(base, inputs[0][0]) if inputs else torch.zeros(base.numel(), dtype=torch.bool)
    b = base.to(torch.float64).flatten()
    amb = torch.zeros(b.numel(), dtype=torch.bool)
    vote = torch.zeros_like(b)
    scale = torch.zeros_like(b)
    for x, density, gamma, weight in inputs:
        d = x.to(torch.float64).flatten() - b
        mags = d.abs()
        n = mags.numel()
        kept = torch.ones(n, dtype=torch.bool)
        if 0 < density < 1 and n:
            s = torch.sort(mags).values
            if method == "ties":
                k = max(1, int(density * n))
                bounds = [n - k]
                kept = mags >= s[n - k]
            else:  # magnitude_outliers: ascending ranks [n_bot, n_bot + target) are kept
                target = int(density * n)
                n_top = int(gamma * n)
                n_bot = max(0, n - target - n_top)
                bounds = [n_bot, n_bot + target]
                kept = (mags >= s[min(n_bot, n - 1)]) & (mags <= s[max(0, n_bot + target - 1)])
                if target == 0:
                    kept = torch.zeros(n, dtype=torch.bool)
            for p in bounds:
                if 0 < p < n and s[p - 1] == s[p] and s[p] != 0:
                    amb |= mags == s[p]
        elif density <= 0:
            kept = torch.zeros(n, dtype=torch.bool)
        wd = weight * d * kept
        vote += wd
        scale += wd.abs()
    if method in ("ties", "breadcrumbs_ties"):
        amb |= (scale > 0) & (vote.abs() <= VOTE_TIE_RTOL * scale)
    return amb


# --------------------------------------------------------------------------- comparison


@dataclass
class TensorDeviation:
    name: str
    numel: int
    max_abs: float
    max_rel: float
    max_ulp: float  # |ours - theirs| in ulps of the policy's precision (0 for close)
    bad: int  # elements outside the rule
    ok: bool
    detail: str = ""

    def line(self) -> str:
        s = (f"{self.name}: max_abs={self.max_abs:.3g} max_rel={self.max_rel:.3g} "
             f"max_ulp={self.max_ulp:.3g} bad={self.bad}/{self.numel}")
        return s + (f" ({self.detail})" if self.detail else "")


@dataclass
class Comparison:
    policy: Policy
    problems: list[str] = field(default_factory=list)
    tensors: list[TensorDeviation] = field(default_factory=list)
    logits_dev: float | None = None  # max |logits ours - logits MergeKit|, filled in by the test

    @property
    def ok(self) -> bool:
        return not self.problems and all(t.ok for t in self.tensors)

    def worst(self, n: int = 10) -> list[TensorDeviation]:
        return sorted(self.tensors, key=lambda t: (t.ok, -t.max_ulp, -t.max_rel))[:n]

    def report(self, limit: int = 15) -> str:
        lines = [f"policy {self.policy.describe()} method={self.policy.method} "
                 f"compute={self.policy.compute} saved={self.policy.saved}"]
        lines += [f"  problem: {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... {len(self.problems) - limit} more problems")
        bad = [t for t in self.tensors if not t.ok]
        lines += [f"  FAIL {t.line()}" for t in bad[:limit]]
        if len(bad) > limit:
            lines.append(f"  ... {len(bad) - limit} more failing tensors")
        if not bad:
            lines += [f"  worst {t.line()}" for t in self.worst(3)]
        return "\n".join(lines)


def _nan_aware(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """|a-b| with matching NaN/inf positions counted as equal, others as infinite."""
    same_special = (torch.isnan(a) & torch.isnan(b)) | (torch.isinf(a) & (a == b))
    diff = (a - b).abs()
    diff = torch.where(same_special, torch.zeros_like(diff), diff)
    diff = torch.nan_to_num(diff, nan=math.inf)
    return diff, same_special


def _rel(diff: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest |a-b| / max(|a|, |b|) (at most 2)."""
    if diff.numel() == 0:
        return 0.0
    rel = diff / torch.maximum(a.abs(), b.abs()).clamp_min(1e-300)
    rel = torch.where(diff == 0, torch.zeros_like(rel), rel)
    return float(rel.max())


def compare_tensor(name: str, ours: torch.Tensor, theirs: torch.Tensor, policy: Policy,
                   ref: torch.Tensor | None = None, base: torch.Tensor | None = None,
                   tie_mask: torch.Tensor | None = None) -> TensorDeviation:
    o = ours.to(torch.float64).flatten()
    t = theirs.to(torch.float64).flatten()
    n = o.numel()
    diff, _ = _nan_aware(o, t)
    max_abs = float(diff.max()) if n else 0.0
    max_rel = _rel(diff, o, t)
    if policy.kind == "close":
        bad = (diff > FLOAT_ATOL) & (diff > FLOAT_RTOL * t.abs())
        u = ulp(torch.maximum(o.abs(), t.abs()), policy.saved if policy.saved in _FORMAT else "float32")
        max_ulp = float((diff / u).max()) if n else 0.0
        nb = int(bad.sum())
        return TensorDeviation(name, n, max_abs, max_rel, max_ulp, nb, nb == 0)
    if policy.kind == "ulp":
        u = ulp(torch.maximum(o.abs(), t.abs()), policy.precision)
        ratio = diff / u
        nb = int((ratio > 1.0).sum())
        return TensorDeviation(name, n, max_abs, max_rel, float(ratio.max()) if n else 0.0, nb, nb == 0)
    # ref policy
    if ref is None:
        return TensorDeviation(name, n, max_abs, max_rel, math.inf, n, False, "no float64 reference tensor")
    r = ref.to(torch.float64).flatten()
    if r.shape != o.shape:
        return TensorDeviation(name, n, max_abs, max_rel, math.inf, n, False,
                               f"reference shape {tuple(ref.shape)}")
    scale = torch.maximum(o.abs(), t.abs())
    if base is not None and base.numel() == n:
        scale = torch.maximum(scale, base.to(torch.float64).flatten().abs())
    u = ulp(scale, policy.precision)
    err_o, _ = _nan_aware(o, r)
    err_t, _ = _nan_aware(t, r)
    keep = torch.ones(n, dtype=torch.bool)
    details = []
    ok = True
    if policy.ties:
        # elements whose selection is ambiguous (equal magnitudes straddling a cut in some
        # input's task vector) may legitimately differ by one delta at the cut: left out
        if tie_mask is None:
            return TensorDeviation(name, n, max_abs, max_rel, math.inf, n, False,
                                   "no tie information for a magnitude-selecting method")
        keep = ~tie_mask
        close = diff <= u
        agree_all = float(close.float().mean()) if n else 1.0
        agree = float(close[keep].float().mean()) if bool(keep.any()) else 1.0
        details.append(f"ambiguous={int(tie_mask.sum())} agree={agree:.4f} (all elements {agree_all:.4f})")
        if agree < TIE_AGREEMENT:
            ok = False
            details.append(f"agreement with MergeKit within 1 ulp on unambiguous elements {agree:.4f} "
                           f"< {TIE_AGREEMENT}")
    elif tie_mask is not None:  # arcee_fusion: importances at the threshold up to rounding
        keep = ~tie_mask
        details.append(f"ambiguous={int(tie_mask.sum())}")
    eo, et, uk = err_o[keep], err_t[keep], u[keep]
    tot_o, tot_t = float(eo.sum()), float(et.sum())
    max_o = float(eo.max()) if eo.numel() else 0.0
    max_t = float(et.max()) if et.numel() else 0.0
    within = float((eo <= uk).float().mean()) if eo.numel() else 1.0
    # a hair of slack for float64 summation order in the totals
    if tot_o > tot_t * (1 + 1e-9) + 1e-300:
        ok = False
        details.append(f"total error {tot_o:.3g} > MergeKit's {tot_t:.3g}")
    if max_o > max_t:
        ok = False
        details.append(f"worst error {max_o:.3g} > MergeKit's {max_t:.3g}")
    if within < REF_ULP_FRACTION:
        ok = False
        details.append(f"only {within:.4f} of elements within 1 ulp of the reference")
    details.append(f"err ours/theirs total={tot_o:.3g}/{tot_t:.3g} worst={max_o:.3g}/{max_t:.3g}")
    nb = int((eo > uk).sum())
    return TensorDeviation(name, n, max_abs, max_rel, float((diff / u).max()) if n else 0.0, nb, ok,
                           "; ".join(details))


def compare_weights(ours_dir: Path, theirs_dir: Path, policy: Policy, ref_dir: Path | None = None,
                    base_dir: Path | None = None, ignore: Iterable[str] = (),
                    selection: SelectionInputs | None = None) -> Comparison:
    """Tensor names, shapes, saved dtypes and values, per the policy."""
    cmp = Comparison(policy)
    for label, d in (("ours", ours_dir), ("MergeKit", theirs_dir)):
        cmp.problems += [f"{label} layout: {p}" for p in layout_problems(d)]
    try:
        names_o = set(weight_files(ours_dir))
        names_t = set(weight_files(theirs_dir))
    except OutputError as e:
        cmp.problems.append(str(e))
        return cmp
    ignore = set(ignore)
    names_o -= ignore
    names_t -= ignore
    if names_o - names_t:
        cmp.problems.append(f"tensors only in ours: {sorted(names_o - names_t)}")
    if names_t - names_o:
        cmp.problems.append(f"tensors only in MergeKit's: {sorted(names_t - names_o)}")
    common = sorted(names_o & names_t)
    dt_o, dt_t = saved_dtypes(ours_dir), saved_dtypes(theirs_dir)
    for n in common:
        if dt_o[n] != dt_t[n]:
            cmp.problems.append(f"{n}: saved dtype {dt_o[n]} (ours) vs {dt_t[n]} (MergeKit)")
    to = load_tensors(ours_dir, common)
    tt = load_tensors(theirs_dir, common)
    tr = load_tensors(ref_dir, common) if ref_dir is not None else {}
    tb = {}
    if base_dir is not None:
        try:
            tb = load_tensors(base_dir, common)
        except OutputError:
            tb = {}
    sel_base: dict[str, torch.Tensor] = {}
    sel_models: list[tuple[dict[str, torch.Tensor], float, float]] = []
    if selection is not None:
        sel_base = load_tensors(selection.base, common)
        sel_models = [(load_tensors(p, common), d, g, w) for p, d, g, w in selection.models]
    for n in common:
        a, b = to[n], tt[n]
        if tuple(a.shape) != tuple(b.shape):
            cmp.problems.append(f"{n}: shape {tuple(a.shape)} (ours) vs {tuple(b.shape)} (MergeKit)")
            continue
        if not a.is_floating_point() or not b.is_floating_point():
            if not torch.equal(a, b):
                cmp.problems.append(f"{n}: non-float tensor differs")
            continue
        tie_mask = None
        if selection is not None and n in sel_base:
            tie_mask = ambiguous_selection(
                selection.method, sel_base[n],
                [(m[n], d, g, w) for m, d, g, w in sel_models if n in m])
        cmp.tensors.append(compare_tensor(n, a, b, policy, tr.get(n), tb.get(n), tie_mask))
    return cmp


def identical_bytes(dir_a: Path, dir_b: Path) -> list[str]:
    """Tensor names whose bytes differ (or that exist on one side only)."""
    fa, fb = weight_files(dir_a), weight_files(dir_b)
    diff = sorted(set(fa) ^ set(fb))
    common = sorted(set(fa) & set(fb))
    ta, tb = load_tensors(dir_a, common), load_tensors(dir_b, common)
    for n in common:
        a, b = ta[n], tb[n]
        if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(
            a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8)
        ):
            diff.append(n)
    return diff


# --------------------------------------------------------------------------- side files

WEIGHT_SUFFIXES = (".safetensors", ".bin")
TOKENIZER_FILES = (
    "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
    "added_tokens.json", "merges.txt", "chat_template.jinja", "chat_template.json",
    "generation_config.json", "video_preprocessor_config.json",
)
# keys transformers fills in itself, or that depend on who wrote the file
CONFIG_IGNORE = {"transformers_version", "_name_or_path"}


def side_files(out_dir: Path) -> set[str]:
    return {
        p.name for p in Path(out_dir).iterdir()
        if p.is_file() and not p.name.endswith(WEIGHT_SUFFIXES)
        and p.name not in ("model.safetensors.index.json", "pytorch_model.bin.index.json")
    }


def num_layers_key(config: Mapping[str, Any]) -> str | None:
    for k in ("num_hidden_layers", "n_layer", "num_layers"):
        if k in config:
            return k
    return None


def compare_configs(ours_dir: Path, theirs_dir: Path, expected_dtype: str | None,
                    ignore: Iterable[str] = ()) -> list[str]:
    problems = []
    co = json.loads((Path(ours_dir) / "config.json").read_text())
    ct = json.loads((Path(theirs_dir) / "config.json").read_text())
    ign = CONFIG_IGNORE | set(ignore)
    if "torch_dtype" in co:
        problems.append("ours: config.json has a torch_dtype key (transformers 5 writes dtype)")
    if expected_dtype is not None and normalize_dtype(co.get("dtype")) != expected_dtype:
        problems.append(f"ours: config.json dtype {co.get('dtype')!r}, expected {expected_dtype!r}")
    for k in sorted((set(co) | set(ct)) - ign - {"torch_dtype"}):
        vo, vt = co.get(k, "<absent>"), ct.get(k, "<absent>")
        if k == "dtype":
            vo, vt = normalize_dtype(vo), normalize_dtype(vt)
        if vo != vt:
            problems.append(f"config.json {k}: ours {vo!r} vs MergeKit {vt!r}")
    key = num_layers_key(co)
    if key and isinstance(co.get("layer_types"), list) and len(co["layer_types"]) != co[key]:
        problems.append(f"ours: config.json layer_types has {len(co['layer_types'])} entries for {co[key]} layers")
    return problems


def donor_has_tokenizer(donor_dir: Path) -> bool:
    d = Path(donor_dir)
    return (d / "tokenizer_config.json").exists() and (
        (d / "tokenizer.json").exists() or (d / "tokenizer.model").exists())


def compare_side_files(ours_dir: Path, theirs_dir: Path, recipe_text: str,
                       donor_dir: Path | None = None, model_card: bool = True) -> list[str]:
    """Non-weight files: the same set; copied tokenizer files byte-identical; recipe verbatim.

    When the donor has no tokenizer files, MergeKit falls back to loading a tokenizer with
    transformers and saving whatever it gets (for gemma2 an empty GemmaTokenizer); COMPAT
    copies files only, so then ours must have no tokenizer files and MergeKit's are ignored."""
    problems = []
    so, st = side_files(ours_dir), side_files(theirs_dir)
    if donor_dir is not None and Path(donor_dir).is_dir() and not donor_has_tokenizer(donor_dir):
        st -= set(TOKENIZER_FILES)
        extra = sorted(so & set(TOKENIZER_FILES))
        if extra:
            problems.append(f"ours: tokenizer files {extra} although the donor {donor_dir} has no tokenizer")
        so -= set(TOKENIZER_FILES)
    if so != st:
        only_o, only_t = sorted(so - st), sorted(st - so)
        problems.append(f"non-weight files differ: only ours {only_o}, only MergeKit {only_t}")
    for f in sorted(so & st):
        if f in TOKENIZER_FILES:
            if (Path(ours_dir) / f).read_bytes() != (Path(theirs_dir) / f).read_bytes():
                problems.append(f"{f} differs from MergeKit's copy")
    if model_card:
        cfg = Path(ours_dir) / "mergekit_config.yml"
        if not cfg.exists():
            problems.append("ours: no mergekit_config.yml")
        elif cfg.read_text(encoding="utf-8") != recipe_text:
            problems.append("ours: mergekit_config.yml is not the recipe verbatim")
        readme = Path(ours_dir) / "README.md"
        if not readme.exists():
            problems.append("ours: no README.md")
        else:
            problems += [f"ours: README.md {p}" for p in readme_problems(readme.read_text(encoding="utf-8"), recipe_text)]
    return problems


def readme_problems(text: str, recipe_text: str) -> list[str]:
    import yaml

    problems = []
    if not text.startswith("---\n"):
        return ["does not start with YAML front matter"]
    end = text.find("\n---", 4)
    if end < 0:
        return ["front matter is not closed"]
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as e:
        return [f"front matter is not YAML: {e}"]
    if meta.get("library_name") != "transformers":
        problems.append(f"library_name is {meta.get('library_name')!r}")
    tags = meta.get("tags") or []
    for t in ("mergekit", "merge"):
        if t not in tags:
            problems.append(f"tags lack {t!r}")
    bases = meta.get("base_model") or []
    for b in [bases] if isinstance(bases, str) else bases:
        if str(b).startswith(("/", ".", "~")) or str(b).count("/") > 1:
            problems.append(f"base_model lists a local path {b!r} (hub ids only)")
    if recipe_text.strip() not in text:
        problems.append("does not contain the recipe")
    return problems


# --------------------------------------------------------------------------- session summary


class DeviationSummary:
    """Per method, the largest deviation from MergeKit seen in the session."""

    def __init__(self):
        self.rows: dict[str, dict] = {}
        self.cases: list[tuple[str, Comparison]] = []

    def add(self, case: str, cmp: Comparison) -> None:
        self.cases.append((case, cmp))
        key = f"{cmp.policy.method} [{cmp.policy.describe()}]"
        row = self.rows.setdefault(key, dict(cases=set(), tensors=0, max_abs=0.0, max_rel=0.0,
                                             max_ulp=0.0, worst="", failed=0, logits=None))
        row["cases"].add(case)
        if cmp.logits_dev is not None:
            row["logits"] = max(row["logits"] or 0.0, cmp.logits_dev)
        for t in cmp.tensors:
            row["tensors"] += 1
            row["failed"] += 0 if t.ok else 1
            if t.max_abs > row["max_abs"]:
                row["max_abs"] = t.max_abs
                row["worst"] = f"{case}:{t.name}"
            row["max_rel"] = max(row["max_rel"], t.max_rel)
            row["max_ulp"] = max(row["max_ulp"], t.max_ulp)

    def lines(self) -> list[str]:
        if not self.rows:
            return []
        out = [f"{'method [policy]':<36} {'cases':>5} {'tensors':>7} {'fail':>4} {'max_abs':>9} "
               f"{'max_rel':>9} {'max_ulp':>8} {'logits':>9}  worst tensor"]
        for key in sorted(self.rows):
            r = self.rows[key]
            lg = "-" if r["logits"] is None else f"{r['logits']:.3g}"
            out.append(f"{key:<36} {len(r['cases']):>5} {r['tensors']:>7} {r['failed']:>4} "
                       f"{r['max_abs']:>9.3g} {r['max_rel']:>9.3g} {r['max_ulp']:>8.3g} {lg:>9}  {r['worst']}")
        return out

    def to_json(self) -> dict:
        return {
            case: {
                "policy": cmp.policy.describe(),
                "method": cmp.policy.method,
                "problems": cmp.problems,
                "logits_dev": cmp.logits_dev,
                "tensors": [t.__dict__ for t in cmp.tensors],
            }
            for case, cmp in self.cases
        }


SUMMARY = DeviationSummary()
