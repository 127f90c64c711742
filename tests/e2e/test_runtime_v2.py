"""`k8c runtime` with its cgroup v2 driver, on the cgroup2 tree this host has: a v1/v2
hybrid mounts an empty v2 hierarchy at /sys/fs/cgroup/unified (no controllers, so no
limits, but creating, CLONE_INTO_CGROUP, exec joining, freezing, listing and removing are
all v2 code paths). K8C_RUNTIME_CGROUP_ROOT points the runtime at it."""
import json
import os
import subprocess

import pytest

from test_runtime import Runtimes, rt  # noqa: F401 - rt is the fixture

UNIFIED = "/sys/fs/cgroup/unified"


def is_cgroup2(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path and " - cgroup2 " in line for line in f)


pytestmark = pytest.mark.skipif(not is_cgroup2(UNIFIED),
                                reason="no cgroup2 tree at /sys/fs/cgroup/unified")


def v2(rt, *args, timeout=30, create=False):
    env = dict(os.environ, K8C_RUNTIME_CGROUP_ROOT=UNIFIED)
    out = subprocess.DEVNULL if create else subprocess.PIPE
    return subprocess.run(rt.cmd("k8c", *args), env=env, stdin=subprocess.DEVNULL,
                          stdout=out, stderr=subprocess.DEVNULL if create else subprocess.PIPE,
                          text=True, timeout=timeout)


def test_v2_driver_life_cycle(rt):
    cid = rt.new_id()
    rt.started.append(("k8c", cid))
    bundle = rt.bundle(["sleep", "300"])
    assert v2(rt, "create", "--bundle", bundle, cid, create=True).returncode == 0
    cgdir = os.path.join(UNIFIED, "k8c-runtime", cid)
    st = json.loads(v2(rt, "state", cid).stdout)
    with open(os.path.join(cgdir, "cgroup.procs")) as f:
        assert str(st["pid"]) in f.read().split()  # born there (CLONE_INTO_CGROUP)
    assert v2(rt, "start", cid).returncode == 0
    r = v2(rt, "exec", cid, "cat", "/proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    assert f"0::/k8c-runtime/{cid}" in r.stdout
    assert v2(rt, "pause", cid).returncode == 0
    with open(os.path.join(cgdir, "cgroup.events")) as f:
        assert "frozen 1" in f.read()
    assert json.loads(v2(rt, "state", cid).stdout)["status"] == "paused"
    assert v2(rt, "resume", cid).returncode == 0
    assert json.loads(v2(rt, "state", cid).stdout)["status"] == "running"
    assert st["pid"] in json.loads(v2(rt, "ps", "--format", "json", cid).stdout)
    assert v2(rt, "delete", "--force", cid).returncode == 0
    assert not os.path.exists(cgdir)


def test_v2_driver_run(rt):
    bundle = rt.bundle(["sh", "-c", "cat /proc/self/cgroup; exit 5"])
    cid = rt.new_id()
    rt.started.append(("k8c", cid))
    r = v2(rt, "run", "--bundle", bundle, cid)
    assert r.returncode == 5, r.stderr
    assert f"0::/k8c-runtime/{cid}" in r.stdout
    assert not os.path.exists(os.path.join(UNIFIED, "k8c-runtime", cid))


def test_v2_device_filter(rt):
    # the eBPF device program: the default devices work, a host disk cannot be made
    script = ("head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; "
              "mknod /dev/k8cdisk b 8 0 2>/dev/null && echo ESCAPED; "
              "mknod /dev/k8cnull c 1 3 && echo mknod-null-ok")
    bundle = rt.bundle(["sh", "-c", script])
    cid = rt.new_id()
    rt.started.append(("k8c", cid))
    r = v2(rt, "run", "--bundle", bundle, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["4", "null-ok", "mknod-null-ok"], r.stdout
