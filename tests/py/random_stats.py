"""Statistical checks for the random methods (dare_*, della*).

Random methods match MergeKit in statistics, not bits (COMPAT "Matching policy"). The
cases merge a single fine-tune into its base, so the output's task vector is the
fine-tune's, sparsified and scaled:

    out - base = weight * s * mask * d,   d = model - base,   s = L1(d) / L1(mask d) if rescale

Checks per tensor:
  - the kept fraction of the nonzero delta elements is within `sigmas` binomial standard
    deviations of the density (della: its keep probabilities average to the density);
  - every kept element carries the same factor (weight * s), dropped elements equal the base;
  - with rescale, L1(out - base) == weight * L1(d).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from compare import load_tensors


def sparsified_delta_problems(out_dir: Path, base_dir: Path, model_dir: Path, density: float,
                              weight: float = 1.0, rescale: bool = True, sigmas: float = 4.0,
                              min_elements: int = 16) -> tuple[list[str], dict]:
    out = load_tensors(out_dir)
    base = load_tensors(base_dir)
    model = load_tensors(model_dir)
    problems: list[str] = []
    kept_total = 0
    n_total = 0
    for name in sorted(out):
        if name not in base or name not in model:
            # an optional tensor missing from an input (tied lm_head): not part of this check
            continue
        o = out[name].to(torch.float64).flatten()
        b = base[name].to(torch.float64).flatten()
        x = model[name].to(torch.float64).flatten()
        d = x - b
        od = o - b
        nz = d != 0
        n = int(nz.sum())
        if n < min_elements:
            continue
        kept = (od != 0) & nz
        stray = (od != 0) & ~nz
        if bool(stray.any()):
            problems.append(f"{name}: {int(stray.sum())} elements changed where the delta is zero")
        k = int(kept.sum())
        kept_total += k
        n_total += n
        frac = k / n
        sd = math.sqrt(density * (1 - density) / n)
        if abs(frac - density) > sigmas * sd + 1.0 / n:
            problems.append(f"{name}: kept fraction {frac:.4f} of {n}, density {density} "
                            f"(|diff| {abs(frac - density):.4f} > {sigmas} sigma = {sigmas * sd:.4f})")
        if k == 0:
            continue
        ratio = od[kept] / d[kept]
        factor = float(ratio.median())
        # float32 storage of base + delta: relative error of (out - base) ~ eps32 |base| / |delta|
        tol = 64 * 2.0**-24 * (b[kept].abs() / d[kept].abs()).clamp_min(1.0)
        spread = ((ratio - factor).abs() / abs(factor)) > tol + 1e-6
        if bool(spread.any()):
            problems.append(f"{name}: kept elements do not share one scale factor "
                            f"({int(spread.sum())} of {k} off; median {factor:.6g})")
        if rescale:
            l1_out = float(od.abs().sum())
            l1_want = abs(weight) * float(d.abs().sum())
            if abs(l1_out - l1_want) > 1e-4 * l1_want:
                problems.append(f"{name}: L1(out - base) {l1_out:.7g} != weight * L1(delta) {l1_want:.7g}")
        else:
            if abs(factor - weight) > 1e-5 * max(1.0, abs(weight)):
                problems.append(f"{name}: kept elements scaled by {factor:.7g}, expected weight {weight}")
    summary = {"kept_fraction": kept_total / n_total if n_total else float("nan"), "elements": n_total}
    if n_total:
        sd = math.sqrt(density * (1 - density) / n_total)
        if abs(summary["kept_fraction"] - density) > sigmas * sd:
            problems.append(f"overall kept fraction {summary['kept_fraction']:.5f} vs density {density} "
                            f"(> {sigmas} sigma = {sigmas * sd:.5f})")
    else:
        problems.append("no tensor had a nonzero delta to measure")
    return problems, summary
