"""`k8c agent` end to end: runs tests/e2e/agent_scenarios.py (server, scheduler, agent, real
kubectl, a busybox image built here) inside private network, mount and PID namespaces, then
checks that nothing was left behind in the host's cgroups."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _remove_cgroups(dirs):
    """rmdir of cgroup dirs and the cgroups below them (deepest first)."""
    for d in sorted(dirs, reverse=True):
        for sub in sorted(glob.glob(os.path.join(d, "**/"), recursive=True), reverse=True):
            try:
                os.rmdir(sub)
            except OSError:
                pass
        try:
            os.rmdir(d)
        except OSError:
            pass


UNIFIED = "/sys/fs/cgroup/unified"


def _crun_prelude(runtime):
    """Debian's crun (1.8) refuses a hybrid cgroup host (v1 controllers plus a cgroup2 mount
    at /sys/fs/cgroup/unified). Inside the scenarios' private mount namespace a small tmpfs
    covers that mount before anything runs, so crun sees a plain v1 host; the host keeps its
    mount. crun still makes the cgroup of /proc/self/cgroup's "0::" line under unified/ (it
    fails when it cannot): in this tmpfs, which dies with the namespace, rather than in the
    host's /sys/fs/cgroup tmpfs under the real mount (where a bare umount would leave it)."""
    if runtime != "crun" or not os.path.ismount(UNIFIED):
        return []
    return ["sh", "-c", f'mount -t tmpfs -o size=1m k8c-crun-unified {UNIFIED} && exec "$@"',
            "sh"]


def run_scenarios(path, runtime):
    """Runs the scenario file with pytest under `unshare --net --mount --pid --fork`, then
    checks that none of its pods' cgroups is left (cgroups are not namespaced; other agents
    on this machine make and remove their own meanwhile, so only this run's pods count)."""
    if os.geteuid() != 0:
        pytest.skip("the agent needs root (namespaces, mounts, cgroups)")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("/bin/busybox (busybox-static) is not installed")
    with tempfile.NamedTemporaryFile(prefix="k8c-agent-uids-", mode="r") as uids_file:
        env = dict(os.environ, K8C_AGENT_INNER="1", K8C_AGENT_RUNTIME=runtime,
                   K8C_AGENT_UIDS_FILE=uids_file.name)
        cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
               "--propagation", "private", *_crun_prelude(runtime), sys.executable, "-m",
               "pytest", "-q", "-x", "-p", "no:cacheprovider", path]
        left = set()
        try:
            r = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True,
                               timeout=600)
        finally:
            uids = uids_file.read().split()
            for uid in uids:
                left |= set(glob.glob(f"/sys/fs/cgroup/**/pod{uid}", recursive=True))
            _remove_cgroups(left)
    assert r.returncode == 0, r.stdout[-12000:] + r.stderr[-4000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-4000:]
    assert uids, "the scenarios recorded no pod"
    assert left == set()


def run_scenarios_in_namespaces(scenarios, runtime):
    """run_scenarios for the pytest file scenarios beside this one, when runtime is
    installed. The file must use agent_scenarios' create() and record_uids fixture."""
    if runtime != "builtin" and not shutil.which(runtime):
        pytest.skip(f"{runtime} is not installed")
    run_scenarios(os.path.join(HERE, scenarios), runtime)


@pytest.mark.parametrize("runtime", ["builtin", "runc", "crun"])
def test_agent_scenarios_in_private_namespaces(runtime):
    """The same scenarios with the built-in runtime, runc and crun (crun on a v1 view of the
    host's cgroups: see _crun_prelude)."""
    run_scenarios_in_namespaces("agent_scenarios.py", runtime)


@pytest.mark.parametrize("args,msg", [
    ([], "one of --kubeconfig or --server is required"),
    (["--server", "https://127.0.0.1:1"], "--server needs --token-file"),
    (["--kubeconfig", "k", "--runtime", "docker"], "--runtime wants builtin, runc, crun or fake"),
    (["--kubeconfig", "k", "--port", "70000"], "--port wants a number"),
    (["--kubeconfig", "k", "--workers", "0"], "--workers wants a number from 1 to 256"),
    (["--kubeconfig", "k", "--workers", "9x"], "--workers wants a number from 1 to 256"),
    (["--kubeconfig", "k", "--max-pods", "0"], "--max-pods wants a number from 1 to 100000"),
    (["--kubeconfig", "k", "--dns-listen", "nowhere"], "--dns-listen wants IP or IP:PORT"),
    (["--kubeconfig", "k", "--dns-listen", "127.0.0.1:99999"], "--dns-listen wants IP or"),
    (["--kubeconfig", "k", "--dns-listen", "dns:53"], "--dns-listen wants IP or"),
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
