"""Statistical checks for arcee_fusion on tensors above 1e6 elements.

There the threshold median + 1.5 IQR of the importances comes from quantiles of 1e6 elements drawn
with replacement (COMPAT.md, "arcee_fusion"), so two implementations agree in statistics, not bits.
Importance, as COMPAT.md defines it, in float64 here:

    importance = |x - b| * KL(softmax(x) + 1e-8 || softmax(b) + 1e-8)   (per row, last dim)

Checks on one tensor of a merged output:
  - every element is the base's value or b + (x - b) rounded to the stored dtype;
  - (`threshold_rtol` given) the elements taken from the fine-tune are the ones whose importance
    reaches a threshold: the smallest taken importance is not below the largest left one by more
    than that relative margin (rounding of the importance in the compute dtype);
  - the fraction taken from the fine-tune is within `sigmas` standard deviations of the fraction
    the exact quantiles give. The standard deviation is measured: the threshold is recomputed from
    `redraws` fresh samples of SAMPLE_SIZE elements (torch's generator, fixed seed).
"""

from __future__ import annotations

import math

import torch

SAMPLE_SIZE = 1_000_000
QUANTILES = (0.25, 0.5, 0.75)


def importance(base: torch.Tensor, model: torch.Tensor) -> torch.Tensor:
    b = base.to(torch.float64)
    x = model.to(torch.float64)
    p = torch.softmax(x, dim=-1) + 1e-8
    q = torch.softmax(b, dim=-1) + 1e-8
    kl = (p * torch.log(p / q)).sum(dim=-1, keepdim=True)
    return ((x - b).abs() * kl).flatten()


def threshold(values: torch.Tensor) -> float:
    s = torch.sort(values).values
    n = s.numel()
    q1, med, q3 = (float(s[int(q * (n - 1))]) for q in QUANTILES)
    return med + 1.5 * (q3 - q1)


class Reference:
    """The exact-quantile fraction of one tensor and the spread of the sampled one."""

    def __init__(self, base: torch.Tensor, model: torch.Tensor, redraws: int = 8, seed: int = 0):
        self.importance = importance(base, model)
        n = self.importance.numel()
        self.exact_threshold = threshold(self.importance)
        self.exact_fraction = float((self.importance >= self.exact_threshold).double().mean())
        g = torch.Generator().manual_seed(seed)
        fractions = []
        for _ in range(redraws):
            idx = torch.randint(n, (SAMPLE_SIZE,), generator=g)
            t = threshold(self.importance[idx])
            fractions.append(float((self.importance >= t).double().mean()))
        f = torch.tensor(fractions, dtype=torch.float64)
        self.sampled_mean = float(f.mean())
        self.sd = float(f.std())


def taken_problems(name: str, out: torch.Tensor, base: torch.Tensor, model: torch.Tensor,
                   ref: Reference, sigmas: float = 5.0,
                   threshold_rtol: float | None = None) -> tuple[list[str], float]:
    """Problems of one output tensor, and the fraction of its elements taken from the fine-tune."""
    problems: list[str] = []
    o, b, x = out.flatten(), base.flatten().to(out.dtype), model.flatten().to(out.dtype)
    fused = b + (x - b)
    taken = (o != b) & (o == fused)
    odd = (o != b) & (o != fused)
    if bool(odd.any()):
        i = int(torch.nonzero(odd)[0])
        problems.append(f"{name}: {int(odd.sum())} elements are neither the base nor the fine-tune, "
                        f"e.g. [{i}] {float(o[i])} (base {float(b[i])}, fine-tune {float(x[i])})")
    n = o.numel()
    fraction = float(taken.double().sum()) / n
    if threshold_rtol is not None:
        imp = ref.importance
        left = (~taken) & (x != b)
        if bool(taken.any()) and bool(left.any()):
            lowest_taken, highest_left = float(imp[taken].min()), float(imp[left].max())
            if lowest_taken < highest_left * (1 - threshold_rtol):
                problems.append(f"{name}: not a threshold on the importance: an element of importance "
                                f"{lowest_taken:.6g} is taken while one of {highest_left:.6g} is not")
    dev = abs(fraction - ref.exact_fraction)
    if dev > sigmas * ref.sd + 1.0 / n:
        problems.append(f"{name}: fraction taken from the fine-tune {fraction:.6f}, exact quantiles give "
                        f"{ref.exact_fraction:.6f} (|diff| {dev:.2e} > {sigmas} sigma = {sigmas * ref.sd:.2e})")
    return problems, fraction


def sigma_bound(ref: Reference, sigmas: float = 5.0) -> float:
    """Allowed |difference| between two independent sampled fractions."""
    return sigmas * math.sqrt(2) * ref.sd
