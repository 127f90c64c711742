"""End-to-end tests of `k8c scheduler` with `k8c hollow` nodes against a real `k8c server`:
pods get bound and Running, resources fill up and pods go Pending with kube-scheduler's
FailedScheduling message, taints and tolerations, spreading across zones, preemption."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import K8C, KUBECTL, start_apiserver, stop_apiserver

NODES = 3
PREFIX = "hollow-e2e-"


def _stop(proc, log):
    """SIGTERM, then SIGKILL after 15 s; returns what went wrong (or None): an unclean exit
    or a sanitizer report (run with K8C_BIN=build/asan/k8c for those)."""
    problem = None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
            problem = "did not stop within 15 s of SIGTERM"
    if problem is None and proc.returncode != 0:
        problem = f"exited {proc.returncode}"
    if "Sanitizer" in log or "runtime error:" in log:
        problem = "sanitizer report"
    return problem


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Cluster:
    def __init__(self, srv):
        self.srv = srv
        self.procs = []

    def spawn(self, name, *args):
        log = open(os.path.join(self.srv.data_dir, f"{name}.log"), "w")
        p = subprocess.Popen([K8C, *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append((name, p))
        return p

    def stop_all(self):
        """Stops every spawned process; returns what went wrong with each, if anything."""
        problems = []
        for name, p in self.procs:
            problem = _stop(p, self.log(name))
            if problem:
                problems.append(f"k8c {name} {problem}:\n{self.log(name)[-4000:]}")
        return problems

    def log(self, name):
        with open(os.path.join(self.srv.data_dir, f"{name}.log"), errors="replace") as f:
            return f.read()

    def kubectl(self, *args, input=None, check=True):
        r = self.srv.kubectl(*args, input=input)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r

    def pod(self, name, ns="default"):
        st, obj = self.srv.json("GET", f"/api/v1/namespaces/{ns}/pods/{name}")
        return obj if st == 200 else None

    def create_pod(self, name, cpu=None, ns="default", **spec):
        container = {"name": "c", "image": "nginx"}
        if cpu:
            container["resources"] = {"requests": {"cpu": cpu}}
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": spec.pop("labels", {})},
                "spec": {"containers": [container], **spec}}
        st, obj = self.srv.json("POST", f"/api/v1/namespaces/{ns}/pods", body)
        assert st == 201, obj
        return obj

    def delete_pods(self, names, ns="default"):
        for n in names:
            self.srv.json("DELETE", f"/api/v1/namespaces/{ns}/pods/{n}")
        # hollow finalizes bound pods (grace period 0), as a kubelet would
        wait_for(lambda: all(self.pod(n, ns) is None for n in names), what=f"{names} deleted")

    def node_of(self, name):
        p = self.pod(name)
        return p and p["spec"].get("nodeName")

    def wait_running(self, name):
        return wait_for(lambda: (lambda p: p and p.get("status", {}).get("phase") == "Running"
                                 and p["status"].get("podIP") and p)(self.pod(name)),
                        what=f"pod {name} Running")

    def scheduled_condition(self, name):
        p = self.pod(name)
        for c in (p or {}).get("status", {}).get("conditions", []):
            if c.get("type") == "PodScheduled":
                return c
        return None

    def events(self, name):
        st, obj = self.srv.json("GET", "/api/v1/namespaces/default/events")
        assert st == 200, obj
        return [e for e in obj["items"] if e["involvedObject"]["name"] == name]


@pytest.fixture(scope="module")
def cluster():
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    srv = start_apiserver()
    c = Cluster(srv)
    try:
        c.spawn("hollow", "hollow", "--nodes", str(NODES), "--kubeconfig", srv.kubeconfig,
                "--name-prefix", PREFIX, "--cpu", "2", "--memory", "4Gi", "--zones", "a,b,c")
        c.spawn("scheduler", "scheduler", "--kubeconfig", srv.kubeconfig, "-v", "2")

        def nodes_ready():
            st, obj = srv.json("GET", "/api/v1/nodes")
            return st == 200 and len(obj["items"]) == NODES and "ready" in c.log("hollow")
        wait_for(nodes_ready, what="hollow nodes registered")
        yield c
    finally:
        problems = []
        for name, p in c.procs:
            problem = _stop(p, c.log(name))
            if problem:
                problems.append(f"k8c {name} {problem}:\n{c.log(name)[-4000:]}")
        stop_apiserver(srv)
    assert not problems, "\n".join(problems)


def test_hollow_nodes_look_like_kubelets(cluster):
    r = cluster.kubectl("get", "nodes", "-o", "json")
    nodes = json.loads(r.stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == [f"{PREFIX}{i}" for i in range(NODES)]
    for n in nodes:
        assert n["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0-k8c"
        assert n["status"]["allocatable"]["cpu"] == "2"
        ready = [c for c in n["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"
    zones = sorted(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes)
    assert zones == ["a", "b", "c"]
    st, leases = cluster.srv.json("GET", "/apis/coordination.k8s.io/v1/namespaces/"
                                  "kube-node-lease/leases")
    assert st == 200
    assert {lease["metadata"]["name"] for lease in leases["items"]} >= {
        f"{PREFIX}{i}" for i in range(NODES)}


def test_pod_is_bound_running_and_has_scheduled_event(cluster):
    cluster.create_pod("p1")
    pod = cluster.wait_running("p1")
    node = pod["spec"]["nodeName"]
    assert node.startswith(PREFIX)
    events = wait_for(lambda: [e for e in cluster.events("p1") if e["reason"] == "Scheduled"],
                      what="Scheduled event")
    assert events[0]["message"] == f"Successfully assigned default/p1 to {node}"
    assert events[0]["source"]["component"] == "default-scheduler"
    assert events[0]["reportingComponent"] == "default-scheduler"
    assert events[0]["type"] == "Normal"
    r = cluster.kubectl("get", "pod", "p1", "-o", "wide")
    assert "Running" in r.stdout and node in r.stdout
    cluster.delete_pods(["p1"])


def test_other_schedulers_pods_are_left_alone(cluster):
    cluster.create_pod("mine-not", schedulerName="someone-else")
    cluster.create_pod("marker")
    cluster.wait_running("marker")
    assert cluster.node_of("mine-not") is None
    cluster.delete_pods(["mine-not", "marker"])


def test_resources_fill_up_then_pending_with_message(cluster):
    names = [f"fill-{i}" for i in range(NODES)]
    for n in names:
        cluster.create_pod(n, cpu="1500m")
    for n in names:
        cluster.wait_running(n)
    assert len({cluster.node_of(n) for n in names}) == NODES  # one per node: 2 x 1.5 > 2
    cluster.create_pod("starved", cpu="1")
    want = (f"0/{NODES} nodes are available: {NODES} Insufficient cpu. preemption: 0/{NODES} "
            f"nodes are available: {NODES} No preemption victims found for incoming pod.")
    cond = wait_for(lambda: cluster.scheduled_condition("starved"), what="PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"] == want
    ev = wait_for(lambda: [e for e in cluster.events("starved")
                           if e["reason"] == "FailedScheduling"], what="FailedScheduling")
    assert ev[0]["message"] == want and ev[0]["type"] == "Warning"
    r = cluster.kubectl("describe", "pod", "starved")
    assert "FailedScheduling" in r.stdout and "Insufficient cpu" in r.stdout
    assert cluster.pod("starved")["status"].get("phase") == "Pending"
    # freeing a node lets the pending pod in (a pod deletion is a cluster event)
    freed = cluster.node_of(names[0])
    cluster.delete_pods(names[:1])
    wait_for(lambda: cluster.node_of("starved") == freed, what="starved pod bound")
    cluster.delete_pods(names[1:] + ["starved"])


def test_taints_and_tolerations(cluster):
    n0, n1, n2 = (f"{PREFIX}{i}" for i in range(3))
    for n in (n1, n2):
        cluster.kubectl("taint", "node", n, "node-role=infra:NoSchedule")
    try:
        cluster.create_pod("big", cpu="1500m", nodeSelector={"kubernetes.io/hostname": n0})
        cluster.wait_running("big")
        cluster.create_pod("small", cpu="1")
        want = ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
                "{node-role: infra}. preemption: 0/3 nodes are available: 1 No preemption "
                "victims found for incoming pod, 2 Preemption is not helpful for scheduling.")
        cond = wait_for(lambda: cluster.scheduled_condition("small"), what="PodScheduled")
        assert cond["message"] == want
        cluster.create_pod("tolerant", cpu="1", tolerations=[
            {"key": "node-role", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}])
        cluster.wait_running("tolerant")
        assert cluster.node_of("tolerant") in (n1, n2)
        cluster.create_pod("tolerates-all", tolerations=[{"operator": "Exists"}])
        cluster.wait_running("tolerates-all")
    finally:
        for n in (n1, n2):
            cluster.kubectl("taint", "node", n, "node-role-", check=False)
    # untainting is a node update: the pending pod is retried and fits
    wait_for(lambda: cluster.node_of("small") in (n1, n2), what="small bound after untaint")
    cluster.delete_pods(["big", "small", "tolerant", "tolerates-all"])


def test_spread_across_zones(cluster):
    names = [f"spread-{i}" for i in range(6)]
    for n in names:
        cluster.create_pod(n, cpu="100m", labels={"app": "spread"}, topologySpreadConstraints=[{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "spread"}}}])
    for n in names:
        cluster.wait_running(n)
    per_node = {}
    for n in names:
        per_node[cluster.node_of(n)] = per_node.get(cluster.node_of(n), 0) + 1
    assert sorted(per_node.values()) == [2, 2, 2], per_node
    cluster.delete_pods(names)


def test_required_anti_affinity_and_bad_selector(cluster):
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "topologyKey": "kubernetes.io/hostname",
        "labelSelector": {"matchLabels": {"app": "solo"}}}]}}
    names = [f"solo-{i}" for i in range(NODES + 1)]
    for n in names:
        cluster.create_pod(n, labels={"app": "solo"}, affinity=anti)
    for n in names[:NODES]:
        cluster.wait_running(n)
    cond = wait_for(lambda: cluster.scheduled_condition(names[-1]), what="PodScheduled")
    assert cond["message"].startswith(
        f"0/{NODES} nodes are available: {NODES} node(s) didn't match pod anti-affinity rules.")
    assert len({cluster.node_of(n) for n in names[:NODES]}) == NODES
    cluster.delete_pods(names)


def test_preemption_of_lower_priority_pods(cluster):
    low = [f"low-{i}" for i in range(NODES)]
    for n in low:
        cluster.create_pod(n, cpu="1500m", priority=1)
    for n in low:
        cluster.wait_running(n)
    cluster.create_pod("vip", cpu="1", priority=1000)
    pod = cluster.wait_running("vip")
    node = pod["spec"]["nodeName"]
    assert pod["status"].get("nominatedNodeName") == node
    victims = [n for n in low if cluster.pod(n) is None]
    assert len(victims) == 1, victims
    ev = wait_for(lambda: [e for e in cluster.events(victims[0]) if e["reason"] == "Preempted"],
                  what="Preempted event")
    assert ev[0]["message"] == f"Preempted by pod {pod['metadata']['uid']} on node {node}"
    # a pod that may not preempt says so
    cluster.create_pod("polite", cpu="1500m", priority=1000, preemptionPolicy="Never")
    cond = wait_for(lambda: cluster.scheduled_condition("polite"), what="PodScheduled")
    assert cond["message"].endswith("preemption: not eligible due to preemptionPolicy=Never.")
    cluster.delete_pods([n for n in low if n not in victims] + ["vip", "polite"])


def test_scheduler_flags(cluster):
    r = subprocess.run([K8C, "scheduler"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--kubeconfig is required" in r.stderr
    r = subprocess.run([K8C, "hollow", "--nodes", "0", "--kubeconfig", "x"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--nodes" in r.stderr
    r = subprocess.run([K8C, "hollow", "--nodes", "1", "--kubeconfig", "x", "--cpu", "lots"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "lots" in r.stderr
    r = subprocess.run([K8C, "scheduler", "--kubeconfig", "/nonexistent/kubeconfig"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "/nonexistent/kubeconfig" in r.stderr


def test_leases_are_renewed(cluster):
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{PREFIX}0"
    st, lease = cluster.srv.json("GET", path)
    assert st == 200 and lease["spec"]["holderIdentity"] == f"{PREFIX}0"
    first = lease["spec"]["renewTime"]
    # every 10 s per node (spread over the period): a renewal comes within 12 s
    wait_for(lambda: cluster.srv.json("GET", path)[1]["spec"]["renewTime"] != first,
             timeout=15, what="lease renewal")
