"""Probes, lifecycle hooks, graceful termination, termination messages and OOMKilled, end to
end: runs tests/e2e/agent_probe_scenarios.py (server, scheduler, agent, real kubectl) inside
private network, mount and PID namespaces, like test_agent.py, with both runtimes."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from test_agent import _remove_cgroups

HERE = os.path.dirname(os.path.abspath(__file__))


def _cgroups_of(uids):
    """The cgroup directories of these pods, in every v1 hierarchy and in v2 (cgroups are
    not namespaced; other helpers' agents may run pods at the same time: look at ours only)."""
    found = []
    for uid in uids:
        for base in [os.path.join("/sys/fs/cgroup", x) for x in os.listdir("/sys/fs/cgroup")] + \
                ["/sys/fs/cgroup"]:
            d = os.path.join(base, "k8c", f"pod{uid}")
            if os.path.isdir(d):
                found.append(d)
    return found


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_agent_probe_scenarios_in_private_namespaces(runtime):
    if runtime != "builtin" and not shutil.which(runtime):
        pytest.skip(f"{runtime} is not installed")
    if os.geteuid() != 0:
        pytest.skip("the agent needs root (namespaces, mounts, cgroups)")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("/bin/busybox (busybox-static) is not installed")
    uids_file = tempfile.NamedTemporaryFile(prefix="probes-uids-", delete=False)
    uids_file.close()
    env = dict(os.environ, K8C_AGENT_INNER="1", K8C_AGENT_RUNTIME=runtime,
               K8C_AGENT_UIDS_FILE=uids_file.name)
    cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
           "--propagation", "private", sys.executable, "-m", "pytest", "-q", "-x",
           "-p", "no:cacheprovider", os.path.join(HERE, "agent_probe_scenarios.py")]
    try:
        r = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=600)
    finally:
        with open(uids_file.name) as f:
            uids = f.read().split()
        os.unlink(uids_file.name)
        left = _cgroups_of(uids)
        _remove_cgroups(left)  # a failed run may leave some
    assert r.returncode == 0, r.stdout[-12000:] + r.stderr[-4000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-4000:]
    assert uids and left == [], left
