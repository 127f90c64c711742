"""Probes, lifecycle hooks, graceful termination, termination messages and OOMKilled, end to
end: runs tests/e2e/agent_probe_scenarios.py (server, scheduler, agent, real kubectl) inside
private network, mount and PID namespaces, like test_agent.py, with both runtimes."""
import os
import shutil
import subprocess
import sys

import pytest

from test_agent import _pod_cgroups

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_agent_probe_scenarios_in_private_namespaces(runtime):
    if runtime != "builtin" and not shutil.which(runtime):
        pytest.skip(f"{runtime} is not installed")
    if os.geteuid() != 0:
        pytest.skip("the agent needs root (namespaces, mounts, cgroups)")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("/bin/busybox (busybox-static) is not installed")
    before = _pod_cgroups()
    env = dict(os.environ, K8C_AGENT_INNER="1", K8C_AGENT_RUNTIME=runtime)
    cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
           "--propagation", "private", sys.executable, "-m", "pytest", "-q", "-x",
           "-p", "no:cacheprovider", os.path.join(HERE, "agent_probe_scenarios.py")]
    try:
        r = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=600)
    finally:
        for d in sorted(_pod_cgroups() - before, reverse=True):
            for sub in [os.path.join(d, x) for x in os.listdir(d)] if os.path.isdir(d) else []:
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass
    assert r.returncode == 0, r.stdout[-12000:] + r.stderr[-4000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-4000:]
    assert _pod_cgroups() - before == set()
