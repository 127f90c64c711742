"""The controllers end to end: `k8c server` + `k8c controller-manager` + simulated nodes
(controllers_lab.py), driven by the machine's real kubectl. Deployments become available,
heal, scale, roll out keeping availability (checked continuously), roll back reusing the old
ReplicaSet, pause/resume/restart, hit their progress deadline; deletes cascade or orphan;
Services get Endpoints and EndpointSlices; namespaces empty themselves; an unreachable node's
pods are recreated on the other node."""
import json
import os
import signal
import subprocess
import textwrap
import threading
import time

import pytest

from conftest import KUBECTL, start_apiserver, stop_apiserver
from controllers_lab import Manager, Nodes, get_json, items, wait_for


def ok(r):
    assert r.returncode == 0, f"rc={r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


class Cluster:
    def __init__(self, srv, manager, nodes):
        self.srv, self.manager, self.nodes = srv, manager, nodes

    def kubectl(self, *args, timeout=90):
        return self.srv.kubectl(*args, timeout=timeout)

    def diagnostics(self):
        return f"controller-manager log (tail):\n{self.manager.log()[-6000:]}"


@pytest.fixture(scope="module")
def cluster():
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    srv = start_apiserver()
    c = Cluster(srv, None, None)
    log = ""
    try:
        c.nodes = Nodes(srv, ["node-a", "node-b"])
        c.manager = Manager(srv, "--node-monitor-grace-period", "4s")
        yield c
    finally:
        if c.nodes:
            c.nodes.close()
        manager = c.manager
        if manager:
            manager.stop()
            log = manager.log()
            if os.environ.get("K8C_KEEP_LOGS"):
                with open(os.environ["K8C_KEEP_LOGS"], "w") as f:
                    f.write(manager.log())
        stop_apiserver(srv)
    # A clean stop: exit 0, and no sanitizer report when run with build/asan/k8c.
    assert c.manager is None or c.manager.proc.returncode == 0, log[-3000:]
    for bad in ("ERROR: AddressSanitizer", "runtime error", "LeakSanitizer"):
        assert bad not in log, log[-6000:]


@pytest.fixture
def ns(cluster, request):
    name = "c-" + request.node.name.replace("_", "-")[5:40].strip("-").lower()
    status, body = cluster.srv.json("POST", "/api/v1/namespaces",
                                    {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name}})
    assert status == 201, body
    return name


def deployment(name, replicas, image="nginx:1.27", extra_spec=None, template_extra=None):
    """A Deployment manifest (JSON, which kubectl apply reads as YAML)."""
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": "main", "image": image}]}}}}
    d["spec"].update(extra_spec or {})
    d["spec"]["template"]["spec"].update(template_extra or {})
    return json.dumps(d)


def apply(cluster, ns, text, tmp_path, fname="obj.yaml"):
    p = tmp_path / fname
    p.write_text(text)
    return ok(cluster.kubectl("-n", ns, "apply", "-f", str(p)))


def pods_of(cluster, ns, app, ready_only=False):
    out = []
    for p in items(cluster.srv, f"/api/v1/namespaces/{ns}/pods"):
        if p["metadata"].get("labels", {}).get("app") != app:
            continue
        if p["metadata"].get("deletionTimestamp"):
            continue
        if ready_only and not any(c.get("type") == "Ready" and c.get("status") == "True"
                                  for c in p.get("status", {}).get("conditions", [])):
            continue
        out.append(p)
    return out


def replicasets(cluster, ns):
    return items(cluster.srv, f"/apis/apps/v1/namespaces/{ns}/replicasets")


def rollout_status(cluster, ns, name, timeout="60s"):
    return cluster.kubectl("-n", ns, "rollout", "status", f"deploy/{name}",
                           f"--timeout={timeout}", timeout=120)


def test_deployment_becomes_available_and_heals(cluster, ns, tmp_path):
    apply(cluster, ns, deployment("web", 3), tmp_path)
    out = ok(rollout_status(cluster, ns, "web"))
    assert 'deployment "web" successfully rolled out' in out
    d = get_json(cluster.srv, f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    st = d["status"]
    assert st["replicas"] == 3 and st["updatedReplicas"] == 3, st
    assert st["readyReplicas"] == 3 and st["availableReplicas"] == 3, st
    assert st["observedGeneration"] >= d["metadata"]["generation"]
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    # One ReplicaSet <deploy>-<hash>, owned by the deployment, pods owned by it.
    rss = replicasets(cluster, ns)
    assert len(rss) == 1
    rs = rss[0]
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    ref = rs["metadata"]["ownerReferences"][0]
    assert ref["kind"] == "Deployment" and ref["controller"] is True
    assert ref["uid"] == d["metadata"]["uid"] and ref["blockOwnerDeletion"] is True
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = pods_of(cluster, ns, "web", ready_only=True)
    assert len(pods) == 3
    for p in pods:
        assert p["metadata"]["name"].startswith(f"web-{h}-")
        assert p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    # A deleted pod is replaced.
    victim = pods[0]["metadata"]["name"]
    ok(cluster.kubectl("-n", ns, "delete", "pod", victim))
    names = wait_for("3 ready pods without the deleted one", lambda: (
        lambda ps: len(ps) == 3 and victim not in {p["metadata"]["name"] for p in ps} and ps
    )(pods_of(cluster, ns, "web", ready_only=True)))
    assert len(names) == 3


def test_scale_up_and_down(cluster, ns, tmp_path):
    apply(cluster, ns, deployment("scaled", 3), tmp_path)
    ok(rollout_status(cluster, ns, "scaled"))
    assert "deployment.apps/scaled scaled" in ok(
        cluster.kubectl("-n", ns, "scale", "deploy/scaled", "--replicas=10"))
    ok(rollout_status(cluster, ns, "scaled"))
    wait_for("10 ready pods", lambda: len(pods_of(cluster, ns, "scaled", True)) == 10)
    ok(cluster.kubectl("-n", ns, "scale", "deploy/scaled", "--replicas=2"))
    wait_for("2 pods", lambda: len(pods_of(cluster, ns, "scaled")) == 2)
    ok(rollout_status(cluster, ns, "scaled"))
    d = get_json(cluster.srv, f"/apis/apps/v1/namespaces/{ns}/deployments/scaled")
    assert d["status"]["replicas"] == 2 and d["status"]["availableReplicas"] == 2
    assert len(replicasets(cluster, ns)) == 1


def test_orphan_pods_are_adopted_and_extra_ones_removed(cluster, ns, tmp_path):
    # A bare pod carrying the selector's labels is adopted: the set then creates one less.
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "stray", "labels": {"app": "adopt"}},
           "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}
    status, body = cluster.srv.json("POST", f"/api/v1/namespaces/{ns}/pods", pod)
    assert status == 201, body
    rs = textwrap.dedent("""\
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata:
          name: adopt
        spec:
          replicas: 2
          selector:
            matchLabels: {app: adopt}
          template:
            metadata:
              labels: {app: adopt}
            spec:
              containers:
              - name: main
                image: nginx:1.27
        """)
    apply(cluster, ns, rs, tmp_path)
    wait_for("ReplicaSet status 2 ready", lambda: (get_json(
        cluster.srv, f"/apis/apps/v1/namespaces/{ns}/replicasets/adopt") or {}).get(
        "status", {}).get("readyReplicas") == 2)
    stray = get_json(cluster.srv, f"/api/v1/namespaces/{ns}/pods/stray")
    assert stray["metadata"]["ownerReferences"][0]["name"] == "adopt"
    assert len(pods_of(cluster, ns, "adopt")) == 2
    # Relabelled, it is released and replaced.
    ok(cluster.kubectl("-n", ns, "label", "pod", "stray", "app=gone", "--overwrite"))
    wait_for("stray released", lambda: not get_json(
        cluster.srv, f"/api/v1/namespaces/{ns}/pods/stray")["metadata"].get("ownerReferences"))
    wait_for("2 pods again", lambda: len(pods_of(cluster, ns, "adopt", True)) == 2)


def test_rolling_update_keeps_availability_and_rolls_back(cluster, ns, tmp_path):
    spec = {"strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}}
    apply(cluster, ns, deployment("roll", 6, extra_spec=spec), tmp_path)
    ok(rollout_status(cluster, ns, "roll"))
    lowest = [6]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            n = len(pods_of(cluster, ns, "roll", ready_only=True))
            lowest[0] = min(lowest[0], n)
            time.sleep(0.02)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        ok(cluster.kubectl("-n", ns, "set", "image", "deploy/roll", "main=nginx:1.28"))
        out = ok(rollout_status(cluster, ns, "roll"))
    finally:
        stop.set()
        t.join()
    assert 'deployment "roll" successfully rolled out' in out
    assert lowest[0] >= 5, f"availability fell to {lowest[0]} (maxUnavailable 1)"
    pods = pods_of(cluster, ns, "roll")
    assert len(pods) == 6
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
    rss = replicasets(cluster, ns)
    assert len(rss) == 2
    revs = sorted(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for r in rss)
    assert revs == ["1", "2"]
    hist = ok(cluster.kubectl("-n", ns, "rollout", "history", "deploy/roll"))
    assert "REVISION" in hist and "1 " in hist and "2 " in hist
    rev2 = ok(cluster.kubectl("-n", ns, "rollout", "history", "deploy/roll", "--revision=2"))
    assert "nginx:1.28" in rev2 and "pod-template-hash" in rev2
    # Undo: the old ReplicaSet comes back as revision 3; no third set is made.
    assert "rolled back" in ok(cluster.kubectl("-n", ns, "rollout", "undo", "deploy/roll"))
    ok(rollout_status(cluster, ns, "roll"))
    rss = replicasets(cluster, ns)
    assert len(rss) == 2, [r["metadata"]["name"] for r in rss]
    by_rev = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r for r in rss}
    assert set(by_rev) == {"2", "3"}
    assert by_rev["3"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert by_rev["3"]["metadata"]["annotations"].get(
        "deployment.kubernetes.io/revision-history") == "1"
    wait_for("pods back on 1.27", lambda: {
        p["spec"]["containers"][0]["image"] for p in pods_of(cluster, ns, "roll")} == {
        "nginx:1.27"} and len(pods_of(cluster, ns, "roll", True)) == 6)
    # Pause: a template change makes no new set until resume.
    ok(cluster.kubectl("-n", ns, "rollout", "pause", "deploy/roll"))
    ok(cluster.kubectl("-n", ns, "set", "image", "deploy/roll", "main=nginx:1.29"))
    time.sleep(1.5)  # a paused deployment must stay put; nothing to wait for
    assert len(replicasets(cluster, ns)) == 2
    d = get_json(cluster.srv, f"/apis/apps/v1/namespaces/{ns}/deployments/roll")
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Progressing"]["reason"] == "DeploymentPaused"
    ok(cluster.kubectl("-n", ns, "rollout", "resume", "deploy/roll"))
    ok(rollout_status(cluster, ns, "roll"))
    assert len(replicasets(cluster, ns)) == 3
    # Restart: a new set with the same image.
    ok(cluster.kubectl("-n", ns, "rollout", "restart", "deploy/roll"))
    ok(rollout_status(cluster, ns, "roll"))
    rss = replicasets(cluster, ns)
    assert len(rss) == 4
    live = [r for r in rss if r["spec"]["replicas"] > 0]
    assert len(live) == 1
    tmpl = live[0]["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in tmpl["metadata"]["annotations"]
    assert tmpl["spec"]["containers"][0]["image"] == "nginx:1.29"


def test_recreate_strategy(cluster, ns, tmp_path):
    spec = {"strategy": {"type": "Recreate"}}
    apply(cluster, ns, deployment("rec", 3, extra_spec=spec), tmp_path)
    ok(rollout_status(cluster, ns, "rec"))
    ok(cluster.kubectl("-n", ns, "set", "image", "deploy/rec", "main=nginx:1.28"))
    ok(rollout_status(cluster, ns, "rec"))
    pods = pods_of(cluster, ns, "rec")
    assert len(pods) == 3
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}


def test_manager_restart_mid_rollout_resumes(cluster, ns, tmp_path):
    spec = {"strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}
    apply(cluster, ns, deployment("resume", 4, extra_spec=spec), tmp_path)
    ok(rollout_status(cluster, ns, "resume"))
    ok(cluster.kubectl("-n", ns, "set", "image", "deploy/resume", "main=nginx:1.28"))
    wait_for("the rollout under way", lambda: len(replicasets(cluster, ns)) == 2)
    cluster.manager.stop(signal.SIGKILL)
    cluster.manager = Manager(cluster.srv, "--node-monitor-grace-period", "4s")
    ok(rollout_status(cluster, ns, "resume"))
    pods = pods_of(cluster, ns, "resume", True)
    assert len(pods) == 4
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
    assert len(replicasets(cluster, ns)) == 2


def test_broken_rollout_hits_progress_deadline_then_undo(cluster, ns, tmp_path):
    spec = {"progressDeadlineSeconds": 3}
    apply(cluster, ns, deployment("stuck", 2, extra_spec=spec), tmp_path)
    ok(rollout_status(cluster, ns, "stuck"))
    ok(cluster.kubectl("-n", ns, "set", "image", "deploy/stuck", "main=k8c.invalid/broken:1"))
    r = rollout_status(cluster, ns, "stuck", timeout="60s")
    assert r.returncode != 0
    assert 'deployment "stuck" exceeded its progress deadline' in r.stderr, r.stderr
    d = get_json(cluster.srv, f"/apis/apps/v1/namespaces/{ns}/deployments/stuck")
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Progressing"]["status"] == "False"
    assert conds["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    # The old pods kept serving meanwhile (maxUnavailable 25% of 2 rounds down to 0).
    assert len([p for p in pods_of(cluster, ns, "stuck", True)
                if p["spec"]["containers"][0]["image"] == "nginx:1.27"]) == 2
    ok(cluster.kubectl("-n", ns, "rollout", "undo", "deploy/stuck"))
    ok(rollout_status(cluster, ns, "stuck"))
    wait_for("broken pods gone", lambda: all(
        p["spec"]["containers"][0]["image"] == "nginx:1.27"
        for p in pods_of(cluster, ns, "stuck")))


def test_delete_cascades_orphans_and_foreground(cluster, ns, tmp_path):
    apply(cluster, ns, deployment("gone", 2), tmp_path)
    ok(rollout_status(cluster, ns, "gone"))
    ok(cluster.kubectl("-n", ns, "delete", "deploy/gone"))
    wait_for("sets and pods of a deleted deployment collected",
             lambda: not replicasets(cluster, ns) and not pods_of(cluster, ns, "gone"))

    apply(cluster, ns, deployment("kept", 2), tmp_path)
    ok(rollout_status(cluster, ns, "kept"))
    ok(cluster.kubectl("-n", ns, "delete", "deploy/kept", "--cascade=orphan"))
    wait_for("deployment gone", lambda: get_json(
        cluster.srv, f"/apis/apps/v1/namespaces/{ns}/deployments/kept") is None)
    rss = wait_for("the orphaned set without owner", lambda: [
        r for r in replicasets(cluster, ns) if not r["metadata"].get("ownerReferences")])
    assert len(rss) == 1
    assert len(pods_of(cluster, ns, "kept")) == 2
    # The orphaned set still owns its pods and still keeps them.
    for p in pods_of(cluster, ns, "kept"):
        assert p["metadata"]["ownerReferences"][0]["uid"] == rss[0]["metadata"]["uid"]

    apply(cluster, ns, deployment("fg", 2), tmp_path, "fg.yaml")
    ok(rollout_status(cluster, ns, "fg"))
    ok(cluster.kubectl("-n", ns, "delete", "deploy/fg", "--cascade=foreground"))
    wait_for("foreground delete finished", lambda: get_json(
        cluster.srv, f"/apis/apps/v1/namespaces/{ns}/deployments/fg") is None and
        not pods_of(cluster, ns, "fg"))


def test_service_endpoints_and_slices(cluster, ns, tmp_path):
    apply(cluster, ns, deployment("svc", 3), tmp_path)
    ok(rollout_status(cluster, ns, "svc"))
    svc = textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata:
          name: svc
        spec:
          selector: {app: svc}
          ports:
          - {name: http, port: 80, targetPort: 8080}
        """)
    apply(cluster, ns, svc, tmp_path, "svc.yaml")
    ips = {p["status"]["podIP"] for p in pods_of(cluster, ns, "svc")}

    def endpoint_ips():
        ep = get_json(cluster.srv, f"/api/v1/namespaces/{ns}/endpoints/svc")
        if not ep or not ep.get("subsets"):
            return None
        sub = ep["subsets"][0]
        return {a["ip"] for a in sub.get("addresses", [])}, sub["ports"]

    got, ports = wait_for("endpoints of 3 pods", lambda: (
        lambda e: e if e and len(e[0]) == 3 else None)(endpoint_ips()))
    assert got == ips
    assert ports == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    slices = wait_for("an EndpointSlice with 3 endpoints", lambda: [
        s for s in items(cluster.srv,
                         f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices")
        if len(s.get("endpoints") or []) == 3])
    s = slices[0]
    assert s["metadata"]["labels"]["kubernetes.io/service-name"] == "svc"
    assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslice-controller.k8s.io"
    assert s["addressType"] == "IPv4"
    assert {e["addresses"][0] for e in s["endpoints"]} == ips
    assert all(e["conditions"]["ready"] for e in s["endpoints"])
    # Scaling down shrinks both.
    ok(cluster.kubectl("-n", ns, "scale", "deploy/svc", "--replicas=1"))
    wait_for("endpoints of 1 pod", lambda: (
        lambda e: e and len(e[0]) == 1)(endpoint_ips()))
    wait_for("a slice of 1", lambda: [
        s for s in items(cluster.srv,
                         f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices")
        if len(s.get("endpoints") or []) == 1])


def test_named_ports_and_not_ready_addresses(cluster, ns, tmp_path):
    ports = {"containers": [{"name": "main", "image": "k8c.invalid/unready:1",
                             "ports": [{"name": "web", "containerPort": 8080}]}]}
    apply(cluster, ns, deployment("nr", 2, template_extra=ports), tmp_path)
    wait_for("2 running pods with IPs", lambda: len(
        [p for p in pods_of(cluster, ns, "nr") if p.get("status", {}).get("podIP")]) == 2)
    for name, publish in (("plain", False), ("publish", True)):
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"selector": {"app": "nr"}, "publishNotReadyAddresses": publish,
                        "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}}
        apply(cluster, ns, json.dumps(svc), tmp_path, f"{name}.json")

    def subset(name):
        ep = get_json(cluster.srv, f"/api/v1/namespaces/{ns}/endpoints/{name}")
        return (ep or {}).get("subsets", [None])[0] if (ep or {}).get("subsets") else None

    plain = wait_for("not-ready addresses", lambda: (
        lambda s: s if s and len(s.get("notReadyAddresses", [])) == 2 else None)(subset("plain")))
    assert not plain.get("addresses")
    assert plain["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    pub = wait_for("published addresses", lambda: (
        lambda s: s if s and len(s.get("addresses", [])) == 2 else None)(subset("publish")))
    assert not pub.get("notReadyAddresses")
    slices = wait_for("the plain service's slice", lambda: [
        s for s in items(cluster.srv,
                         f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices")
        if s["metadata"]["labels"].get("kubernetes.io/service-name") == "plain" and
        len(s.get("endpoints") or []) == 2])
    assert all(not e["conditions"]["ready"] for e in slices[0]["endpoints"])
    assert slices[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_default_service_account_and_namespace_delete(cluster, tmp_path):
    name = "c-doomed"
    status, body = cluster.srv.json("POST", "/api/v1/namespaces",
                                    {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name}})
    assert status == 201, body
    wait_for("default service account", lambda: get_json(
        cluster.srv, f"/api/v1/namespaces/{name}/serviceaccounts/default"))
    apply(cluster, name, deployment("web", 2), tmp_path)
    ok(rollout_status(cluster, name, "web"))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
          "data": {"a": "b"}}
    status, body = cluster.srv.json("POST", f"/api/v1/namespaces/{name}/configmaps", cm)
    assert status == 201, body
    ok(cluster.kubectl("delete", "namespace", name, timeout=120))
    assert get_json(cluster.srv, f"/api/v1/namespaces/{name}") is None
    assert not items(cluster.srv, f"/api/v1/namespaces/{name}/pods")
    assert not items(cluster.srv, f"/apis/apps/v1/namespaces/{name}/replicasets")
    assert not items(cluster.srv, f"/api/v1/namespaces/{name}/configmaps")


def test_unreachable_node_pods_move(cluster, ns, tmp_path):
    tol = {"tolerations": [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 1},
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 1}]}
    apply(cluster, ns, deployment("moved", 4, template_extra=tol), tmp_path)
    ok(rollout_status(cluster, ns, "moved"))
    on_a = [p for p in pods_of(cluster, ns, "moved") if p["spec"]["nodeName"] == "node-a"]
    assert on_a, "the simulated scheduler spreads pods over both nodes"
    cluster.nodes.stop_node("node-a")
    try:
        wait_for("node-a Ready=Unknown", lambda: any(
            c["type"] == "Ready" and c["status"] == "Unknown"
            for c in get_json(cluster.srv, "/api/v1/nodes/node-a")["status"]["conditions"]),
            timeout=30)
        node = get_json(cluster.srv, "/api/v1/nodes/node-a")
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints", [])}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in taints
        assert ("node.kubernetes.io/unreachable", "NoSchedule") in taints
        wait_for("4 ready pods all on node-b", lambda: (
            lambda ps: len(ps) == 4 and all(p["spec"]["nodeName"] == "node-b" for p in ps)
        )(pods_of(cluster, ns, "moved", True)), timeout=60)
    finally:
        cluster.nodes.start_node("node-a")
    wait_for("node-a cleared", lambda: not (get_json(
        cluster.srv, "/api/v1/nodes/node-a")["spec"].get("taints")), timeout=30)


def test_leader_election_one_active_manager(tmp_path):
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    srv = start_apiserver()
    first = second = None
    try:
        flags = ("--leader-elect-lease-duration", "4s", "--leader-elect-renew-deadline", "3s",
                 "--leader-elect-retry-period", "1s")
        first = Manager(srv, "--leader-elect-identity", "first", *flags)
        lease_path = ("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"
                      "k8c-controller-manager")
        wait_for("first holds the lease", lambda: (get_json(srv, lease_path) or {}).get(
            "spec", {}).get("holderIdentity") == "first")
        second = Manager(srv, "--leader-elect-identity", "second", *flags)
        time.sleep(3)  # second must keep waiting while first renews; nothing to wait for
        lease = get_json(srv, lease_path)
        assert lease["spec"]["holderIdentity"] == "first"
        assert "became leader" not in second.log()
        first.stop()
        wait_for("second takes over", lambda: (get_json(srv, lease_path) or {}).get(
            "spec", {}).get("holderIdentity") == "second", timeout=20)
        wait_for("second runs the controllers", lambda: "controllers started" in second.log())
        second.stop()
        for m in (first, second):
            assert m.proc.returncode == 0, m.log()[-3000:]
            assert "ERROR: AddressSanitizer" not in m.log() and "runtime error" not in m.log()
            assert "LeakSanitizer" not in m.log(), m.log()[-6000:]
    finally:
        for m in (first, second):
            if m:
                m.stop()
        stop_apiserver(srv)
