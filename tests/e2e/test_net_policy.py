"""NetworkPolicy enforcement in the lab (issue 10): two nodes, four pods attached by
`k8c net-test`, NetworkPolicy manifests turned into nftables rules on each node by
`k8c netpol-test sync` (the agent's own conversion and src/net/policy.c), and real TCP
connections that get through or not as the policies declare. Everything runs inside the lab's
namespaces and is torn down even on failure."""
import json
import os
import shutil
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import lab as labmod  # noqa: E402

BUSYBOX = "/bin/busybox"
CIDRS = {1: "10.42.1.0/24", 2: "10.42.2.0/24"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not os.access(BUSYBOX, os.X_OK),
    reason="needs root, iproute2 (lab tool) and /bin/busybox")

# (name, namespace, node index, labels, served ports {port: name or None})
PODS = [("web", "prod", 1, {"app": "web"}, {80: "http", 81: None}),
        ("db", "prod", 1, {"app": "db"}, {5432: "pg"}),
        ("client", "prod", 2, {"app": "client"}, {}),
        ("stranger", "dev", 2, {"app": "client"}, {})]

WEB_IN = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "web-in", "namespace": "prod"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}},
             "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                          "ports": [{"port": 80}]}]}}
DEV_LOCKDOWN = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "lockdown", "namespace": "dev"},
    "spec": {"podSelector": {}, "policyTypes": ["Egress"],
             "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                 "kubernetes.io/metadata.name": "prod"}},
                 "podSelector": {"matchLabels": {"app": "db"}}}],
                 "ports": [{"port": "pg", "protocol": "TCP"}]}]}}


def ok(r):
    assert r.returncode == 0, f"rc={r.returncode} out={r.stdout} err={r.stderr}"
    return r.stdout.strip()


@pytest.fixture(scope="module")
def cluster():
    k8c = os.path.abspath(os.environ.get("K8C_BIN") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "k8c"))
    lab = labmod.Lab(nodes=2)
    state = tempfile.mkdtemp(prefix="k8c-dns-netpol-")
    try:
        for i, node in enumerate(lab.nodes, start=1):
            ok(lab.run(node, k8c, "net-test", "node-setup", "--pod-cidr", CIDRS[i]))
        ok(lab.run(lab.nodes[0], k8c, "net-test", "route-add", "--cidr", CIDRS[2], "--via",
                   lab.node_ip(2)))
        ok(lab.run(lab.nodes[1], k8c, "net-test", "route-add", "--cidr", CIDRS[1], "--via",
                   lab.node_ip(1)))
        pods = {}
        for name, ns, i, labels, ports in PODS:
            netns = lab.add_netns(name)
            ip = ok(lab.run(lab.nodes[i - 1], k8c, "net-test", "attach", "--netns", netns,
                            "--pod", name, "--pod-cidr", CIDRS[i], "--state",
                            os.path.join(state, f"n{i}.ipam")))
            pods[name] = {"ns": netns, "ip": ip}
            for port in ports:
                lab.spawn(netns, BUSYBOX, "nc", "-ll", "-p", str(port), "-e", BUSYBOX, "echo",
                          f"{name}-{port}")
        yield lab, k8c, pods, state
    finally:
        lab.teardown()
        shutil.rmtree(state, ignore_errors=True)
        assert lab.leftovers() == []


def objects(pods, policies):
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
             for n in ("prod", "dev")]
    for name, ns, i, labels, ports in PODS:
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": f"node{i}", "containers": [{"name": "main", "ports": [
                {"name": pn, "containerPort": p, "protocol": "TCP"}
                for p, pn in ports.items() if pn]}]},
            "status": {"phase": "Running", "podIP": pods[name]["ip"]}})
    return {"apiVersion": "v1", "kind": "List", "items": items + list(policies)}


def sync(cluster, policies):
    lab, k8c, pods, state = cluster
    path = os.path.join(state, "objects.json")
    with open(path, "w") as f:
        json.dump(objects(pods, policies), f)
    for i, node in enumerate(lab.nodes, start=1):
        ok(lab.run(node, k8c, "netpol-test", "sync", "--node", f"node{i}", "--objects", path))


def connects(cluster, src, dst, port):
    """Whether src reaches dst:port (the server answers with its name); a dropped SYN makes
    busybox nc give up after its 2 s connect timeout."""
    lab, _, pods, _ = cluster
    want = f"{dst}-{port}"
    deadline = time.monotonic() + 5
    while True:  # the servers may still be starting: retry refusals, not timeouts
        t0 = time.monotonic()
        r = lab.run(pods[src]["ns"], BUSYBOX, "nc", "-w", "2", pods[dst]["ip"], str(port),
                    timeout=10)
        if want in r.stdout:
            return True
        if time.monotonic() - t0 >= 1.5 or time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def test_policies_block_and_allow_as_declared(cluster):
    lab, k8c, pods, state = cluster
    # no policy: everyone reaches everyone
    sync(cluster, [])
    assert connects(cluster, "stranger", "web", 80)
    assert connects(cluster, "client", "web", 81)
    # web accepts only clients of its own namespace, and only on port 80; dev may only
    # reach prod's db on its named port "pg"
    sync(cluster, [WEB_IN, DEV_LOCKDOWN])
    assert connects(cluster, "client", "web", 80)
    assert not connects(cluster, "client", "web", 81), "port not allowed"
    assert not connects(cluster, "stranger", "web", 80), "other namespace, and egress denied"
    assert connects(cluster, "stranger", "db", 5432), "egress to the named port"
    assert connects(cluster, "client", "db", 5432), "db is not isolated"
    # the rules live in the policy table only, keyed by the pods' addresses
    rules = ok(lab.run(lab.nodes[0], "nft", "list", "table", "ip", "k8c-policy"))
    assert f"{pods['web']['ip']} : jump ingress-" in rules, rules
    assert "jump egress" not in rules, "no dev pod runs on node 1"
    rules2 = ok(lab.run(lab.nodes[1], "nft", "list", "table", "ip", "k8c-policy"))
    assert f"{pods['stranger']['ip']} : jump egress-" in rules2, rules2
    assert "5432" in rules2, rules2
    # web-in removed: port 81 is open again; dev's egress lockdown still holds; syncing the
    # same objects twice changes nothing (one table, never duplicated)
    sync(cluster, [DEV_LOCKDOWN])
    sync(cluster, [DEV_LOCKDOWN])
    assert connects(cluster, "client", "web", 81)
    assert not connects(cluster, "stranger", "web", 81)
    tables = ok(lab.run(lab.nodes[1], "nft", "list", "tables"))
    assert tables.count("k8c-policy") == 1, tables
    # cleanup removes the table (and only it); traffic flows freely again
    ok(lab.run(lab.nodes[1], k8c, "netpol-test", "cleanup"))
    tables = ok(lab.run(lab.nodes[1], "nft", "list", "tables"))
    assert "k8c-policy" not in tables, tables
    assert connects(cluster, "stranger", "web", 80)


def test_bad_objects_are_clear_errors(cluster):
    lab, k8c, pods, state = cluster
    path = os.path.join(state, "bad.json")
    with open(path, "w") as f:
        f.write("{not json")
    r = lab.run(lab.nodes[0], k8c, "netpol-test", "sync", "--node", "node1", "--objects", path)
    assert r.returncode == 1 and r.stderr.startswith("k8c netpol-test: "), r
    assert r.stderr.count("\n") == 1, r.stderr
    r = lab.run(lab.nodes[0], k8c, "netpol-test", "sync")
    assert r.returncode == 2 and "usage" in r.stderr, r
