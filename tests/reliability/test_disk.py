"""Disk trouble: an unwritable folder, a folder that vanishes mid-run, a full disk. Each is a
clear error, and the last good checkpoint is never replaced by a broken one."""
import errno
import os
import shutil
import subprocess
import time

import pytest

from minrnn import checkpoint, outfile, runfolder  # outfile: how checkpoints are written

from .helpers import (TINY, assert_clean_error, assert_clean_proc, finish, main, run, start, tmp_files,
                      wait_for, write_text)


def can_mount(target, *options):
    target.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(target)],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def umount(target):
    subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=10)


def test_out_is_a_file_or_below_one(tmp_path, capsys):
    corpus = write_text(tmp_path / "t.txt")
    f = tmp_path / "afile"
    f.write_text("x")
    code, _, err = main(capsys, "train", corpus, "--out", f, *TINY, "--iterations", 2)
    assert_clean_error(code, err, str(f), "not a folder")
    code, _, err = main(capsys, "train", corpus, "--out", f / "sub", *TINY, "--iterations", 2)
    assert_clean_error(code, err, str(f), "not a folder")


def test_unwritable_folder(tmp_path, capsys, monkeypatch):
    corpus = write_text(tmp_path / "t.txt")
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:
        locked.chmod(0o500)
    else:  # root writes anywhere: make the folder refuse writes the way the kernel would
        real_open = open

        def refusing_open(path, mode="r", *a, **k):
            if str(path).startswith(str(locked)) and any(c in mode for c in "wax+"):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, mode, *a, **k)
        monkeypatch.setattr(runfolder, "open", refusing_open, raising=False)
        monkeypatch.setattr(outfile, "open", refusing_open, raising=False)
    try:
        code, _, err = main(capsys, "train", corpus, "--out", locked, *TINY, "--iterations", 2, "--quiet")
        assert_clean_error(code, err, str(locked), "permission denied")
    finally:
        locked.chmod(0o700)


def test_read_only_filesystem(tmp_path):
    """A real read-only mount refuses even root (skipped where mounting is not allowed)."""
    ro = tmp_path / "ro"
    if not can_mount(ro, "ro", "size=64k"):
        pytest.skip("cannot mount a tmpfs here (needs root in a system that allows mount)")
    try:
        corpus = write_text(tmp_path / "t.txt")
        proc = run("train", corpus, "--out", ro / "run", *TINY, "--iterations", 2, "--quiet")
        assert_clean_proc(proc, "read-only")
    finally:
        umount(ro)


def test_folder_vanishes_mid_run(tmp_path):
    corpus = write_text(tmp_path / "t.txt")
    out = tmp_path / "run"
    proc = start("train", corpus, "--out", out, *TINY, "--iterations", 10**7, "--eval-every", 20)
    wait_for(lambda: (out / "latest.npz").exists(), proc=proc)
    gone = out.with_name("gone")
    out.rename(gone)  # vanishes at once, as `rm -r` in another terminal would make it
    shutil.rmtree(gone, ignore_errors=True)
    err = finish(proc, 60)
    last = err.strip().splitlines()[-1]
    assert_clean_error(proc.returncode, last + "\n", str(out), exit_code=1)
    assert "Traceback" not in err


class FullDisk:
    """A file whose writes fail with ENOSPC once `room` bytes are written."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, b):
        if self.room < len(b):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(b)
        return self.f.write(b)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()


@pytest.mark.parametrize("where", ["write", "fsync", "rename", "log"])
def test_full_disk_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch, where):
    """The disk fills up during the 3rd save of latest.npz (or at its fsync, its rename, or
    while appending to log.csv): a one-line error, exit 1, latest.npz byte for byte the one
    before, no temporary file left."""
    corpus = write_text(tmp_path / "t.txt")
    out = tmp_path / "run"
    real_open, real_fsync, real_replace = open, os.fsync, os.replace
    state = {"latest_saves": 0, "good": None, "armed": False}

    def nospace():
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def patched_open(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        if str(path).endswith(".latest.npz.tmp"):
            state["latest_saves"] += 1
            state["armed"] = state["latest_saves"] == 3
            if state["armed"]:
                state["good"] = (out / "latest.npz").read_bytes()
                if where == "write":
                    return FullDisk(f, 3000)
        return f

    def patched_fsync(fd):
        if state["armed"] and where == "fsync":
            raise nospace()
        return real_fsync(fd)

    def patched_replace(src, dst):
        if state["armed"] and where == "rename":
            raise nospace()
        return real_replace(src, dst)

    def log_open(path, mode="r", *a, **k):
        if str(path).endswith("log.csv") and state["latest_saves"] == 2:
            state["good"] = (out / "latest.npz").read_bytes()
            raise nospace()
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(outfile, "open", patched_open, raising=False)
    monkeypatch.setattr(os, "fsync", patched_fsync)
    monkeypatch.setattr(os, "replace", patched_replace)
    if where == "log":
        monkeypatch.setattr(runfolder, "open", log_open, raising=False)
    code, _, err = main(capsys, "train", corpus, "--out", out, *TINY, "--iterations", 50,
                        "--eval-every", 4, "--quiet")
    assert_clean_error(code, err, "no space left on device", exit_code=1)
    assert state["good"] is not None
    assert (out / "latest.npz").read_bytes() == state["good"]
    assert tmp_files(out) == []
    checkpoint.read_run(out / "latest.npz")


def test_real_full_tmpfs(tmp_path):
    """A real full disk: a small tmpfs filled up while the run writes checkpoints to it
    (skipped where mounting is not allowed)."""
    disk = tmp_path / "disk"
    if not can_mount(disk, "size=1m"):
        pytest.skip("cannot mount a tmpfs here (needs root in a system that allows mount)")
    try:
        corpus = write_text(tmp_path / "t.txt")
        out = disk / "run"
        proc = start("train", corpus, "--out", out, "--cell", "rnn", "--layers", "1", "--hidden", "64", "--batch-size", "2",
                     "--seq-length", "8", "--iterations", 10**7, "--eval-every", 2)
        wait_for(lambda: (out / "latest.npz").exists(), proc=proc)
        # fill the disk, and keep taking any space the run frees (replacing a checkpoint frees
        # the old one), until the run gives up
        with open(disk / "filler", "wb", buffering=0) as f:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    f.write(b"\0" * 512)
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    time.sleep(0.0005)
        err = finish(proc, 10)
        last = err.strip().splitlines()[-1]
        assert_clean_error(proc.returncode, last + "\n", "no space left", exit_code=1)
        assert "Traceback" not in err
        checkpoint.read_run(out / "latest.npz")
        assert tmp_files(out) == []
    finally:
        umount(disk)
