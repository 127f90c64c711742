"""`k8c server` as one control plane: its embedded scheduler and controllers, with simulated
(`k8c hollow`) nodes, run a Deployment to completion with nothing else started."""
import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import K8C, KUBECTL, start_apiserver, stop_apiserver
from test_agent import _remove_cgroups


def wait_for(fn, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def cluster():
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    srv = start_apiserver(embedded=True)
    log = open(os.path.join(srv.data_dir, "hollow.log"), "w")
    hollow = subprocess.Popen([K8C, "hollow", "--nodes", "2", "--kubeconfig", srv.kubeconfig,
                               "--name-prefix", "embedded-"], stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL)
    log.close()
    try:
        yield srv
    finally:
        hollow.send_signal(signal.SIGTERM)
        try:
            hollow.wait(timeout=15)
        except subprocess.TimeoutExpired:
            hollow.kill()
            hollow.wait()
        stop_apiserver(srv)


def test_embedded_scheduler_and_controllers_roll_out_a_deployment(cluster):
    srv = cluster
    log = srv.log()
    assert "embedded scheduler started" in log and "embedded controllers started" in log
    wait_for(lambda: len(srv.json("GET", "/api/v1/nodes")[1].get("items", [])) == 2,
             what="hollow nodes")

    r = srv.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "deployment.apps/web created"
    r = srv.kubectl("rollout", "status", "deployment/web", "--timeout=60s", timeout=90)
    assert r.returncode == 0, r.stderr + srv.log()[-3000:]
    assert 'deployment "web" successfully rolled out' in r.stdout

    st, pods = srv.json("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
    assert st == 200
    assert len(pods["items"]) == 3
    for p in pods["items"]:
        assert p["spec"]["nodeName"].startswith("embedded-"), p["spec"].get("nodeName")
        assert p["status"]["phase"] == "Running"
        owner = p["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "ReplicaSet" and owner["name"].startswith("web-")

    # The default service account comes from the embedded ServiceAccount controller.
    wait_for(lambda: srv.json("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0]
             == 200, what="default service account")

    # Deleting the Deployment cascades through the embedded garbage collector.
    r = srv.kubectl("delete", "deployment", "web", timeout=90)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not srv.json("GET", "/api/v1/namespaces/default/pods?labelSelector="
                                  "app%3Dweb")[1]["items"], what="pods garbage-collected")


def test_components_can_be_disabled(k8c):
    r = k8c("server", "--help")
    assert "--disable-scheduler" in r.stdout and "--disable-controller-manager" in r.stdout


def _pod_cgroups(uids):
    """The pods' cgroups wherever the QoS layout put them (k8c/kubepods[/<class>]/pod<uid>)."""
    return set(d for u in uids for d in glob.glob(f"/sys/fs/cgroup/**/pod{u}", recursive=True))


def test_embedded_agent_scenarios_in_private_namespaces(tmp_path):
    """tests/e2e/server_scenarios.py (the server with its node agent: a real pod, --runtime
    fake at 40 pods, no root, memory pressure) inside private network, mount and PID
    namespaces. Cgroups are not namespaced: the pods' cgroups (by the UIDs the scenarios
    record; other tests may run pods meanwhile) must be gone afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the agent needs root (namespaces, mounts, cgroups)")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("/bin/busybox (busybox-static) is not installed")
    here = os.path.dirname(os.path.abspath(__file__))
    uids_file = tmp_path / "uids"
    uids_file.write_text("")
    env = dict(os.environ, K8C_SERVER_INNER="1", K8C_SERVER_UIDS=str(uids_file))
    cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
           "--propagation", "private", sys.executable, "-m", "pytest", "-q", "-x", "-s",
           "-p", "no:cacheprovider", os.path.join(here, "server_scenarios.py")]
    try:
        r = subprocess.run(cmd, cwd=here, env=env, capture_output=True, text=True, timeout=600)
    finally:
        uids = uids_file.read_text().split()
        left = _pod_cgroups(uids)
        _remove_cgroups(left)  # a failed run may leave them: remove ours
    assert r.returncode == 0, r.stdout[-12000:] + r.stderr[-4000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-4000:]
    assert uids, "the scenarios recorded the pods they ran"
    assert not left, f"pod cgroups left behind: {sorted(left)}"
