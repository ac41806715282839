"""Crash safety of `mergeforge merge`: a merge killed with SIGKILL at random points and finished with
`--resume` is byte-identical to an uninterrupted one; SIGINT / SIGTERM stop it within a second with exit
status 130, keep a resumable partial merge and say how to resume; a full disk is a clean error that leaves
nothing at the target.

Models are generated with numpy (no torch), large enough that a merge takes about a second. Runs on its own:
    MERGEFORGE_BIN=build/mergeforge python3 -m pytest --noconftest tests/py/test_crash_safety.py -q
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import tiny_models as tm

REPO = Path(__file__).resolve().parents[2]
SEED = 20240607  # fixed: the kill points are random but reproducible

RECIPE = """\
merge_method: dare_ties
base_model: {models}/base
models:
  - model: {models}/a
    parameters: {{weight: [0.3, 0.7], density: 0.6}}
  - model: {models}/b
    parameters: {{weight: 0.5, density: [{{filter: mlp, value: 0.4}}, {{value: 0.7}}]}}
parameters: {{normalize: true}}
dtype: float32
"""
# Several output shards, so a kill can land between any two of them.
MERGE_ARGS = ["--out-shard-size", "8M", "--random-seed", "7", "-j", "2", "-q"]


def mergeforge_bin() -> Path:
    return Path(os.environ.get("MERGEFORGE_BIN") or REPO / "build" / "mergeforge")


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.mergeforge-partial"


def merge_cmd(recipe: Path, out: Path, *extra: str) -> list[str]:
    return [str(mergeforge_bin()), "merge", str(recipe), str(out), *MERGE_ARGS, *extra]


def run_merge(recipe: Path, out: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(merge_cmd(recipe, out, *extra), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    """(recipe, reference output, seconds an uninterrupted merge takes)."""
    root = tmp_path_factory.mktemp("crash-models")
    # About 100 MB per model (F32), 3 inputs, 57 output tensors over a dozen shards: a merge takes 1-2 s.
    shape = dict(layers=6, hidden=512, vocab=4096, intermediate=1536)
    tm.write_llama(root / "base", seed=10, **shape)
    tm.write_llama(root / "a", seed=11, **shape)
    tm.write_llama(root / "b", seed=12, **shape)
    recipe = root / "recipe.yml"
    recipe.write_text(RECIPE.format(models=root))
    reference = root / "reference" / "out"  # the model card names the output directory: same name everywhere
    start = time.monotonic()
    proc = run_merge(recipe, reference)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    files = tm.dir_bytes(reference)
    assert sum(name.endswith(".safetensors") for name in files) >= 3, sorted(files)
    assert "model.safetensors.index.json" in files and "config.json" in files
    return recipe, files, elapsed


def differing_files(got: dict[str, bytes], expected: dict[str, bytes]) -> list[str]:
    return sorted(n for n in set(got) | set(expected) if got.get(n) != expected.get(n))


def wait_for_progress(out: Path, proc: subprocess.Popen, min_entries: int = 1, timeout: float = 60) -> None:
    """Until the merge has journaled `min_entries` tensors (so it is past planning and writing data)."""
    journal = partial_dir(out) / "tensors.journal"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        try:
            if journal.read_text().count("\n") >= min_entries:
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise AssertionError("the merge made no progress")


def test_kill_9_then_resume_is_byte_identical(workload, tmp_path):
    recipe, reference, elapsed = workload
    rng = random.Random(SEED)
    resumed_with_work_kept = 0
    for trial in range(5):
        out = tmp_path / f"trial{trial}" / "out"
        out.parent.mkdir()
        kills = []
        # One or two kills at random points (the second one during the resumed run), then a resume to the end.
        for attempt in range(rng.choice([1, 2])):
            delay = rng.uniform(0.02, 0.95) * elapsed
            proc = subprocess.Popen(merge_cmd(recipe, out, *(["--resume"] if attempt else [])),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
            kills.append(f"{delay:.3f}s -> {proc.returncode}")
            if proc.returncode == 0:
                break  # finished before the kill: nothing to resume
            assert proc.returncode == -signal.SIGKILL, err
            if out.exists():
                # Killed after the final rename: then the output must already be complete.
                assert not differing_files(tm.dir_bytes(out), reference), f"a killed merge looks complete ({kills})"
        final = run_merge(recipe, out, "--resume")
        assert final.returncode == 0, f"kills {kills}\n{final.stderr}"
        if "already written and verified" in final.stderr and " 0 of " not in final.stderr:
            resumed_with_work_kept += 1
        differing = differing_files(tm.dir_bytes(out), reference)
        assert not differing, f"kills {kills}: files differ from an uninterrupted run: {differing}"
        assert not partial_dir(out).exists()
    # The point of the journal: at least one resume started from tensors a killed run had written.
    assert resumed_with_work_kept >= 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_within_a_second_and_resumes(workload, tmp_path, sig):
    recipe, reference, _ = workload
    out = tmp_path / "out"
    proc = subprocess.Popen(merge_cmd(recipe, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_progress(out, proc, min_entries=2)
    if proc.poll() is not None:
        pytest.fail("the merge finished before it could be interrupted; make the workload larger")
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    stopped_after = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert stopped_after < 1.0, f"took {stopped_after:.2f}s to stop"
    assert "--resume" in err, err
    assert "Traceback" not in err and "terminate called" not in err
    assert partial_dir(out).is_dir(), "the partial merge must be kept for --resume"
    assert not out.exists()

    final = run_merge(recipe, out, "--resume")
    assert final.returncode == 0, final.stderr
    assert "already written and verified" in final.stderr
    assert not differing_files(tm.dir_bytes(out), reference)
    assert not partial_dir(out).exists()


def mount_small_fs(mountpoint: Path, size_bytes: int, tmpfs_only: bool = False) -> tuple[str | None, str | None]:
    """Mounts a size-limited file system at mountpoint: a tmpfs, else (unless tmpfs_only) an ext4 image on a
    loop device. Returns (its type, None), or (None, why it is impossible here)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    tried = []
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(mountpoint)],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return "tmpfs", None
    tried.append(f"tmpfs: {r.stderr.strip() or r.returncode}")
    if tmpfs_only:
        return None, "cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): " + "; ".join(tried)
    image = mountpoint.parent / "small.img"
    if shutil.which("mkfs.ext4"):
        with open(image, "wb") as f:
            f.truncate(size_bytes)
        r = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
        if r.returncode == 0:
            r = subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], capture_output=True, text=True)
            if r.returncode == 0:
                return "ext4", None
        tried.append(f"loop ext4: {r.stderr.strip() or r.returncode}")
    else:
        tried.append("loop ext4: no mkfs.ext4")
    return None, "cannot mount a small file system here (needs root and CAP_SYS_ADMIN): " + "; ".join(tried)


@pytest.fixture
def small_disk(tmp_path):
    """mount(size_bytes, tmpfs_only=False) -> mount point; everything mounted is unmounted afterwards."""
    mounted = []

    def mount(size_bytes: int, tmpfs_only: bool = False) -> Path:
        mountpoint = tmp_path / f"small{len(mounted)}"
        kind, why = mount_small_fs(mountpoint, size_bytes, tmpfs_only)
        if why:
            pytest.skip(why)
        mounted.append(mountpoint)
        return mountpoint

    yield mount
    for mountpoint in mounted:
        subprocess.run(["umount", str(mountpoint)], capture_output=True)


def check_disk_full_error(proc: subprocess.CompletedProcess, out: Path) -> None:
    assert proc.returncode == 7, proc.stderr
    assert "no space left" in proc.stderr.lower(), proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) <= 5 and lines[0].startswith("mergeforge: "), proc.stderr
    for marker in ("Traceback", "terminate called", "what():"):
        assert marker not in proc.stderr
    assert not out.exists(), "nothing may appear at the target"


def tmpfs_bytes(reference: dict[str, bytes], extra_pages: int) -> int:
    """A tmpfs size (tmpfs counts whole pages of file data) that holds the output's shards and extra_pages."""
    page = os.sysconf("SC_PAGE_SIZE")
    shard_pages = sum(-(-len(data) // page) for name, data in reference.items() if name.endswith(".safetensors"))
    return (shard_pages + extra_pages) * page


def test_disk_full_before_the_merge_starts(workload, small_disk):
    """8 MB for ~100 MB of shards: the space reservation fails up front, and the partial directory goes."""
    recipe, _, _ = workload
    disk = small_disk(8 << 20)
    out = disk / "out"
    proc = run_merge(recipe, out)
    check_disk_full_error(proc, out)
    assert "reserving space" in proc.stderr, proc.stderr
    assert sorted(os.listdir(disk)) in ([], ["lost+found"]), "the space must be given back"


def test_disk_full_during_the_merge_is_resumable(workload, small_disk):
    """Room for the shards and the resume record but not the journal: the merge stops on its first tensor,
    keeps what it wrote and says how to resume; once there is space, --resume finishes it identically."""
    recipe, reference, _ = workload
    disk = small_disk(tmpfs_bytes(reference, extra_pages=1), tmpfs_only=True)
    out = disk / "out"
    proc = run_merge(recipe, out)
    check_disk_full_error(proc, out)
    assert "tensors.journal" in proc.stderr and "--resume" in proc.stderr, proc.stderr
    assert (partial_dir(out) / "resume.json").is_file()

    grow = subprocess.run(["mount", "-o", f"remount,size={tmpfs_bytes(reference, 64)}", str(disk)],
                          capture_output=True, text=True)
    assert grow.returncode == 0, grow.stderr
    final = run_merge(recipe, out, "--resume")
    assert final.returncode == 0, final.stderr
    assert not differing_files(tm.dir_bytes(out), reference)
    assert not partial_dir(out).exists()


def test_disk_full_while_finishing(workload, small_disk):
    """Every tensor fits, the index / config.json / model card do not: a clean error, nothing at the target,
    the partial directory removed (its journal is already gone by then)."""
    recipe, reference, _ = workload
    disk = small_disk(tmpfs_bytes(reference, extra_pages=2), tmpfs_only=True)
    out = disk / "out"
    proc = run_merge(recipe, out)
    check_disk_full_error(proc, out)
    assert os.listdir(disk) == [], "the space must be given back"


# --- finishing: durability and replacing an earlier output -----------------------------------------------

def strace_merge(recipe: Path, out: Path, log: Path, *extra: str) -> subprocess.CompletedProcess:
    """The merge under strace: its file syncs and renames, every descriptor shown with its path (-y)."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    cmd = ["strace", "-f", "-y", "-qq", "-o", str(log), "-e", "trace=fsync,fdatasync,rename,renameat,renameat2",
           *merge_cmd(recipe, out, *extra)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()}")
    return proc


def test_finishing_syncs_everything_and_swaps_an_earlier_output_in_one_step(workload, tmp_path):
    """Every file of the output (shards, index, config.json, tokenizer and card files) and the directory are
    synced before the directory appears at the output path, and the parent directory after; an earlier
    output at the path is exchanged with the new one (renameat2 RENAME_EXCHANGE), never moved away first,
    so the path holds a complete model at every moment."""
    recipe, reference, _ = workload
    out = tmp_path / "out"
    first = run_merge(recipe, out)
    assert first.returncode == 0, first.stderr
    (out / "marker-of-the-earlier-output").write_text("old\n")
    log = tmp_path / "strace.log"
    proc = strace_merge(recipe, out, log)
    assert proc.returncode == 0, proc.stderr
    assert not differing_files(tm.dir_bytes(out), reference)
    assert not partial_dir(out).exists() and sorted(os.listdir(tmp_path)) == ["out", "strace.log"]

    lines = log.read_text().splitlines()
    partial = str(partial_dir(out))
    renames = [i for i, l in enumerate(lines) if re.search(r"\brename(at2?)?\(", l) and "= 0" in l]
    # The only rename of the output directory: the partial directory exchanged with the earlier output.
    assert not any(f'"{out}"' in lines[i].split(",")[0] + lines[i].split(",")[1] and "EXCHANGE" not in lines[i]
                   for i in renames), "the earlier output was moved away before the new one was in place:\n" + \
        "\n".join(lines[i] for i in renames)
    publish = [i for i in renames if f'"{partial}"' in lines[i] and f'"{out}"' in lines[i]]
    assert len(publish) == 1 and "RENAME_EXCHANGE" in lines[publish[0]], "\n".join(lines[i] for i in renames)
    synced_before = {m.group(1) for l in lines[:publish[0]] for m in [re.search(r"f(?:data)?sync\(\d+<([^>]*)>\)", l)]
                     if m and "= 0" in l}
    for name in reference:
        assert f"{partial}/{name}" in synced_before, f"{name} was not synced before the output was published"
    assert partial in synced_before, "the output directory itself was not synced before it was published"
    synced_after = {m.group(1) for l in lines[publish[0]:] for m in [re.search(r"fsync\(\d+<([^>]*)>\)", l)] if m}
    assert str(tmp_path) in synced_after, "the parent directory was not synced after the rename"


class StalledMerge:
    """A merge (without -q) whose stderr is a pipe filled up beforehand: it runs until it first reports
    progress (one line per tenth of the output bytes, written from the worker that finished a tensor) and
    then waits, blocked in write(2), for release(). What a test does in between lands at a known point."""

    def __init__(self, cmd: list[str], timeout: float = 60):
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(write_end, b"." * size)
            except BlockingIOError:
                pass
        os.set_blocking(write_end, True)
        self.read_end = read_end
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=write_end)
        os.close(write_end)
        deadline = time.monotonic() + timeout
        while not self.blocked():
            if self.proc.poll() is not None:
                raise AssertionError(f"the merge ended ({self.proc.returncode}) before reporting progress")
            if time.monotonic() > deadline:
                raise AssertionError("the merge never reported progress")
            time.sleep(0.002)

    def blocked(self) -> bool:
        tasks = f"/proc/{self.proc.pid}/task"
        try:
            return any("pipe_write" in Path(f"{tasks}/{t}/wchan").read_text() for t in os.listdir(tasks))
        except OSError:
            return False

    def release(self, timeout: float = 120) -> tuple[int, str]:
        """Lets the merge go on; (exit status, its stderr after the filler)."""
        chunks = []
        os.set_blocking(self.read_end, True)
        while chunk := os.read(self.read_end, 1 << 16):
            chunks.append(chunk)
        os.close(self.read_end)
        rc = self.proc.wait(timeout=timeout)
        return rc, b"".join(chunks).decode(errors="replace").lstrip(".")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self.read_end)

def test_resume_verifies_within_max_memory(tmp_path):
    """--resume reads back each journaled tensor to check it, in pieces within --max-memory: a 64 MiB
    embedding verified under --max-memory 8M does not raise the peak RSS by anything like its size."""
    models = tmp_path / "models"
    shape = dict(layers=2, hidden=256, vocab=65536, intermediate=512, lm_head=False)  # embedding: 64 MiB
    tm.write_llama(models / "a", seed=1, **shape)
    tm.write_llama(models / "b", seed=2, **shape)
    recipe = tmp_path / "recipe.yml"
    recipe.write_text(f"merge_method: linear\nmodels:\n  - model: {models}/a\n    parameters: {{weight: 0.5}}\n"
                      f"  - model: {models}/b\n    parameters: {{weight: 0.5}}\n")
    out = tmp_path / "out"
    args = ["-j", "1", "--max-memory", "8M", "-q"]

    def run(*cmd: str) -> tuple[int, int, str]:
        """(exit status, peak RSS in KiB, stderr), measured by GNU time: the RSS a child of this (large)
        process reports includes what the fork copied."""
        if not Path("/usr/bin/time").exists():
            pytest.skip("GNU time (/usr/bin/time) is not installed")
        rss = tmp_path / "rss"
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), str(mergeforge_bin()), *cmd],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
        return proc.returncode, int(rss.read_text().split()[-1]), proc.stderr

    # The embedding is job 0 and 93% of the bytes: with -j 1 the first progress line comes right after it
    # is journaled. Killed there.
    merge = StalledMerge([str(mergeforge_bin()), "merge", str(recipe), str(out), *args[:-1]])
    merge.kill()
    journal = (partial_dir(out) / "tensors.journal").read_text().split()
    assert journal[:1] == ["0"], f"the embedding (job 0) is not the tensor journaled: {journal}"

    rc, plan_rss, err = run("plan", str(recipe))
    assert rc == 0, err
    rc, resume_rss, err = run("merge", str(recipe), str(out), *args, "--resume")
    assert rc == 0, err
    assert "resuming: " in err and " 0 of " not in err, err
    grew_mib = (resume_rss - plan_rss) / 1024
    assert grew_mib < 32, f"resuming took {grew_mib:.0f} MiB more than planning: a whole tensor read at once?"


# --- inputs changed by another process during the merge ---------------------------------------------------

def copy_with_own_b(recipe: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The workload's recipe with input b copied to tmp_path (a test may damage it): (recipe, b's weights)."""
    models = recipe.parent
    shutil.copytree(models / "b", tmp_path / "b")
    own = tmp_path / "recipe.yml"
    own.write_text(recipe.read_text().replace(f"model: {models}/b\n", f"model: {tmp_path / 'b'}\n"))
    assert str(tmp_path / "b") in own.read_text()
    return own, tmp_path / "b" / "model.safetensors"


def check_input_changed_error(rc: int, err: str, out: Path, weights: Path) -> None:
    assert rc == 4, f"exit {rc}\n{err}"
    lines = [l for l in err.splitlines() if l.strip() and not l.startswith("progress:")]
    assert lines and lines[0].startswith("mergeforge: invalid file: "), err
    assert len(lines) <= 5, err
    assert str(weights) in err and "--resume" in err, err
    assert partial_dir(out).is_dir() and (partial_dir(out) / "tensors.journal").is_file(), \
        "the partial merge must be kept"
    assert not out.exists()


def test_input_truncated_during_the_merge_is_an_error_naming_it(workload, tmp_path):
    """Inputs are read through memory mappings: a file another process truncates under the merge would end
    it with SIGBUS. It ends with a message naming the file instead (exit 4), the partial merge kept."""
    recipe, _, _ = workload
    recipe, weights = copy_with_own_b(recipe, tmp_path)
    out = tmp_path / "out"
    merge = StalledMerge(merge_cmd(recipe, out)[:-1])  # without -q: it stops at its first progress line
    header = 8 + int.from_bytes(weights.read_bytes()[:8], "little")
    os.truncate(weights, header + 4096)
    rc, err = merge.release()
    check_input_changed_error(rc, err, out, weights)
    assert "truncated" in err, err


def test_input_rewritten_in_place_during_the_merge_is_an_error_naming_it(workload, tmp_path):
    """An input rewritten in place keeps its size: the merge would mix old and new contents. Each input's
    identity (device, inode, size, mtime) is checked again before publishing."""
    recipe, _, _ = workload
    recipe, weights = copy_with_own_b(recipe, tmp_path)
    out = tmp_path / "out"
    merge = StalledMerge(merge_cmd(recipe, out)[:-1])
    with open(weights, "r+b") as f:
        f.seek(-64, os.SEEK_END)
        f.write(bytes(64))
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    rc, err = merge.release()
    check_input_changed_error(rc, err, out, weights)
    assert "changed while the merge read it" in err, err
