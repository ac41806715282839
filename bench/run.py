#!/usr/bin/env python3
"""End-to-end benchmark: mergeforge against MergeKit on Llama-shaped bf16 checkpoints.

    python3 bench/run.py [--sizes 1b,3b] [--methods ties,linear] [--repeats 3] [--skip-mergekit]

For every size and method it writes a recipe (bench/run.py RECIPES) over the models of
bench/make_models.py (generated first if missing), then, after one untimed read of the inputs to
warm the page cache, runs `repeats` rounds of:
  1. the floor: read every input byte once (16 MiB reads into one reused buffer) and write the
     output's byte count once to a file on the output disk, then fsync it (mergeforge fsyncs its
     shards before renaming the output into place, so the floor does too; MergeKit does not fsync);
  2. mergeforge and MergeKit, each as a subprocess, in alternating order (mergeforge first in even
     rounds, MergeKit first in odd ones).
Each tool run is timed by wall clock from spawn to exit (MergeKit's interpreter start-up and imports
included: that is what its user waits for), while a sampler reads RssAnon from /proc/<pid>/status
for the process and all its descendants every 50 ms and keeps the peak (anonymous memory only:
ru_maxrss and VmHWM also count the mapped pages of the input files). After each run the output is
synced, outside the run's time (so dirty pages do not slow the next run), and deleted. The sync
is timed on its own: "MergeKit + sync" is the time until MergeKit's output is on disk, which
mergeforge's time already includes (it fsyncs).

Reported: the median wall time of the successful runs, the largest peak RssAnon of any run, and the
median floor. A run that fails, times out (--timeout, default 1800 s) or grows past --mem-cap of
anonymous memory (default 90% of RAM, so the machine is not driven into the OOM killer) is recorded
with what happened, and that tool is not run again for that size and method.

Prints the table and writes it, with the machine's description, the options and the targets that
were not met, to bench/RESULTS.md (--results). Raw per-run data go to SCRATCH/results/*.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_models  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ALL_METHODS = ["linear", "slerp", "task_arithmetic", "ties", "dare_ties", "della", "breadcrumbs"]
TIES_FAMILY = {"ties", "dare_ties", "della", "breadcrumbs"}
# Targets of the issue: minimum speed-up over MergeKit, maximum time over the floor.
SPEEDUP_TARGET = {m: (10.0 if m in TIES_FAMILY else 4.0) for m in ALL_METHODS}
FLOOR_TARGET = {"linear": 1.3, "task_arithmetic": 1.3, "slerp": 1.5,
                **{m: 2.0 for m in TIES_FAMILY}}
MEMORY_FRACTION_OF_MERGEKIT = 1 / 8

# Recipes, as MergeKit users write them. {base}, {ft1}... are the model directories.
RECIPES = {
    "linear": """\
merge_method: linear
models:
  - model: {ft1}
    parameters: {{weight: 0.6}}
  - model: {ft2}
    parameters: {{weight: 0.4}}
dtype: bfloat16
""",
    "slerp": """\
merge_method: slerp
base_model: {base}
models:
  - model: {base}
  - model: {ft1}
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5
dtype: bfloat16
""",
    "task_arithmetic": """\
merge_method: task_arithmetic
base_model: {base}
models:
  - model: {ft1}
    parameters: {{weight: 0.5}}
  - model: {ft2}
    parameters: {{weight: 0.3}}
  - model: {ft3}
    parameters: {{weight: 0.3}}
dtype: bfloat16
""",
    "ties": """\
merge_method: ties
base_model: {base}
models:
  - model: {ft1}
    parameters: {{weight: 0.5, density: 0.5}}
  - model: {ft2}
    parameters: {{weight: 0.3, density: 0.5}}
  - model: {ft3}
    parameters: {{weight: 0.3, density: 0.7}}
parameters: {{normalize: true}}
dtype: bfloat16
""",
    "dare_ties": """\
merge_method: dare_ties
base_model: {base}
models:
  - model: {ft1}
    parameters: {{weight: 0.5, density: 0.5}}
  - model: {ft2}
    parameters: {{weight: 0.3, density: 0.5}}
  - model: {ft3}
    parameters: {{weight: 0.3, density: 0.7}}
dtype: bfloat16
""",
    "della": """\
merge_method: della
base_model: {base}
models:
  - model: {ft1}
    parameters: {{weight: 0.5, density: 0.5, epsilon: 0.1}}
  - model: {ft2}
    parameters: {{weight: 0.5, density: 0.5, epsilon: 0.1}}
parameters: {{lambda: 1.0}}
dtype: bfloat16
""",
    "breadcrumbs": """\
merge_method: breadcrumbs
base_model: {base}
models:
  - model: {ft1}
    parameters: {{weight: 0.5, density: 0.9, gamma: 0.01}}
  - model: {ft2}
    parameters: {{weight: 0.3, density: 0.9, gamma: 0.01}}
  - model: {ft3}
    parameters: {{weight: 0.3, density: 0.9, gamma: 0.01}}
dtype: bfloat16
""",
}
MODELS_USED = {
    "linear": ["ft1", "ft2"], "slerp": ["base", "ft1"], "della": ["base", "ft1", "ft2"],
    **{m: ["base", "ft1", "ft2", "ft3"] for m in ["task_arithmetic", "ties", "dare_ties", "breadcrumbs"]},
}
RANDOM_SEED = 1


# ---------------------------------------------------------------------------------------------
# Measurement


def read_rss_anon_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"RssAnon:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_tree(root: int) -> list[int]:
    """root and its descendants (via /proc/<pid>/task/<tid>/children)."""
    pids, i = [root], 0
    while i < len(pids):
        pid = pids[i]
        i += 1
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/children") as f:
                        pids += [int(c) for c in f.read().split()]
                except OSError:
                    pass
        except OSError:
            pass
    return pids


def oom_kills() -> int:
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


@dataclass
class Run:
    tool: str
    status: str = "ok"          # ok | failed | timeout | oom | mem-cap
    seconds: float = 0.0
    peak_anon: int = 0          # bytes
    cpu_seconds: float = 0.0    # user + system time of the process tree
    sync_seconds: float = 0.0   # the untimed sync after the run: writing back what it left dirty
    returncode: int | None = None
    detail: str = ""
    log: str = ""


def run_measured(tool: str, cmd: list[str], log: Path, timeout: float, mem_cap: int,
                 interval: float = 0.05) -> Run:
    """Runs cmd, sampling the peak RssAnon of its process tree; stops it at timeout or mem_cap.

    Samples every 5 ms during the first second (short runs), then every `interval`."""
    result = Run(tool=tool, log=str(log))
    oom_before = oom_kills()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "wb") as out:
        out.write(("$ " + shlex.join(cmd) + "\n").encode())
        out.flush()
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        stop_reason: list[str] = []

        def sample() -> None:
            while proc.poll() is None:
                total = sum(read_rss_anon_kb(p) for p in process_tree(proc.pid)) * 1024
                result.peak_anon = max(result.peak_anon, total)
                if not stop_reason:
                    if total > mem_cap:
                        stop_reason.append("mem-cap")
                    elif time.monotonic() - start > timeout:
                        stop_reason.append("timeout")
                    if stop_reason:
                        try:
                            os.killpg(proc.pid, signal.SIGKILL)
                        except OSError:
                            pass
                time.sleep(interval if time.monotonic() - start > 1.0 else 0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            proc.wait()
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        result.seconds = time.monotonic() - start
        sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.cpu_seconds = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    result.returncode = proc.returncode
    if stop_reason:
        result.status = stop_reason[0]
        result.detail = (f"timed out after {timeout:.0f} s" if result.status == "timeout" else
                         f"stopped at the memory cap ({fmt_bytes(mem_cap)} anonymous) after "
                         f"{result.seconds:.0f} s")
    elif proc.returncode != 0:
        if proc.returncode == -signal.SIGKILL and oom_kills() > oom_before:
            result.status = "oom"
            result.detail = f"killed by the OOM killer after {result.seconds:.0f} s"
        else:
            result.status = "failed"
            result.detail = f"exit status {proc.returncode} after {result.seconds:.0f} s"
        result.detail += "; log: " + str(log)
    return result


def read_files(paths: list[Path], buf: bytearray) -> int:
    total = 0
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                total += n
    return total


def measure_floor(inputs: list[Path], out_bytes: int, out_dir: Path) -> dict:
    """Time to read every input byte once plus write out_bytes once (and fsync them)."""
    buf = bytearray(16 << 20)
    t0 = time.monotonic()
    read_bytes = read_files(inputs, buf)
    t1 = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "floor.bin"
    view = memoryview(buf)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        left = out_bytes
        while left > 0:
            left -= os.write(fd, view[: min(left, len(buf))])
        os.fsync(fd)
    finally:
        os.close(fd)
    t2 = time.monotonic()
    path.unlink()
    return {"read_s": t1 - t0, "write_s": t2 - t1, "seconds": t2 - t0, "read_bytes": read_bytes,
            "write_bytes": out_bytes}


# ---------------------------------------------------------------------------------------------
# Formatting and machine description


def fmt_bytes(n: float) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    if n >= 100 * 2**20:
        return f"{n / 2**20:.0f} MiB"
    return f"{n / 2**20:.1f} MiB"


def fmt_size(size: str) -> str:
    return f"{size} ({make_models.param_count(size) / 1e9:.2f}B)" if size not in ("tiny",) else (
        f"tiny ({make_models.param_count(size) / 1e6:.1f}M)")


def command_output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_description(scratch: Path) -> list[str]:
    lscpu = command_output(["lscpu"])
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    model = fields.get("Model name", platform.processor()).strip()
    cpus = fields.get("CPU(s)", str(os.cpu_count())).strip()
    mem_total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    df = command_output(["df", "-hT", str(scratch)]).splitlines()
    disk = " ".join(df[-1].split()[:3]) if len(df) > 1 else "?"
    source = df[-1].split()[0] if len(df) > 1 else ""
    rotational = ""
    if source.startswith("/dev/"):
        dev = Path(source).name
        for cand in [dev, dev.rstrip("0123456789"), dev.rstrip("0123456789").removesuffix("p")]:
            rot = Path(f"/sys/block/{cand}/queue/rotational")
            if rot.exists():
                rotational = ", rotational" if rot.read_text().strip() == "1" else ", non-rotational"
                break
    return [
        f"- CPU: {model}, {cpus} logical CPU(s) (`nproc`: {os.cpu_count()})",
        f"- RAM: {fmt_bytes(mem_total)} (no swap)" if not swap_total() else
        f"- RAM: {fmt_bytes(mem_total)}, swap {fmt_bytes(swap_total())}",
        f"- Disk (scratch {scratch}): {disk}{rotational}",
        f"- Kernel: {platform.system()} {platform.release()}",
        f"- Load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def swap_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("SwapTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def versions(mergeforge: Path) -> list[str]:
    from importlib import metadata

    def pkg(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    mf_version = command_output([str(mergeforge), "--version"]) or "?"
    git = command_output(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    return [
        f"- mergeforge {mf_version} ({mergeforge}{', git ' + git if git else ''})",
        f"- MergeKit {pkg('mergekit')}, torch {pkg('torch')}, transformers {pkg('transformers')}, "
        f"Python {platform.python_version()}",
    ]


def parse_memory(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    return int(float(t[:-1] if scale != 1 else t) * scale)


# ---------------------------------------------------------------------------------------------
# The benchmark


@dataclass
class Cell:
    size: str
    method: str
    floors: list[dict] = field(default_factory=list)
    runs: dict[str, list[Run]] = field(default_factory=lambda: {"mergeforge": [], "mergekit": []})

    def ok_times(self, tool: str) -> list[float]:
        return [r.seconds for r in self.runs[tool] if r.status == "ok"]

    def time(self, tool: str) -> float | None:
        t = self.ok_times(tool)
        return statistics.median(t) if t else None

    def peak(self, tool: str) -> int | None:
        p = [r.peak_anon for r in self.runs[tool]]
        return max(p) if p else None

    def failure(self, tool: str) -> Run | None:
        return next((r for r in self.runs[tool] if r.status != "ok"), None)

    def synced_time(self, tool: str) -> float | None:
        """Median time until the output is on disk: the run plus the sync after it."""
        t = [r.seconds + r.sync_seconds for r in self.runs[tool] if r.status == "ok"]
        return statistics.median(t) if t else None

    def cpu(self, tool: str) -> float | None:
        t = [r.cpu_seconds for r in self.runs[tool] if r.status == "ok"]
        return statistics.median(t) if t else None

    def floor(self) -> float | None:
        return statistics.median(f["seconds"] for f in self.floors) if self.floors else None


def tool_cell(cell: Cell, tool: str, skipped: bool) -> str:
    if skipped and not cell.runs[tool]:
        return "skipped"
    t, fail = cell.time(tool), cell.failure(tool)
    if fail and t is None:
        return {"timeout": "timeout", "oom": "OOM-killed", "mem-cap": "mem cap",
                "failed": "failed"}[fail.status] + f" ({fail.seconds:.0f} s)"
    return f"{t:.2f}" if t is not None else "-"


def mem_cell(cell: Cell, tool: str) -> str:
    p = cell.peak(tool)
    if p is None:
        return "-"
    fail = cell.failure(tool)
    return (">= " if fail and fail.status != "ok" and cell.time(tool) is None else "") + fmt_bytes(p)


def table(cells: list[Cell], skip_mergekit: bool) -> list[str]:
    rows = ["| method | size | mergeforge s | MergeKit s | speed-up | MergeKit + sync s "
            "| mergeforge / floor | floor s | mergeforge peak RssAnon | MergeKit peak RssAnon "
            "| memory ratio | mergeforge CPU s | MergeKit CPU s |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for c in cells:
        mf, mk, fl = c.time("mergeforge"), c.time("mergekit"), c.floor()
        mfp, mkp = c.peak("mergeforge"), c.peak("mergekit")
        speedup = f"{mk / mf:.1f}x" if mf and mk else "-"
        mk_fail = c.failure("mergekit")
        if mf and not mk and mk_fail and mk_fail.status == "timeout":
            speedup = f"> {mk_fail.seconds / mf:.0f}x"  # MergeKit did not finish in the time limit
        over_floor = f"{mf / fl:.2f}" if mf and fl else "-"
        ratio = f"1/{mkp / mfp:.0f}" if mfp and mkp and mk else "-"
        cpu = {t: (f"{c.cpu(t):.1f}" if c.cpu(t) is not None else "-") for t in c.runs}
        floor = f"{fl:.2f}" if fl is not None else "-"
        mk_synced = c.synced_time("mergekit")
        synced = f"{mk_synced:.2f}" if mk_synced is not None else "-"
        rows.append(f"| {c.method} | {c.size} | {tool_cell(c, 'mergeforge', False)} "
                    f"| {tool_cell(c, 'mergekit', skip_mergekit)} | {speedup} | {synced} | {over_floor} "
                    f"| {floor} | {mem_cell(c, 'mergeforge')} | {mem_cell(c, 'mergekit')} | {ratio} "
                    f"| {cpu['mergeforge']} | {cpu['mergekit']} |")
    return rows


def target_misses(cells: list[Cell], max_memory: int) -> list[str]:
    misses = []
    for c in cells:
        where = f"{c.method} {c.size}"
        mf, mk, fl = c.time("mergeforge"), c.time("mergekit"), c.floor()
        mfp, mkp = c.peak("mergeforge"), c.peak("mergekit")
        if c.failure("mergeforge"):
            misses.append(f"{where}: mergeforge {c.failure('mergeforge').detail}")
        if mf and mk and mk / mf < SPEEDUP_TARGET[c.method]:
            misses.append(f"{where}: speed-up {mk / mf:.1f}x < {SPEEDUP_TARGET[c.method]:.0f}x")
        if mf and fl and mf / fl > FLOOR_TARGET[c.method]:
            misses.append(f"{where}: {mf / fl:.2f}x the floor > {FLOOR_TARGET[c.method]}x")
        if mfp is not None and mfp > max_memory:
            misses.append(f"{where}: peak RssAnon {fmt_bytes(mfp)} > --max-memory {fmt_bytes(max_memory)}")
        if mfp and mkp and mk and mfp > mkp * MEMORY_FRACTION_OF_MERGEKIT:
            misses.append(f"{where}: peak RssAnon {fmt_bytes(mfp)} > 1/8 of MergeKit's {fmt_bytes(mkp)}")
    return misses


def flatness(cells: list[Cell], sizes: list[str]) -> list[str]:
    """mergeforge's peak memory across sizes, per method (should be flat)."""
    lines = []
    by_method: dict[str, dict[str, int]] = {}
    for c in cells:
        if c.peak("mergeforge") is not None:
            by_method.setdefault(c.method, {})[c.size] = c.peak("mergeforge")
    for method, peaks in by_method.items():
        if len(peaks) > 1:
            lines.append(f"- {method}: " + ", ".join(f"{s} {fmt_bytes(peaks[s])}" for s in sizes if s in peaks))
    return lines


def ensure_outside_repo(scratch: Path) -> None:
    s = scratch.resolve()
    if s == REPO or REPO in s.parents:
        sys.exit(f"run.py: the scratch directory {s} is inside the repository {REPO}; "
                 "use --scratch or MERGEFORGE_BENCH_DIR to put it elsewhere")


def default_mergeforge() -> Path:
    for cand in [REPO / "build-bench" / "mergeforge", REPO / "build" / "mergeforge"]:
        if cand.exists():
            return cand
    return REPO / "build-bench" / "mergeforge"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1b,3b", help=f"of {', '.join(make_models.SIZES)} (default 1b,3b)")
    ap.add_argument("--methods", default=",".join(ALL_METHODS), help="default: all seven")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per size and method (default 3)")
    ap.add_argument("--skip-mergekit", action="store_true", help="run mergeforge and the floor only")
    ap.add_argument("--scratch", type=Path, default=None,
                    help="models, recipes, outputs, logs (default $MERGEFORGE_BENCH_DIR or "
                         "/work/bench-scratch; not inside the repository)")
    ap.add_argument("--mergeforge", type=Path, default=None,
                    help="binary (default build-bench/mergeforge, else build/mergeforge)")
    ap.add_argument("-j", "--threads", type=int, default=2, help="threads for both tools (default 2)")
    ap.add_argument("--max-memory", default="1G", help="mergeforge --max-memory (default 1G)")
    ap.add_argument("--mergekit-flags", default="--lazy-unpickle --async-write",
                    help="extra mergekit-yaml flags (default: %(default)s; -j, --random-seed, "
                         "--no-copy-tokenizer are always passed)")
    ap.add_argument("--timeout", type=float, default=1800, help="per run, seconds (default 1800)")
    ap.add_argument("--mem-cap", default=None,
                    help="stop a run whose anonymous memory grows past this (default 90%% of RAM)")
    ap.add_argument("--results", type=Path, default=None,
                    help="markdown report (default bench/RESULTS.md, SCRATCH/RESULTS-tiny.md for "
                         "--sizes tiny); 'none' to skip")
    ap.add_argument("--micro", type=Path, default=None,
                    help="Google Benchmark console output to include in the report")
    args = ap.parse_args()

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for s in sizes:
        if s not in make_models.SIZES:
            ap.error(f"unknown size {s!r} (known: {', '.join(make_models.SIZES)})")
    for m in methods:
        if m not in RECIPES:
            ap.error(f"unknown method {m!r} (known: {', '.join(ALL_METHODS)})")
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    scratch = (args.scratch or make_models.default_scratch()).resolve()
    ensure_outside_repo(scratch)
    mergeforge = (args.mergeforge or default_mergeforge()).resolve()
    if not mergeforge.exists():
        sys.exit(f"run.py: no mergeforge binary at {mergeforge} (build it, or pass --mergeforge)")
    mergekit = shutil.which("mergekit-yaml")
    if not args.skip_mergekit and mergekit is None:
        sys.exit("run.py: mergekit-yaml not found (scripts/install-deps.sh --bench), or pass --skip-mergekit")
    max_memory = parse_memory(args.max_memory)
    mem_cap = parse_memory(args.mem_cap) if args.mem_cap else int(0.9 * mem_total())
    started = dt.datetime.now().astimezone()
    header = machine_description(scratch) + versions(mergeforge)

    models = {s: make_models.generate(s, scratch) for s in sizes}
    for sub in ["recipes", "out", "logs", "results"]:
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    raw = scratch / "results" / f"run-{started.strftime('%Y%m%d-%H%M%S')}.json"
    # A tiny run checks the pipeline: it does not replace the real results unless asked to.
    results = (None if str(args.results) == "none" else args.results if args.results is not None else
               scratch / "RESULTS-tiny.md" if sizes == ["tiny"] else REPO / "bench" / "RESULTS.md")

    def report(final: bool) -> None:
        """Writes the raw data and the report; after every cell, so an interrupted run leaves both."""
        lines = table(cells, args.skip_mergekit)
        misses = target_misses(cells, max_memory)
        if final:
            print()
            print("\n".join(lines))
            if misses:
                print("\nTargets not met:\n" + "\n".join("- " + m for m in misses))
        raw.write_text(json.dumps({
            "started": started.isoformat(), "argv": sys.argv, "machine": header, "complete": final,
            "cells": [{"size": c.size, "method": c.method, "floors": c.floors,
                       "runs": {t: [vars(r) for r in rs] for t, rs in c.runs.items()}} for c in cells],
        }, indent=2) + "\n")
        if final:
            print(f"\nraw data: {raw}")
        if results is None:
            return
        per_model = {s: sum(p.stat().st_size for p in (models[s] / "base").glob("*.safetensors")) for s in sizes}
        text = [
            "# mergeforge benchmark results", "",
            f"Generated by bench/run.py on {started.strftime('%Y-%m-%d %H:%M %Z')}"
            + (f", {(dt.datetime.now().astimezone() - started).total_seconds() / 60:.0f} min." if final else
               f"; INCOMPLETE: {len(cells)} of {len(sizes) * len(methods)} recipes so far."), "",
            "## Machine", "", *header, "",
            "## Setup", "",
            f"- Command: `{shlex.join(['bench/run.py', *sys.argv[1:]])}`",
            "- Models: bench/make_models.py, Llama-shaped bf16, tied embeddings, sharded at 2 GB; "
            + "; ".join(f"{fmt_size(s)}: {fmt_bytes(per_model[s])} per model" for s in sizes) + ".",
            f"- mergeforge: `merge -j {args.threads} --max-memory {args.max_memory} --random-seed "
            f"{RANDOM_SEED} --no-copy-tokenizer -q`",
            f"- MergeKit: `mergekit-yaml -j {args.threads} --random-seed {RANDOM_SEED} --no-copy-tokenizer "
            f"--quiet {args.mergekit_flags}` (CPU)",
            f"- {args.repeats} round(s) per size and method after one warm-up read of the inputs; the tools "
            "alternate which runs first; times are medians of the successful runs (wall clock, process "
            "start to exit), memory the largest peak RssAnon of the process tree (sampled every 5 ms in "
            "the first second, then every 50 ms), CPU the median user + system time.",
            f"- Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on "
            "the machine inflates wall times; compare CPU times too).",
            "- Floor: read every input byte once (16 MiB reads, page cache warm where it fits) plus write "
            "the output's bytes once and fsync (mergeforge fsyncs its output; MergeKit does not, so its "
            "times exclude the writeback of its output: \"MergeKit + sync\" adds the sync run after it).",
            f"- Runs are stopped after {args.timeout:.0f} s or at {fmt_bytes(mem_cap)} of anonymous memory.",
            "", "## End to end", "", *lines, "",
            "Targets: speed-up >= 10x for ties, dare_ties, della, breadcrumbs and >= 4x for linear, slerp, "
            "task_arithmetic; mergeforge / floor <= 1.3 for linear and task_arithmetic, <= 1.5 for slerp, "
            f"<= 2 for the TIES family; peak RssAnon <= --max-memory ({args.max_memory}) and <= 1/8 of "
            "MergeKit's.", "",
        ]
        flat = flatness(cells, sizes)
        if flat:
            text += ["mergeforge's peak RssAnon by size (flat in model size is the target):", "", *flat, ""]
        text += ["### Targets not met", ""] + (["- " + m for m in misses] if misses else ["None."]) + [""]
        failures = [f"- {c.method} {c.size}, {t}: {c.failure(t).detail}" for c in cells
                    for t in c.runs if c.failure(t)]
        if failures:
            text += ["### Failed runs", "", *failures, ""]
        notes = [f"- {s}: the largest recipe reads {fmt_bytes(4 * per_model[s])} and RAM is "
                 f"{fmt_bytes(mem_total())}: the inputs do not all stay in the page cache, so reads come "
                 "partly from disk for the floor and both tools." for s in sizes
                 if 4 * per_model[s] > 0.8 * mem_total()]
        if notes:
            text += ["### Notes", "", *notes, ""]
        if args.micro and args.micro.exists():
            text += ["## Kernel micro-benchmarks", "",
                     "Google Benchmark (bench/micro/, see bench/README.md), one thread; bytes/s counts the "
                     "bytes the kernel reads (bf16 for conversion from bf16, float32 otherwise).", "", "```",
                     args.micro.read_text().rstrip(), "```", ""]
        results.write_text("\n".join(text))
        if final:
            print(f"report: {results}")

    cells: list[Cell] = []
    for size in sizes:
        root = models[size]
        for method in methods:
            cell = Cell(size, method)
            cells.append(cell)
            recipe = scratch / "recipes" / f"{size}-{method}.yml"
            recipe.write_text(RECIPES[method].format(**{m: root / m for m in make_models.MODELS}))
            inputs = sorted(p for m in MODELS_USED[method] for p in (root / m).glob("*.safetensors"))
            out_bytes = sum(p.stat().st_size for p in (root / "base").glob("*.safetensors"))
            out_root = scratch / "out"
            out_dirs = {"mergeforge": out_root / f"{size}-{method}-mf",
                        "mergekit": out_root / f"{size}-{method}-mk"}
            commands = {
                "mergeforge": [str(mergeforge), "merge", str(recipe), str(out_dirs["mergeforge"]),
                               "-j", str(args.threads), "--max-memory", args.max_memory,
                               "--random-seed", str(RANDOM_SEED), "--no-copy-tokenizer", "-q"],
                "mergekit": [mergekit or "mergekit-yaml", str(recipe), str(out_dirs["mergekit"]),
                             "-j", str(args.threads), "--random-seed", str(RANDOM_SEED),
                             "--no-copy-tokenizer", "--quiet", *shlex.split(args.mergekit_flags)],
            }
            tools = ["mergeforge"] + ([] if args.skip_mergekit else ["mergekit"])
            print(f"== {method} {size}: {len(inputs)} input files, "
                  f"{fmt_bytes(sum(p.stat().st_size for p in inputs))}", flush=True)
            read_files(inputs, bytearray(16 << 20))  # warm the page cache
            for r in range(args.repeats):
                floor = measure_floor(inputs, out_bytes, out_root)
                cell.floors.append(floor)
                print(f"   round {r + 1}: floor {floor['seconds']:.2f} s (read {floor['read_s']:.2f} "
                      f"+ write {floor['write_s']:.2f})", flush=True)
                order = tools if r % 2 == 0 else tools[::-1]
                for tool in order:
                    if cell.failure(tool):
                        continue  # it failed before: do not spend another timeout on it
                    out_dir = out_dirs[tool]
                    shutil.rmtree(out_dir, ignore_errors=True)
                    log = scratch / "logs" / f"{size}-{method}-{tool}-{r + 1}.log"
                    run = run_measured(tool, commands[tool], log, args.timeout, mem_cap)
                    cell.runs[tool].append(run)
                    sync_start = time.monotonic()
                    os.sync()
                    run.sync_seconds = time.monotonic() - sync_start
                    shutil.rmtree(out_dir, ignore_errors=True)
                    for hidden in out_root.glob(f".{out_dir.name}*"):  # a failed run's partial output
                        shutil.rmtree(hidden, ignore_errors=True)
                    status = f"{run.seconds:.2f} s" if run.status == "ok" else run.detail
                    print(f"   round {r + 1}: {tool:10s} {status} (CPU {run.cpu_seconds:.2f} s, sync after "
                          f"{run.sync_seconds:.2f} s), peak RssAnon {fmt_bytes(run.peak_anon)}", flush=True)
            report(final=False)
    report(final=True)

    return 0


if __name__ == "__main__":
    sys.exit(main())
