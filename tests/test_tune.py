"""`minrnn tune` on real Ray: a local search, a two-node cluster on this machine, a trial's
worker killed mid-trial, an interrupted search continued, and the bad input refused before Ray
starts. Every Ray here is bound to 127.0.0.1 and shut down by the test that started it; the
cluster is shared by the module's tests (Ray's start-up is most of their time)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minrnn import checkpoint

from support import ROOT, assert_one_line_error, make_text, run

# Ray takes 127.0.0.1 in an address for "this machine" and puts the machine's outward address in
# its place, which a cluster bound to the loopback does not listen on; this switch (meant for
# Windows and macOS, where Ray runs on the loopback) keeps every Ray here on 127.0.0.1
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="Ray Tune is the optional extra minrnn[tune] (the test extra installs it)")
from ray.cluster_utils import Cluster  # noqa: E402

STORE = 80 * 2**20  # a small object store: the text is all it holds
TINY = {"hidden": 16, "batch_size": 4, "seq_length": 16, "eval_every": 20}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    (d / "text.txt").write_text(make_text(6000), "utf-8")
    return d


def space(folder, name, **entries):
    path = folder / f"{name}.json"
    path.write_text(json.dumps({**TINY, **entries}), "utf-8")
    return path


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU each on this machine."""
    c = Cluster(initialize_head=True, connect=False, head_node_args=dict(
        num_cpus=1, object_store_memory=STORE, include_dashboard=False, node_ip_address="127.0.0.1"))
    c.add_node(num_cpus=1, object_store_memory=STORE, node_ip_address="127.0.0.1")
    yield c
    c.shutdown()


def results(out, trial_id):
    """Tune's record of a trial's reports (one JSON object a line)."""
    path = Path(out) / "search" / trial_id / "result.json"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def trial_ids(out):
    return sorted(p.name for p in (Path(out) / "trials").iterdir() if not p.is_symlink())


def driver(*argv):
    """`minrnn tune` as its own process, for the tests that interrupt it."""
    return subprocess.Popen([sys.executable, "-m", "minrnn", "tune", *map(str, argv)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, seconds, what):
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def last_iteration(run_dir):
    log = Path(run_dir) / "log.csv"
    rows = log.read_text().splitlines()[1:] if log.exists() else []
    return int(rows[-1].split(",")[0]) if rows else 0


def test_local_search(folder, capsys):
    """A local Ray of 2 CPUs, 4 trials of a second or two: all report, ASHA stops some (seed 1
    draws a good trial first, then weak ones), the report is written, and a trial folder is a
    run folder."""
    out = folder / "local"
    s = space(folder, "local", cell=["gru", "rnn"], lr={"loguniform": [1e-5, 3e-2]})
    code, stdout, err = run(capsys, "tune", folder / "text.txt", "--space", s, "--trials", 4,
                            "--iterations-per-trial", 300, "--cpus", 2, "--seed", 1, "--out", out)
    assert code == 0, err
    ids = trial_ids(out)
    assert len(ids) == 4 and all(last_iteration(out / "trials" / i) >= 20 for i in ids)
    report = (out / "report.txt").read_text()
    assert report == stdout[stdout.index(report.splitlines()[0]):][:len(report)]
    assert "yes" in report.split("best:")[0]  # stopped early
    assert any(last_iteration(out / "trials" / i) < 300 for i in ids)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = report.split("best: ")[1].split(" ")[0]
    code, sample, err = run(capsys, "sample", best, "--length", 50)
    assert code == 0 and len(sample) >= 50, err
    code, again, _ = run(capsys, "tune", "--report", out)
    assert code == 0 and report.splitlines()[0] in again


def test_bad_input(folder, capsys):
    """Refused with train's own words, before any Ray starts."""
    text, out = folder / "text.txt", folder / "bad"
    for name, content in (("empty.txt", ""), ("one.txt", "aaaa")):
        (folder / name).write_text(content)
        code, _, err = run(capsys, "tune", folder / name, "--out", out)
        _, _, train_err = run(capsys, "train", folder / name, "--out", folder / "bad-train")
        assert_one_line_error(code, err, err.split("error: ")[1].strip())
        assert err == train_err
    for spec, flag in (({"hiden": [8]}, "--hiden"), ({"hidden": [8, 0]}, "--hidden 0"),
                       ({"lr": {"loguniform": [-1, 0.1]}}, "--lr -1")):
        code, _, err = run(capsys, "tune", text, "--space", space(folder, "wrong", **spec), "--out", out)
        _, _, train_err = run(capsys, "train", text, *flag.split())
        said = train_err.split("error: ")[1].split(" (see")[0]  # 'argument --hidden: 0 must be > 0'
        assert_one_line_error(code, err, said)
    code, _, err = run(capsys, "tune", text, "--trials", 0)
    assert code == 2 and "argument --trials: 0 must be > 0" in err
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    code, _, err = run(capsys, "tune", text, "--space", space(folder, "ok"), "--address", f"127.0.0.1:{port}",
                       "--out", folder / "unreachable")
    assert_one_line_error(code, err, f"127.0.0.1:{port}", "no Ray cluster answers")
    assert time.monotonic() - started < 10


def test_two_nodes(folder, cluster, capsys):
    """Trials run on both nodes and their run folders are in OUT/trials/ (one machine: the
    nodes share its disk, as a cluster's nodes share OUT over NFS)."""
    out = folder / "cluster"
    code, _, err = run(capsys, "tune", folder / "text.txt", "--space", space(folder, "two", lr=[0.01, 0.003]),
                       "--trials", 4, "--iterations-per-trial", 200, "--address", cluster.address, "--out", out)
    assert code == 0, err
    nodes = {n.node_id for n in [cluster.head_node, *cluster.worker_nodes]}
    placed = {i: {r["node_id"] for r in results(out, i)} for i in trial_ids(out)}
    print("placement:", placed)
    assert len(placed) == 4 and set().union(*placed.values()) == nodes
    assert all((out / "trials" / i / "latest.npz").exists() for i in placed)


def test_worker_killed(folder, cluster, capsys):
    """kill -9 of a trial's worker: Tune starts it again from its latest.npz, and it ends
    bit-identical to the same run uninterrupted (the report's reproducing command line)."""
    out = folder / "killed"
    p = driver(folder / "text.txt", "--space", space(folder, "one", eval_every=100), "--trials", 1,
               "--iterations-per-trial", 3000, "--address", cluster.address, "--out", out)
    try:
        wait_for(lambda: (out / "trials").is_dir() and trial_ids(out) and results(out, trial_ids(out)[0]), 60,
                 "the trial's first report")
        tid = trial_ids(out)[0]
        wait_for(lambda: last_iteration(out / "trials" / tid) >= 300, 30, "three evaluations")
        first = results(out, tid)[-1]
        os.kill(first["pid"], signal.SIGKILL)
        output, _ = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 0, output
    pids = [r["pid"] for r in results(out, tid)]
    after = [r for r in results(out, tid) if r["pid"] != first["pid"]]
    assert len(set(pids)) == 2 and after[0]["iteration"] > 100  # continued, not restarted
    assert after[-1]["iteration"] == 3000
    reproduce = (out / "report.txt").read_text().split("reproduce it:  minrnn ")[1].split("\n")[0].split()
    reproduce[reproduce.index("--out") + 1] = str(folder / "uninterrupted")
    code, _, err = run(capsys, *reproduce, "--quiet")
    assert code == 0, err
    for name in ("latest.npz", "best.npz"):
        a, b = (checkpoint.read_run(d / name)[1] for d in (out / "trials" / tid, folder / "uninterrupted"))
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), name
    print(f"killed pid {first['pid']} after iteration {first['iteration']}; pid {after[0]['pid']} continued, "
          f"first reporting iteration {after[0]['iteration']}; {len(a)} arrays of latest.npz and best.npz "
          "equal to the uninterrupted run's")


def test_resume_search(folder, cluster, capsys):
    """A search interrupted (Ctrl-C) after its first trial finished continues with --resume:
    the finished trial is left as it was, the others finish from their checkpoints."""
    out = folder / "interrupted"
    p = driver(folder / "text.txt", "--space", space(folder, "three", lr=[0.01, 0.005, 0.002]), "--trials", 3,
               "--iterations-per-trial", 1500, "--seed", 2, "--address", cluster.address, "--out", out)
    try:
        def one_done():
            return (out / "trials").is_dir() and any(last_iteration(out / "trials" / i) == 1500 for i in trial_ids(out))
        wait_for(one_done, 90, "a finished trial")
        finished = {i: (out / "trials" / i / "log.csv").read_bytes() for i in trial_ids(out)
                    if last_iteration(out / "trials" / i) == 1500}
        p.send_signal(signal.SIGINT)
        output, _ = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130 and "minrnn tune --resume" in output, output
    code, resumed, err = run(capsys, "tune", "--resume", out, "--address", cluster.address)
    assert code == 0 and "failed" not in resumed, resumed + err
    assert all((out / "trials" / i / "log.csv").read_bytes() == log for i, log in finished.items())
    table = (out / "report.txt").read_text().split("best:")[0].splitlines()[1:-1]
    assert len(table) == 3
    for row in table:  # each trial ran its budget, or ASHA stopped it, and none started over
        tid, iterations, stopped = row.split()[0], int(row.split()[-4]), row.split()[-1]
        assert iterations == 1500 or stopped == "yes"
        logged = [int(line.split(",")[0]) for line in (out / "trials" / tid / "log.csv").read_text().splitlines()[1:]]
        assert all(a <= b for a, b in zip(logged, logged[1:])) and logged[-1] == iterations


def test_without_ray(folder, capsys, monkeypatch):
    """Without Ray installed: one line saying what to install; the report needs no Ray."""
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, _, err = run(capsys, "tune", folder / "text.txt", "--out", folder / "no-ray")
    assert_one_line_error(code, err, "pip install 'minrnn[tune]'")
    assert not (folder / "no-ray").exists()
    if (folder / "local" / "search.json").exists():  # test_local_search's search
        code, out, err = run(capsys, "tune", "--report", folder / "local")
        assert code == 0 and "best:" in out, err


def test_diverged_trial(folder, cluster, capsys):
    """A trial that diverges ends there, once (a retry from its checkpoint would diverge again),
    and the search reports it as stopped early."""
    out = folder / "diverged"
    s = space(folder, "diverge", optimizer="sgd", lr=[1000.0], eval_every=1)
    code, _, err = run(capsys, "tune", folder / "text.txt", "--space", s, "--trials", 1,
                       "--iterations-per-trial", 200, "--address", cluster.address, "--out", out)
    assert code == 0, err
    (tid,) = trial_ids(out)
    assert len({r["pid"] for r in results(out, tid)}) == 1  # not retried
    assert last_iteration(out / "trials" / tid) < 200
    assert (out / "report.txt").read_text().splitlines()[1].split()[-1] == "yes"


def test_a_trial_that_used_its_time_is_not_stopped_early():
    """A run stops at the first iteration that finds its time used, so its last evaluation may
    come a moment before the budget: that is its end, not an early stop."""
    from minrnn.tune import finished
    assert finished(None, 4, 20400, 239.95) and finished(None, 4, 8600, 239.4)
    assert not finished(None, 4, 400, 40.0) and not finished(None, 4, 20400, 230.0)
    assert finished(100, None, 100, 5.0) and not finished(100, None, 99, 500.0)
