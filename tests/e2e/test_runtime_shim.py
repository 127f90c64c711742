"""The agent's shim as the built-in runtime (`k8c-shim shim --builtin ROOT BUNDLE ID`): it
creates and starts the container, says "R" on --notify-fd once it runs, is the container's
parent (no runtime process under it), records the exit status and the output in the CRI log,
and removes the runtime's state and cgroup when the container ends; a container that cannot
start ends with status 1 and the runtime's reason in the log, without "R". Uses
test_runtime's bundles and clean-up."""
import json
import os
import subprocess

import pytest

from conftest import K8C
from test_runtime import Runtimes, cgroup_gone, pytestmark  # noqa: F401 - root + busybox

SHIM = os.path.join(os.path.dirname(K8C), "k8c-shim")


@pytest.fixture
def rt():
    r = Runtimes()
    yield r
    r.close()


def shim(rt, bundle, cid):
    """Starts the shim on bundle; returns (process, notify read end, log path, exit path)."""
    argv = [SHIM, "shim"] if os.access(SHIM, os.X_OK) else [K8C, "shim"]
    r, w = os.pipe()
    log, exitp = os.path.join(rt.tmp, cid + ".log"), os.path.join(rt.tmp, cid + ".exit")
    p = subprocess.Popen(argv + ["--notify-fd", str(w), log, exitp, "--builtin",
                                 rt.roots["k8c"], bundle, cid],
                         pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    os.close(w)
    rt.started.append(("k8c", cid))
    rt.procs.append(p)
    return p, r, log, exitp


def test_shim_creates_parents_and_removes_the_container(rt):
    bundle = rt.bundle(["sh", "-c", "echo out; echo err >&2; sleep 3; exit 7"],
                       lambda cfg: cfg["process"].update(terminal=False))
    cid = rt.new_id()
    p, r, log, exitp = shim(rt, bundle, cid)
    try:
        assert os.read(r, 1) == b"R"
    finally:
        os.close(r)
    st = json.loads(rt.ctl("k8c", "state", cid).stdout)
    assert st["status"] == "running", st
    with open(f"/proc/{st['pid']}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == p.pid  # the shim's own child
    # nothing between the shim and the container, and nothing else under the shim
    with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
        assert f.read().split() == [str(st["pid"])]
    assert p.wait(timeout=30) == 0, p.stderr.read()
    with open(exitp) as f:
        assert f.read() == "7\n"
    with open(log) as f:
        lines = [ln.split(" ", 1)[1] for ln in f.read().splitlines()]
    assert "stdout F out" in lines and "stderr F err" in lines, lines
    assert not os.path.exists(os.path.join(rt.roots["k8c"], cid))
    assert cgroup_gone(cid)
    assert rt.ctl("k8c", "state", cid).returncode == 1


def test_shim_start_failure_is_status_1_with_the_reason(rt):
    bundle = rt.bundle(["/no/such/program"], lambda cfg: cfg["process"].update(terminal=False))
    cid = rt.new_id()
    p, r, log, exitp = shim(rt, bundle, cid)
    try:
        assert os.read(r, 1) == b""  # closed unsaid
    finally:
        os.close(r)
    assert p.wait(timeout=30) == 1
    with open(exitp) as f:
        assert f.read() == "1\n"
    with open(log) as f:
        text = f.read()
    assert " stderr F k8c: runtime: " in text and "/no/such/program" in text, text
    assert not os.path.exists(os.path.join(rt.roots["k8c"], cid))
    assert cgroup_gone(cid)


def test_shim_oom_killed_container_is_137(rt):
    def mutate(cfg):
        cfg["process"]["terminal"] = False
        cfg["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    bundle = rt.bundle(["dd", "if=/dev/zero", "of=/dev/null", "bs=96M", "count=1"], mutate)
    cid = rt.new_id()
    p, r, log, exitp = shim(rt, bundle, cid)
    os.close(r)
    assert p.wait(timeout=30) == 0
    with open(exitp) as f:
        assert f.read() == "137\n"
    assert cgroup_gone(cid)
