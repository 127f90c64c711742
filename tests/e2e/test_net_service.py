"""ClusterIP load balancing in the lab (issue 10, src/net/service.c): nftables programmed by
`k8c net-test svc-sync` in a lab node's namespace DNATs ClusterIP:port to endpoints on three
nodes chosen at random with equal weight; a re-sync replaces the rules (never duplicates);
a service without endpoints refuses; cleanup removes the k8c table and nothing else."""
import collections
import os
import shutil
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import lab as labmod  # noqa: E402

BUSYBOX = "/bin/busybox"
CIDRS = {1: "10.42.1.0/24", 2: "10.42.2.0/24", 3: "10.42.3.0/24"}
CLUSTER_IP = "10.43.0.10"
REQUESTS = 300

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft")
    or not os.access(BUSYBOX, os.X_OK),
    reason="needs root, iproute2 and nft (lab tools) and /bin/busybox")


@pytest.fixture
def world():
    k8c_bin = os.path.abspath(os.environ.get("K8C_BIN") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "k8c"))
    lab = labmod.Lab(nodes=3)
    state_dir = tempfile.mkdtemp(prefix="k8c-net-e2e-")
    try:
        def net(node, *args):
            r = lab.run(node, k8c_bin, "net-test", *args)
            assert r.returncode == 0, f"{args}: {r.stderr}"
            return r.stdout.strip()
        for i, node in enumerate(lab.nodes, start=1):
            net(node, "node-setup", "--pod-cidr", CIDRS[i])
            for j in CIDRS:
                if j != i:
                    net(node, "route-add", "--cidr", CIDRS[j], "--via", lab.node_ip(j))
        pods = {}
        # Endpoints: one on each node; the client on node 1.
        for name, i in (("ep-a", 1), ("ep-b", 2), ("ep-c", 3), ("client", 1)):
            ns = lab.add_netns(name)
            ip = net(lab.nodes[i - 1], "attach", "--netns", ns, "--pod", name, "--pod-cidr",
                     CIDRS[i], "--state", os.path.join(state_dir, f"n{i}.ipam"))
            pods[name] = (ns, ip)
            if name.startswith("ep-"):
                www = os.path.join(state_dir, name)
                os.mkdir(www)
                with open(os.path.join(www, "index.html"), "w") as f:
                    f.write(name + "\n")
                lab.spawn(ns, BUSYBOX, "httpd", "-f", "-p", "8080", "-h", www)
        for name in ("ep-a", "ep-b", "ep-c"):
            wait_listening(lab, pods[name][0], 8080)
        yield lab, net, pods, k8c_bin
    finally:
        lab.teardown()
        shutil.rmtree(state_dir, ignore_errors=True)
        assert lab.leftovers() == []


def wait_listening(lab, ns, port, timeout=10.0):
    """Waits until a TCP listener on port exists in ns (busybox httpd started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = lab.run(ns, BUSYBOX, "netstat", "-ltn")
        if f":{port} " in r.stdout:
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on {port} in {ns}")


def fetch_many(lab, pods, count, url):
    """count HTTP GETs from the client pod (each a new connection); returns the bodies."""
    script = (f"i=0; while [ $i -lt {count} ]; do {BUSYBOX} timeout 10 {BUSYBOX} wget -q -O - {url} "
              f"|| echo FAILED; i=$((i+1)); done")
    r = lab.run(pods["client"][0], BUSYBOX, "sh", "-c", script, timeout=120)
    return r.stdout.split()


def svc_arg(pods, names, port=80):
    eps = ",".join(f"{pods[n][1]}:8080" for n in names)
    return f"{CLUSTER_IP}:{port}={eps}"


def test_cluster_ip_balances_across_nodes(world):
    lab, net, pods, k8c_bin = world
    n1 = lab.nodes[0]
    # The busybox wget of Debian 12 crashes with -T: the timeout comes from busybox timeout.
    # The client's node programs the service (the client pod's traffic enters there).
    net(n1, "svc-sync", "--pod-cidr", CIDRS[1], "--svc", svc_arg(pods, ["ep-a", "ep-b", "ep-c"]))
    answers = collections.Counter(fetch_many(lab, pods, REQUESTS, f"http://{CLUSTER_IP}/"))
    print(f"ClusterIP answers over {REQUESTS} requests: {dict(answers)}")
    assert answers["FAILED"] == 0, answers
    assert set(answers) == {"ep-a", "ep-b", "ep-c"}, answers
    # Equal weight: each of 3 endpoints expects 100 of 300 (sd 8.2); 60 is ~5 sd off.
    for name in ("ep-a", "ep-b", "ep-c"):
        assert answers[name] >= 60, answers


def test_resync_replaces_rules_and_cleanup_removes_them(world):
    lab, net, pods, k8c_bin = world
    n1 = lab.nodes[0]
    # The lab node has a table of its own that k8c must never touch.
    r = lab.run(n1, "nft", "add table inet bystander")
    assert r.returncode == 0, r
    for _ in range(3):
        net(n1, "svc-sync", "--pod-cidr", CIDRS[1], "--svc", svc_arg(pods, ["ep-a", "ep-b"]))
    rules = lab.run(n1, "nft", "list table ip k8c").stdout
    # one service element, one service chain: re-syncs replace, never add
    assert rules.count(": goto svc-0") == 1 and rules.count("chain svc-0 {") == 1, rules
    # Endpoints change: only ep-c remains; every answer comes from it.
    net(n1, "svc-sync", "--pod-cidr", CIDRS[1], "--svc", svc_arg(pods, ["ep-c"]))
    answers = collections.Counter(fetch_many(lab, pods, 10, f"http://{CLUSTER_IP}/"))
    assert answers == {"ep-c": 10}, answers
    # No endpoints: refused at once (not a timeout). A real node has a default route, so the
    # packet is forwarded (and rejected there); give node 1 one towards a lab address nobody
    # holds (nothing leaves the lab either way).
    r = lab.run(n1, "ip", "route", "add", "default", "via", "172.31.254.1")
    assert r.returncode == 0, r
    net(n1, "svc-sync", "--pod-cidr", CIDRS[1], "--svc", f"{CLUSTER_IP}:80=")
    r = lab.run(pods["client"][0], BUSYBOX, "timeout", "10", BUSYBOX, "wget", "-q", "-O", "-",
                f"http://{CLUSTER_IP}/")
    assert r.returncode != 0 and "refused" in r.stderr.lower(), r
    net(n1, "svc-cleanup")
    tables = lab.run(n1, "nft", "list tables").stdout
    assert "k8c" not in tables and "bystander" in tables, tables
    net(n1, "svc-cleanup")  # twice is fine


def test_bad_service_input_is_refused(world):
    lab, net, pods, k8c_bin = world
    n1 = lab.nodes[0]
    for bad in ("10.43.0.10:0=10.42.1.2:80", "10.43.0.10:80=10.42.1.2:70000",
                "10.43.0.300:80=10.42.1.2:80", "10.43.0.10:80/sctp=10.42.1.2:80",
                "10.43.0.10=10.42.1.2:80", "nonsense"):
        r = lab.run(n1, k8c_bin, "net-test", "svc-sync",
                    "--pod-cidr", CIDRS[1], "--svc", bad)
        assert r.returncode in (1, 2), (bad, r)
        assert r.stderr.count("\n") == 1, r.stderr
    assert "k8c" not in lab.run(n1, "nft", "list tables").stdout


def test_pod_traffic_leaving_the_cluster_is_masqueraded(world):
    lab, net, pods, k8c_bin = world
    n1, n2 = lab.nodes[:2]
    # Node 2 stands for "outside": it no longer knows node 1's pod CIDR.
    net(n2, "route-del", "--cidr", CIDRS[1], "--via", lab.node_ip(1))
    assert "10.42.1.0" not in lab.run(n2, "ip", "route").stdout
    client = pods["client"][0]
    ping = (BUSYBOX, "ping", "-c", "1", "-W", "2", lab.node_ip(2))
    net(n1, "svc-sync", "--pod-cidr", CIDRS[1])
    assert lab.run(client, *ping).returncode != 0, "replies cannot come back unmasqueraded"
    net(n1, "svc-sync", "--pod-cidr", CIDRS[1], "--cluster-cidr", "10.42.0.0/16")
    r = lab.run(client, *ping)
    assert r.returncode == 0, r
    # Traffic inside the cluster CIDR keeps its pod source: node 2's pods are unreachable
    # from node 1's pods now that node 2 has no route back (no masquerade hides that).
    r = lab.run(client, BUSYBOX, "ping", "-c", "1", "-W", "2", pods["ep-b"][1])
    assert r.returncode != 0, r
