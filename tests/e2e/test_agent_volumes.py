"""The agent's volumes, env, securityContext and QoS end to end: runs
tests/e2e/agent_volume_scenarios.py (server, scheduler, agent, real kubectl, a busybox image
built here) inside private network, mount and PID namespaces, then checks that none of its
pods' cgroups was left behind (cgroups are not namespaced: other agents on this machine may
create and remove their own meanwhile, so only this run's pods are looked at)."""
import glob
import os
import subprocess
import sys
import tempfile

import pytest

from test_agent import _remove_cgroups

HERE = os.path.dirname(os.path.abspath(__file__))


def test_agent_volume_scenarios_in_private_namespaces():
    if os.geteuid() != 0:
        pytest.skip("the agent needs root (namespaces, mounts, cgroups)")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("/bin/busybox (busybox-static) is not installed")
    with tempfile.NamedTemporaryFile(prefix="volumes-uids-", mode="r") as uids_file:
        # K8C_VOLUMES_RUNTIME=runc runs the same scenarios with runc (by hand: time budget)
        env = dict(os.environ, K8C_AGENT_INNER="1",
                   K8C_AGENT_RUNTIME=os.environ.get("K8C_VOLUMES_RUNTIME", "builtin"),
                   K8C_AGENT_UIDS_FILE=uids_file.name)
        cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
               "--propagation", "private", sys.executable, "-m", "pytest", "-q", "-x",
               "-p", "no:cacheprovider", os.path.join(HERE, "agent_volume_scenarios.py")]
        mine = set()
        try:
            r = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True,
                               timeout=600)
        finally:
            uids = uids_file.read().split()
            for uid in uids:
                mine |= set(glob.glob(f"/sys/fs/cgroup/**/pod{uid}", recursive=True))
            _remove_cgroups(mine)
    assert r.returncode == 0, r.stdout[-12000:] + r.stderr[-4000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-4000:]
    assert uids, "the scenarios recorded no pod"
    assert mine == set()
