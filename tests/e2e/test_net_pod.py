"""Pod network in the lab (issue 10): two nodes, a pod on each attached by src/net through
`k8c net-test`, host-gw routes between the nodes' pod CIDRs, pod-to-pod ping and TCP across
nodes, idempotent re-attach, detach cleanup. Everything runs inside namespaces the lab makes
(tests/lab/lab.py) and is torn down even on failure; no traffic leaves them."""
import os
import shutil
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
import lab as labmod  # noqa: E402

BUSYBOX = "/bin/busybox"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not os.access(BUSYBOX, os.X_OK),
    reason="needs root, iproute2 (lab tool) and /bin/busybox")

CIDRS = {1: "10.42.1.0/24", 2: "10.42.2.0/24"}


@pytest.fixture
def lab():
    lb = labmod.Lab(nodes=2)
    try:
        yield lb
    finally:
        lb.teardown()
        assert lb.leftovers() == []


@pytest.fixture
def state_dir():
    d = tempfile.mkdtemp(prefix="k8c-net-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def net(lab, k8c_bin, node, *args):
    return lab.run(node, k8c_bin, "net-test", *args)


def ok(r):
    assert r.returncode == 0, f"rc={r.returncode} out={r.stdout} err={r.stderr}"
    return r.stdout.strip()


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def cluster(lab, state_dir):
    """Two set-up nodes with host-gw routes to each other's pod CIDR, and a pod on each."""
    k8c_bin = os.path.abspath(os.environ.get("K8C_BIN") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "k8c"))
    for i, node in enumerate(lab.nodes, start=1):
        ok(net(lab, k8c_bin, node, "node-setup", "--pod-cidr", CIDRS[i]))
    ok(net(lab, k8c_bin, lab.nodes[0], "route-add", "--cidr", CIDRS[2], "--via",
           lab.node_ip(2)))
    ok(net(lab, k8c_bin, lab.nodes[1], "route-add", "--cidr", CIDRS[1], "--via",
           lab.node_ip(1)))
    pods = []
    for i, node in enumerate(lab.nodes, start=1):
        ns = lab.add_netns(f"p{i}")
        args = ["--netns", ns, "--pod", f"pod-{i}", "--pod-cidr", CIDRS[i],
                "--state", os.path.join(state_dir, f"n{i}.ipam")]
        ip = ok(net(lab, k8c_bin, node, "attach", *args))
        pods.append({"node": node, "ns": ns, "ip": ip, "args": args})
    return k8c_bin, pods


def test_pods_on_two_nodes_reach_each_other(lab, cluster):
    k8c_bin, (a, b) = cluster
    assert a["ip"] == "10.42.1.2" and b["ip"] == "10.42.2.2"
    # eth0 inside the pod, with its address and the default route via the bridge.
    addr = lab.run(a["ns"], "ip", "-4", "-o", "addr", "show", "dev", "eth0")
    assert "10.42.1.2/24" in addr.stdout, addr
    route = lab.run(a["ns"], "ip", "route", "show", "default")
    assert "via 10.42.1.1" in route.stdout, route
    for src, dst in ((a, b), (b, a)):
        r = lab.run(src["ns"], BUSYBOX, "ping", "-c", "1", "-W", "5", dst["ip"])
        assert r.returncode == 0, r
    # TCP across nodes: a busybox nc server in pod b answers pod a.
    server = lab.spawn(b["ns"], BUSYBOX, "nc", "-l", "-p", "8080", "-e", BUSYBOX, "echo",
                       "hello-from-b")

    def answered():
        r = lab.run(a["ns"], BUSYBOX, "nc", "-w", "2", b["ip"], "8080", timeout=10)
        return "hello-from-b" in r.stdout
    wait_for(answered, what="TCP answer from pod b")
    server.wait(timeout=10)


def test_attach_again_keeps_the_address(lab, cluster):
    k8c_bin, (a, _) = cluster
    again = ok(net(lab, k8c_bin, a["node"], "attach", *a["args"]))
    assert again == a["ip"]
    links = lab.run(a["ns"], "ip", "-o", "link", "show")
    assert links.stdout.count("eth0") == 1, links.stdout


def test_detach_removes_link_and_address(lab, cluster, state_dir):
    k8c_bin, (a, b) = cluster
    host = lab.run(a["node"], "ip", "-o", "link", "show", "master", "k8c0")
    assert host.stdout.count("k8c") >= 1, host
    state = [x for x in a["args"] if x.endswith(".ipam")][0]
    ok(net(lab, k8c_bin, a["node"], "detach", "--pod", "pod-1", "--state", state))
    host = lab.run(a["node"], "ip", "-o", "link", "show", "master", "k8c0")
    assert host.stdout.strip() == "", host.stdout
    assert lab.run(a["ns"], "ip", "link", "show", "eth0").returncode != 0
    with open(state) as f:
        assert "pod-1" not in f.read()
    # Detaching twice (a retried pod deletion) succeeds; pod b is unaffected.
    ok(net(lab, k8c_bin, a["node"], "detach", "--pod", "pod-1", "--state", state))
    r = lab.run(b["ns"], BUSYBOX, "ping", "-c", "1", "-W", "5", "10.42.2.1")
    assert r.returncode == 0, r


def test_bad_input_is_a_clear_error(lab, cluster, state_dir):
    k8c_bin, (a, _) = cluster
    node = a["node"]
    state = os.path.join(state_dir, "bad.ipam")
    r = net(lab, k8c_bin, node, "attach", "--netns", "/run/netns/k8c-net-missing", "--pod",
            "p", "--pod-cidr", "10.42.1.0/24", "--state", state)
    assert r.returncode == 1 and "network namespace" in r.stderr, r
    assert not os.path.exists(state) or "p\n" not in open(state).read()
    r = net(lab, k8c_bin, node, "node-setup", "--pod-cidr", "10.42.1.7/24")
    assert r.returncode == 1 and "host bits" in r.stderr, r
    r = net(lab, k8c_bin, node, "route-add", "--cidr", "10.42.9.0/24", "--via", "nope")
    assert r.returncode == 1 and "invalid IPv4 address" in r.stderr, r
    r = net(lab, k8c_bin, node, "attach", "--pod", "p")
    assert r.returncode == 2, r
    r = net(lab, k8c_bin, node, "frobnicate")
    assert r.returncode == 2, r
