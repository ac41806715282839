"""Statistical checks for the random methods (dare_*, della*).

Random methods match MergeKit in statistics, not bits (COMPAT "Matching policy"). The
cases merge a single fine-tune into its base, so the output's task vector is the
fine-tune's, sparsified and scaled:

    out - base = weight * s * mask * d,   d = model - base,   s = L1(d) / L1(mask d) if rescale

Checks per tensor:
  - the kept fraction of the nonzero delta elements is within `sigmas` binomial standard
    deviations of the density (della: its keep probabilities average to the density);
  - della (`epsilon` given): per magnitude-rank bucket of the rows, the kept count is within
    `sigmas` standard deviations of the sum of that bucket's keep probabilities
    p = density - epsilon + 2 epsilon (r - 1) / (n - 1) (rank r of n along dim 1; p = density for
    rows of one element), per tensor and summed over all tensors;
  - every kept element carries the same factor (weight * s), dropped elements equal the base;
  - with rescale, L1(out - base) == weight * L1(d) up to the rounding of the stored values
    (a worst-case bound, not a loose relative tolerance).

consensus_problems checks two fine-tunes merged with sign consensus (dare_ties, della) without
rescale, where every element's result is one of four values fixed by which of the two deltas were
kept (see its docstring).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from compare import load_tensors


BUCKETS = 5


def della_probabilities(d: torch.Tensor, density: float, epsilon: float) -> torch.Tensor:
    """Each element's keep probability under della_magprune (flat, float64): ranks of |d| along
    dim 1 (a 1-D tensor is one row), ascending from 1; p = density for rows of one element."""
    t = d.to(torch.float64)
    if t.dim() < 2:
        t = t.unsqueeze(0)
    n = t.shape[1]
    if n == 1:
        return torch.full((t.numel(),), float(density), dtype=torch.float64)
    order = torch.argsort(t.abs(), dim=1, stable=True)
    ranks = torch.argsort(order, dim=1).to(torch.float64)  # r - 1
    return (density - epsilon + 2 * epsilon * ranks / (n - 1)).flatten()


def rank_buckets(p: torch.Tensor, density: float, epsilon: float) -> torch.Tensor:
    """Bucket 0..BUCKETS-1 of each element by its place in [density - eps, density + eps]."""
    if epsilon <= 0:
        return torch.zeros(p.shape, dtype=torch.long)
    pos = (p - (density - epsilon)) / (2 * epsilon)
    return (pos * BUCKETS).long().clamp(0, BUCKETS - 1)


class BucketTally:
    """Kept counts against expected counts sum(p), variance sum p (1 - p), per bucket."""

    def __init__(self):
        self.kept = [0.0] * BUCKETS
        self.expected = [0.0] * BUCKETS
        self.var = [0.0] * BUCKETS
        self.count = [0] * BUCKETS

    def add(self, kept: torch.Tensor, p: torch.Tensor, bucket: torch.Tensor) -> "BucketTally":
        for k in range(BUCKETS):
            sel = bucket == k
            self.kept[k] += float(kept[sel].sum())
            self.expected[k] += float(p[sel].sum())
            self.var[k] += float((p[sel] * (1 - p[sel])).sum())
            self.count[k] += int(sel.sum())
        return self

    def problems(self, label: str, sigmas: float) -> list[str]:
        out = []
        for k in range(BUCKETS):
            if self.count[k] == 0:
                continue
            sd = math.sqrt(self.var[k])
            dev = abs(self.kept[k] - self.expected[k])
            if dev > sigmas * sd + 1.0:
                out.append(f"{label}: rank bucket {k + 1}/{BUCKETS}: kept {self.kept[k]:.0f} of "
                           f"{self.count[k]}, expected {self.expected[k]:.1f} (|diff| {dev:.1f} > "
                           f"{sigmas} sigma = {sigmas * sd:.1f})")
        return out


def rounding_unit(t: torch.Tensor) -> float:
    """Half the machine epsilon of a stored tensor's dtype (the unit roundoff)."""
    return torch.finfo(t.dtype).eps / 2 if t.is_floating_point() else 0.0


def sparsified_delta_problems(out_dir: Path, base_dir: Path, model_dir: Path, density: float,
                              weight: float = 1.0, rescale: bool = True, sigmas: float = 4.0,
                              min_elements: int = 16,
                              epsilon: float | None = None) -> tuple[list[str], dict]:
    out = load_tensors(out_dir)
    base = load_tensors(base_dir)
    model = load_tensors(model_dir)
    problems: list[str] = []
    kept_total = 0
    n_total = 0
    all_buckets = BucketTally()
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
        if epsilon is not None:
            p = della_probabilities((model[name].to(torch.float64) - base[name].to(torch.float64)),
                                    density, epsilon)
            bucket = rank_buckets(p, density, epsilon)
            tally = BucketTally().add(kept[nz].to(torch.float64), p[nz], bucket[nz])
            all_buckets.add(kept[nz].to(torch.float64), p[nz], bucket[nz])
            problems += tally.problems(name, sigmas)
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
            # Worst case of the rounding: each stored element o = b + v rounded once (u |o|), v =
            # weight * s * d from a few roundings (4 u |v|), s itself rounded (u L1).
            u = rounding_unit(out[name])
            bound = u * float(o[kept].abs().sum()) + 5 * u * l1_out + 1e-12
            if abs(l1_out - l1_want) > bound:
                problems.append(f"{name}: L1(out - base) {l1_out:.9g} != weight * L1(delta) {l1_want:.9g} "
                                f"(|diff| {abs(l1_out - l1_want):.3g} > rounding bound {bound:.3g})")
        else:
            if abs(factor - weight) > 1e-5 * max(1.0, abs(weight)):
                problems.append(f"{name}: kept elements scaled by {factor:.7g}, expected weight {weight}")
    summary = {"kept_fraction": kept_total / n_total if n_total else float("nan"), "elements": n_total}
    if epsilon is not None:
        problems += all_buckets.problems("all tensors", sigmas)
        summary["bucket_kept"] = [k / c if c else float("nan")
                                  for k, c in zip(all_buckets.kept, all_buckets.count)]
        summary["bucket_expected"] = [e / c if c else float("nan")
                                      for e, c in zip(all_buckets.expected, all_buckets.count)]
    if n_total:
        sd = math.sqrt(density * (1 - density) / n_total)
        if abs(summary["kept_fraction"] - density) > sigmas * sd:
            problems.append(f"overall kept fraction {summary['kept_fraction']:.5f} vs density {density} "
                            f"(> {sigmas} sigma = {sigmas * sd:.5f})")
    else:
        problems.append("no tensor had a nonzero delta to measure")
    return problems, summary


def consensus_problems(out_dir: Path, base_dir: Path, models: list[dict], normalize: bool,
                       epsilon: float | None = None, sigmas: float = 4.0,
                       min_elements: int = 16) -> tuple[list[str], dict]:
    """Two fine-tunes merged with sign consensus and no rescale (dare_ties / della with
    `rescale: false`). `models`: [{model, weight, density}] in recipe order.

    With c_i = w_i d_i and m_i the (unknown) keep masks, the result at every element is one of four
    values, one per (m_1, m_2): the elected sign is that of m_1 c_1 + m_2 c_2 (>= 0: +1), a kept c_i
    counts only if its sign is the elected one, and with `normalize` the sum is divided by the
    weights that counted. Checks:
      - sign-consensus identity: every element of out - base equals one of its four values (a
        merge without the election, e.g. the plain sum of two kept deltas of opposite sign, or a
        vote on unweighted deltas, leaves elements that match none);
      - where the element's value reveals m_i (both signs agree, or the other model's delta was
        dropped, or model i wins the vote), the kept fraction of each model is within `sigmas`
        standard deviations of its keep probabilities (density, or della's per-rank p, also per
        rank bucket). Masks of different models are independent, so this selection does not bias
        m_i; a wrong election (the loser kept) shows as the winner's kept fraction falling to
        p_w (1 - p_l).
    """
    assert len(models) == 2, "consensus_problems handles two fine-tunes"
    out = load_tensors(out_dir)
    base = load_tensors(base_dir)
    xs = [load_tensors(Path(m["model"])) for m in models]
    w = [float(m["weight"]) for m in models]
    dens = [float(m["density"]) for m in models]
    problems: list[str] = []
    tallies = [BucketTally(), BucketTally()]
    observed = [0, 0]
    unmatched_total = 0
    elements = 0
    for name in sorted(out):
        if name not in base or any(name not in x for x in xs):
            continue
        o = out[name].to(torch.float64).flatten()
        b = base[name].to(torch.float64).flatten()
        ds = [x[name].to(torch.float64).flatten() - b for x in xs]
        if min(int((d != 0).sum()) for d in ds) < min_elements:
            continue
        od = o - b
        c = [w[i] * ds[i] for i in range(2)]
        combos = [(0, 0), (1, 0), (0, 1), (1, 1)]
        values = []
        for m in combos:
            vote = m[0] * c[0] + m[1] * c[1]
            elected = torch.where(vote >= 0, 1.0, -1.0).to(torch.float64)
            counts = [(m[i] == 1) & (torch.sign(c[i]) == elected) for i in range(2)]
            num = sum(torch.where(counts[i], c[i], 0.0) for i in range(2))
            if normalize:
                div = sum(torch.where(counts[i], w[i], 0.0) for i in range(2))
                div = torch.where(div == 0, 1.0, div)
                num = num / div
            values.append(num)
        u = rounding_unit(out[name])
        # the engine rounds w_i d_i, their sum, the division and b + mixed: a few units of
        # roundoff of |b|, |out| and (|c_1| + |c_2|) / (smallest divisor)
        div_min = min(map(abs, w)) if normalize else 1.0
        tol = 16 * u * (b.abs() + o.abs() + (c[0].abs() + c[1].abs()) / div_min) + 1e-30
        match = torch.stack([(od - v).abs() <= tol for v in values])  # [4, n]
        none = ~match.any(dim=0)
        n_unmatched = int(none.sum())
        unmatched_total += n_unmatched
        elements += o.numel()
        if n_unmatched:
            i = int(torch.nonzero(none)[0])
            problems.append(
                f"{name}: {n_unmatched} of {o.numel()} elements match none of the four consensus "
                f"results, e.g. [{i}]: out - base {float(od[i]):.9g}, candidates "
                f"{[round(float(v[i]), 12) for v in values]} (d = {float(ds[0][i]):.6g}, "
                f"{float(ds[1][i]):.6g})")
        for i in range(2):
            takes = torch.tensor([m[i] for m in combos], dtype=torch.bool)[:, None]
            can1 = (match & takes).any(dim=0)
            can0 = (match & ~takes).any(dim=0)
            known = (can1 ^ can0) & (ds[i] != 0)
            kept = can1[known].to(torch.float64)
            if epsilon is not None:
                p = della_probabilities(xs[i][name].to(torch.float64) - base[name].to(torch.float64),
                                        dens[i], epsilon)
            else:
                p = torch.full_like(b, dens[i])
            bucket = rank_buckets(p, dens[i], epsilon or 0.0)
            tallies[i].add(kept, p[known], bucket[known])
            observed[i] += int(known.sum())
            k, e = float(kept.sum()), float(p[known].sum())
            sd = math.sqrt(float((p[known] * (1 - p[known])).sum()))
            if kept.numel() >= min_elements and abs(k - e) > sigmas * sd + 1:
                problems.append(f"{name}: model {i + 1} kept {k:.0f} of {kept.numel()} observable "
                                f"elements, expected {e:.1f} (> {sigmas} sigma = {sigmas * sd:.1f})")
    for i in range(2):
        problems += tallies[i].problems(f"model {i + 1}, all tensors", sigmas)
        if observed[i] < 1000:
            problems.append(f"model {i + 1}: only {observed[i]} elements reveal its mask: too few to judge")
    summary = {
        "elements": elements,
        "unmatched": unmatched_total,
        "observed": observed,
        "kept_fraction": [sum(t.kept) / max(1, sum(t.count)) for t in tallies],
        "expected_fraction": [sum(t.expected) / max(1, sum(t.count)) for t in tallies],
    }
    if elements == 0:
        problems.append("no tensor had nonzero deltas in both models")
    return problems, summary
