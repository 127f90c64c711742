"""`k8c server` as one control plane: its embedded scheduler and controllers, with simulated
(`k8c hollow`) nodes, run a Deployment to completion with nothing else started."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import K8C, KUBECTL, start_apiserver, stop_apiserver


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
