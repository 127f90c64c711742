"""`k8c server` with its embedded node agent. Not collected by itself: tests/e2e/test_server.py
runs this file with pytest inside private network, mount and PID namespaces (`unshare --net
--mount --pid --fork`), because the agent creates mounts, cgroups and namespaces."""
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import K8C, KUBECTL, start_apiserver, stop_apiserver
from test_image import Layout, busybox_layer


def wait_for(fn, timeout=60, what="condition", every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module", autouse=True)
def inner():
    if os.environ.get("K8C_SERVER_INNER") != "1":
        pytest.skip("run through tests/e2e/test_server.py (needs private namespaces)")
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def node_ready(srv, name):
    st, node = srv.json("GET", f"/api/v1/nodes/{name}")
    if st != 200:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in node.get("status", {}).get("conditions", []))


def pods(srv):
    st, lst = srv.json("GET", "/api/v1/namespaces/default/pods")
    assert st == 200
    return lst["items"]


def ready(p):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in p.get("status", {}).get("conditions", []))


def test_server_runs_a_busybox_pod_on_its_own_node():
    """The default `k8c server` is a one-node cluster: its node goes Ready (kubectl sees it),
    a pod runs, its logs read back, deletion cleans up the pod's mounts."""
    srv = start_apiserver(embedded=True, agent_args=["--node-name", "embed-e2e",
                                                     "--agent-port", "0"])
    try:
        t0 = time.monotonic()
        wait_for(lambda: node_ready(srv, "embed-e2e"), what="node Ready", timeout=30)
        print(f"node Ready {time.monotonic() - t0:.2f}s after the API answered")
        r = srv.kubectl("get", "nodes")
        assert r.returncode == 0 and "embed-e2e" in r.stdout and " Ready " in r.stdout, r
        assert "embedded agent started" in srv.log()
        lay = Layout(os.path.join(srv.data_dir, "layout"))
        lay.tag(lay.image([busybox_layer()], cmd=("/bin/sh", "-c", "echo hello; sleep 1000")),
                "example.org/busybox:1.0")
        r = subprocess.run([K8C, "image", "--data-dir", os.path.join(srv.data_dir, "agent"),
                            "import", lay.path], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hello"},
                "spec": {"containers": [{"name": "c", "image": "example.org/busybox:1.0",
                                         "imagePullPolicy": "Never"}],
                         "terminationGracePeriodSeconds": 1}}
        r = srv.kubectl("create", "-f", "-", input=json.dumps(body))
        assert r.returncode == 0, r.stderr
        wait_for(lambda: any(ready(p) for p in pods(srv)), what="pod Ready",
                 timeout=60)
        with open(os.environ["K8C_SERVER_UIDS"], "a") as f:  # for test_server.py's check
            f.write(pods(srv)[0]["metadata"]["uid"] + "\n")
        wait_for(lambda: "hello" in srv.kubectl("logs", "hello").stdout, what="logs",
                 timeout=20, every=0.3)
        rootfs = [l for l in open("/proc/self/mountinfo") if srv.data_dir in l]
        assert rootfs, "the container's rootfs is mounted under the server's data dir"
        r = srv.kubectl("delete", "pod", "hello", "--timeout=60s", timeout=90)
        assert r.returncode == 0, r.stderr
        assert not pods(srv)
        wait_for(lambda: not [l for l in open("/proc/self/mountinfo") if srv.data_dir in l],
                 what="pod mounts gone", timeout=10)
    finally:
        stop_apiserver(srv)


def test_fake_runtime_runs_many_pods_without_processes():
    """--runtime fake: 40 pods go Running and Ready with complete status and no process;
    deletion takes the real path (SIGTERM recorded as exit 143) and removes them."""
    srv = start_apiserver(embedded=True, agent_args=["--runtime", "fake", "--node-name",
                                                     "fake-e2e", "--agent-port", "0"])
    try:
        wait_for(lambda: node_ready(srv, "fake-e2e"), what="node Ready", timeout=30)
        procs_before = len(os.listdir("/proc"))
        r = srv.kubectl("create", "deployment", "many", "--image=example.org/none:1",
                        "--replicas=40")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: (lambda ps: len(ps) == 40 and all(ready(p) for p in ps))(pods(srv)),
                 what="40 pods Ready", timeout=90, every=0.2)
        assert len(os.listdir("/proc")) - procs_before < 10, "fake pods started processes"
        for p in pods(srv):
            st = p["status"]
            assert st["phase"] == "Running" and st["hostIP"] == "127.0.0.1" and st["startTime"]
            assert {c["type"] for c in st["conditions"]} >= {
                "Initialized", "Ready", "ContainersReady", "PodScheduled"}
            cs = st["containerStatuses"][0]
            assert cs["ready"] and cs["started"] and "running" in cs["state"], cs
            assert cs["containerID"].startswith("k8c://") and cs["restartCount"] == 0
            assert cs["imageID"] == "k8c-fake://example.org/none:1", cs
        # Events are posted by the agent's recorder thread, shortly after the pods start
        wait_for(lambda: len(srv.kubectl("get", "events", "--field-selector", "reason=Started",
                                         "-o", "name").stdout.split()) == 40,
                 what="40 Started events", timeout=30, every=0.5)
        r = srv.kubectl("delete", "deployment", "many", timeout=90)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: not pods(srv), what="pods deleted", timeout=60, every=0.2)
        wait_for(lambda: not os.listdir(os.path.join(srv.data_dir, "agent", "pods")),
                 what="pod dirs removed", timeout=10)
    finally:
        stop_apiserver(srv)


def test_server_without_root_runs_without_agent():
    """Not root: the API server serves and the agent stays off with one clear log line."""
    nobody = pwd.getpwnam("nobody")
    d = tempfile.mkdtemp(prefix="k8c-e2e-embed-nonroot-")
    os.chmod(d, 0o755)
    data = os.path.join(d, "data")
    os.mkdir(data)
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    log = open(os.path.join(d, "log"), "w")
    proc = subprocess.Popen(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                             "--clear-groups", K8C, "server", "--data-dir", data, "--listen",
                             "127.0.0.1:16443"], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    try:
        kc = os.path.join(data, "admin.kubeconfig")
        wait_for(lambda: os.path.exists(kc) and "embedded controllers started" in
                 open(os.path.join(d, "log")).read(), what="server up", timeout=30)
        r = subprocess.run([KUBECTL, "--kubeconfig", kc, "get", "ns", "default"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        text = open(os.path.join(d, "log")).read()
        lines = [l for l in text.splitlines() if "node agent not started" in l]
        assert len(lines) == 1 and "needs root" in lines[0], text
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(d, ignore_errors=True)


def test_memory_pressure_taints_the_node_and_evicts_best_effort_first(tmp_path):
    """The agent's readings seam (K8C_TEST_NODE_READINGS) reports 50Mi of memory left:
    MemoryPressure goes True with kubelet's reason, the node gets the memory-pressure
    NoSchedule taint (a new pod is not scheduled), and of a Guaranteed, a Burstable and a
    BestEffort pod the BestEffort one is evicted: Failed, reason Evicted, kubelet's message."""
    readings = tmp_path / "readings.json"
    readings.write_text("{}")
    os.environ["K8C_TEST_NODE_READINGS"] = str(readings)
    try:
        srv = start_apiserver(embedded=True, agent_args=["--runtime", "fake", "--node-name",
                                                         "pressure-e2e", "--agent-port", "0"])
    finally:
        del os.environ["K8C_TEST_NODE_READINGS"]
    try:
        wait_for(lambda: node_ready(srv, "pressure-e2e"), what="node Ready", timeout=30)

        def conditions():
            node = srv.json("GET", "/api/v1/nodes/pressure-e2e")[1]
            return {c["type"]: c for c in node["status"]["conditions"]}, node
        conds, _ = conditions()
        assert conds["MemoryPressure"]["status"] == "False"
        assert conds["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
        assert conds["DiskPressure"]["reason"] == "KubeletHasNoDiskPressure"
        assert conds["PIDPressure"]["reason"] == "KubeletHasSufficientPID"

        def pod(name, resources):
            return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"containers": [{"name": "main", "image": "example.org/app:1",
                                             "resources": resources}]}}
        lim = {"cpu": "100m", "memory": "64Mi"}
        for body in (pod("guaranteed", {"limits": lim}),
                     pod("burstable", {"requests": {"memory": "16Mi"}}),
                     pod("besteffort", {})):
            r = srv.kubectl("create", "-f", "-", input=json.dumps(body))
            assert r.returncode == 0, r.stderr
        wait_for(lambda: (lambda ps: len(ps) == 3 and all(ready(p) for p in ps))(pods(srv)),
                 what="3 pods Ready", timeout=30, every=0.2)
        qos = {p["metadata"]["name"]: p["status"]["qosClass"] for p in pods(srv)}
        assert qos == {"guaranteed": "Guaranteed", "burstable": "Burstable",
                       "besteffort": "BestEffort"}

        readings.write_text(json.dumps({"memory.available": 50 * 1024 * 1024}))
        wait_for(lambda: conditions()[0]["MemoryPressure"]["status"] == "True",
                 what="MemoryPressure", timeout=25, every=0.5)
        conds, node = conditions()
        assert conds["MemoryPressure"]["reason"] == "KubeletHasInsufficientMemory"
        assert conds["Ready"]["status"] == "True"
        wait_for(lambda: any(t["key"] == "node.kubernetes.io/memory-pressure" and
                             t["effect"] == "NoSchedule" for t in
                             conditions()[1]["spec"].get("taints", [])),
                 what="memory-pressure taint", timeout=10, every=0.3)

        def phase_of(name):
            return srv.json("GET", f"/api/v1/namespaces/default/pods/{name}")[1]["status"]
        st = wait_for(lambda: (lambda s: s if s.get("reason") == "Evicted" else None)(
            phase_of("besteffort")), what="BestEffort pod evicted", timeout=25, every=0.5)
        readings.write_text("{}")  # the pressure ends: no further eviction
        assert st["phase"] == "Failed"
        assert st["message"].startswith("The node was low on resource: memory. Threshold "
                                        "quantity: 100Mi, available: 51200Ki. Container main "
                                        "was using 0, request is 0, has larger consumption of "
                                        "memory."), st["message"]
        assert not st["containerStatuses"][0]["ready"]
        for name in ("guaranteed", "burstable"):
            s = phase_of(name)
            assert s["phase"] == "Running" and s.get("reason") != "Evicted", (name, s)
        r = srv.kubectl("get", "events", "--field-selector", "reason=Evicted", "-o", "json")
        assert r.returncode == 0
        evs = json.loads(r.stdout)["items"]
        assert [e["involvedObject"]["name"] for e in evs] == ["besteffort"], evs
        # the taint keeps new pods off the node
        r = srv.kubectl("run", "late", "--image=example.org/app:1")
        assert r.returncode == 0, r.stderr
        time.sleep(2)
        late = srv.json("GET", "/api/v1/namespaces/default/pods/late")[1]
        assert not late["spec"].get("nodeName"), late
        assert any(c["type"] == "PodScheduled" and c["status"] == "False"
                   for c in late["status"].get("conditions", [])), late["status"]
    finally:
        stop_apiserver(srv)
