"""`k8c agent` end to end: runs tests/e2e/agent_scenarios.py (server, scheduler, agent, real
kubectl, a busybox image built here) inside private network, mount and PID namespaces, then
checks that nothing was left behind in the host's cgroups."""
import glob
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _pod_cgroups():
    return set(glob.glob("/sys/fs/cgroup/*/k8c/pod*") + glob.glob("/sys/fs/cgroup/k8c/pod*"))


def run_scenarios_in_namespaces(scenarios, runtime):
    """Runs the pytest file scenarios (beside this one) inside private network, mount and PID
    namespaces with K8C_AGENT_RUNTIME=runtime; removes pod cgroups it left behind (cgroups are
    not namespaced) and asserts that it passed without skips."""
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
           "-p", "no:cacheprovider", os.path.join(HERE, scenarios)]
    try:
        r = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=600)
    finally:
        # a failed run may leave pod cgroups (cgroups are not namespaced): remove ours
        for d in sorted(_pod_cgroups() - before, reverse=True):
            for sub in glob.glob(os.path.join(d, "*/")):
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


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_agent_scenarios_in_private_namespaces(runtime):
    """The same scenarios with the built-in runtime and with runc (crun is left out: Debian's
    crun refuses this kind of hybrid cgroup v1 host)."""
    run_scenarios_in_namespaces("agent_scenarios.py", runtime)


@pytest.mark.parametrize("args,msg", [
    ([], "one of --kubeconfig or --server is required"),
    (["--server", "https://127.0.0.1:1"], "--server needs --token-file"),
    (["--kubeconfig", "k", "--runtime", "docker"], "--runtime wants builtin, runc or crun"),
    (["--kubeconfig", "k", "--port", "70000"], "--port wants a number"),
    (["--kubeconfig", "k", "--data-dir", "rel"], "must be an absolute path"),
    (["--bogus"], "unknown argument"),
    (["--kubeconfig"], "needs a value"),
])
def test_agent_usage_errors(k8c, args, msg):
    r = k8c("agent", *args)
    assert r.returncode == 2 and msg in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_agent_bad_kubeconfig_fails_with_one_line(k8c, data_dir):
    r = k8c("agent", "--kubeconfig", os.path.join(data_dir, "absent"), "--data-dir", data_dir)
    assert r.returncode == 1 and r.stderr.startswith("k8c: agent: ") and \
        r.stderr.count("\n") == 1, r.stderr


def test_shim_usage(k8c):
    r = k8c("shim", "only-one")
    assert r.returncode == 2 and "usage" in r.stderr
