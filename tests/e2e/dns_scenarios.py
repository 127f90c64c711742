"""Cluster DNS end to end. Not collected by itself: tests/e2e/test_dns.py runs this file inside
private network, mount and PID namespaces, where a `k8c server` and a `k8c agent` serve the
cluster's names on 127.0.0.1:53 and steer the kube-dns address (10.43.0.10) there with
nftables; real resolver clients ask: busybox nslookup and glibc (getent) through a pod-style
resolv.conf with search domains and ndots:5."""
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile

import pytest

from conftest import K8C, KUBECTL, start_apiserver, stop_apiserver
from test_scheduler import Cluster, wait_for

BUSYBOX = "/bin/busybox"
NODE = "dns-e2e"


@pytest.fixture(scope="module")
def cluster():
    if os.environ.get("K8C_DNS_INNER") != "1":
        pytest.skip("run through tests/e2e/test_dns.py (needs private namespaces)")
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # a default route, so the node's own packets to the cluster DNS address get as far as the
    # nftables output hook that steers them to the server (nothing is reachable through it)
    subprocess.run(["ip", "link", "add", "dnse2e0", "type", "veth", "peer", "name", "dnse2e1"],
                   check=True)
    subprocess.run(["ip", "addr", "add", "10.99.0.1/24", "dev", "dnse2e0"], check=True)
    for link in ("dnse2e0", "dnse2e1"):
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
    subprocess.run(["ip", "route", "add", "default", "dev", "dnse2e0"], check=True)
    srv = start_apiserver()
    c = Cluster(srv)
    agent_dir = tempfile.mkdtemp(prefix="k8c-e2e-dns-")
    try:
        c.spawn("agent", "agent", "--kubeconfig", srv.kubeconfig, "--node-name", NODE,
                "--data-dir", agent_dir, "--port", "0", "--dns-listen", "127.0.0.1:53",
                "--resolv-conf", "")
        wait_for(lambda: "cluster DNS serving" in c.log("agent"), what="agent DNS serving")
        yield c
    finally:
        problems = c.stop_all()
        stop_apiserver(srv)
        shutil.rmtree(agent_dir, ignore_errors=True)
        assert not problems, "\n".join(problems)


def apply(c, *objs):
    c.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                   "items": list(objs)}))


def nslookup(name, qtype="A", server="127.0.0.1"):
    r = subprocess.run([BUSYBOX, "nslookup", f"-type={qtype}", name, server],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def answers(name, qtype="A"):
    """The addresses (or SRV/CNAME lines) after the Name: lines of busybox nslookup."""
    rc, out = nslookup(name, qtype)
    body = out.split("\n\n", 1)[1] if "\n\n" in out else ""
    return [ln.split("Address:", 1)[1].strip() for ln in body.splitlines()
            if ln.strip().startswith("Address:")]


def service(name, ns="default", cluster_ip=None, ports=(("http", 80, "TCP"),), **spec):
    s = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports],
                  **spec}}
    if cluster_ip:
        s["spec"]["clusterIP"] = cluster_ip
    return s


def test_services_resolve(cluster):
    c = cluster
    apply(c, service("web", selector={"app": "web"}),
          service("db", cluster_ip="None", ports=(("pg", 5432, "TCP"),)),
          {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "db-1", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "db"}},
           "addressType": "IPv4", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
           "endpoints": [{"addresses": ["10.42.1.5"], "hostname": "db-0",
                          "conditions": {"ready": True}},
                         {"addresses": ["10.42.2.6"], "conditions": {"ready": True}},
                         {"addresses": ["10.42.2.7"], "conditions": {"ready": False}}]},
          service("search", ns="kube-system", type="ExternalName",
                  externalName="search.example.com", ports=()))
    ip = json.loads(c.kubectl("get", "svc", "web", "-o", "json").stdout)["spec"]["clusterIP"]
    wait_for(lambda: answers("web.default.svc.cluster.local") == [ip], what="web's A record")
    # headless: the ready endpoints, each also by its own name; SRV per named port
    wait_for(lambda: sorted(answers("db.default.svc.cluster.local")) == ["10.42.1.5", "10.42.2.6"],
             what="db's endpoints")
    assert answers("db-0.db.default.svc.cluster.local") == ["10.42.1.5"]
    assert answers("10-42-2-6.db.default.svc.cluster.local") == ["10.42.2.6"]
    rc, out = nslookup("_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert rc == 0 and "5432 db-0.db.default.svc.cluster.local" in out, out
    assert "5432 10-42-2-6.db.default.svc.cluster.local" in out, out
    # applied last in the list: it may reach the records a moment after the others
    wait_for(lambda: "search.example.com" in nslookup("search.kube-system.svc.cluster.local",
                                                      "CNAME")[1], what="the ExternalName CNAME")
    # the kube-dns Service the API server made is there, and resolves like any other
    st, dns = c.srv.json("GET", "/api/v1/namespaces/kube-system/services/kube-dns")
    assert st == 200 and dns["spec"]["clusterIP"] == "10.43.0.10"
    assert [p["name"] for p in dns["spec"]["ports"]] == ["dns", "dns-tcp"]
    assert answers("kube-dns.kube-system.svc.cluster.local") == ["10.43.0.10"]


def test_negative_answers(cluster):
    # no such service: NXDOMAIN; an IPv4-only name asked for AAAA: no error, no address;
    # outside the cluster without upstreams: refused, never forwarded
    rc, out = nslookup("nope.default.svc.cluster.local")
    assert rc != 0 and "NXDOMAIN" in out, out
    rc, out = nslookup("kube-dns.kube-system.svc.cluster.local", "AAAA")
    assert "NXDOMAIN" not in out and "10.43.0.10" not in out, out
    rc, out = nslookup("example.com")
    assert rc != 0 and "REFUSED" in out, out


def test_pod_records_and_updates(cluster):
    c = cluster
    apply(c, {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "ghost", "namespace": "default"},
              "spec": {"nodeName": "elsewhere", "containers": [{"name": "c", "image": "x"}]}})
    c.kubectl("patch", "pod", "ghost", "--subresource=status", "--type=merge", "-p",
              json.dumps({"status": {"podIP": "10.42.7.8", "podIPs": [{"ip": "10.42.7.8"}]}}))
    wait_for(lambda: answers("10-42-7-8.default.pod.cluster.local") == ["10.42.7.8"],
             what="the pod's A record")
    assert answers("10-42-7-9.default.pod.cluster.local") == []
    # a deleted service disappears from DNS within moments
    apply(c, service("short", selector={"app": "x"}))
    wait_for(lambda: answers("short.default.svc.cluster.local") != [], what="short resolves")
    c.kubectl("delete", "svc", "short")
    wait_for(lambda: "NXDOMAIN" in nslookup("short.default.svc.cluster.local")[1],
             what="short gone")


def test_glibc_resolver_with_pod_resolv_conf_and_cluster_dns_address(cluster):
    """A pod's resolv.conf (search path, ndots:5, nameserver = the kube-dns address) used by
    glibc: short names resolve through the search path, and 10.43.0.10:53 reaches the node's
    server through the agent's nftables redirect."""
    c = cluster
    ip = json.loads(c.kubectl("get", "svc", "web", "-o", "json").stdout)["spec"]["clusterIP"]
    tables = subprocess.run(["nft", "list", "table", "ip", "k8c-dns"], capture_output=True,
                            text=True)
    assert "ip daddr 10.43.0.10 udp dport 53 dnat to 127.0.0.1:53" in tables.stdout, tables
    d = tempfile.mkdtemp(prefix="k8c-e2e-dns-resolv-")
    try:
        conf = os.path.join(d, "resolv.conf")
        with open(conf, "w") as f:
            f.write("search default.svc.cluster.local svc.cluster.local cluster.local\n"
                    "nameserver 10.43.0.10\noptions ndots:5\n")
        script = f"mount --bind {conf} /etc/resolv.conf && getent ahostsv4 web | head -1 && " \
                 "getent ahostsv4 db.default | sort | head -1"
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r
        lines = r.stdout.splitlines()
        assert lines[0].startswith(ip), r.stdout
        assert lines[1].startswith("10.42.1.5"), r.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_tcp_and_hostile_packets(cluster):
    """The same server over TCP (RFC 1035 framing); junk on UDP and TCP does not stop it."""
    def query(name):
        q = struct.pack(">HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)
        for label in name.split("."):
            q += bytes([len(label)]) + label.encode()
        return q + b"\0" + struct.pack(">HH", 1, 1)
    for junk in (b"\x00", b"\xff" * 40, b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(junk, ("127.0.0.1", 53))
        with socket.create_connection(("127.0.0.1", 53), timeout=5) as s:
            s.sendall(struct.pack(">H", len(junk) + 100) + junk)  # a length it never sends
    q = query("kube-dns.kube-system.svc.cluster.local")
    with socket.create_connection(("127.0.0.1", 53), timeout=5) as s:
        s.sendall(struct.pack(">H", len(q)) + q)
        n = struct.unpack(">H", s.recv(2))[0]
        resp = b""
        while len(resp) < n:
            resp += s.recv(n - len(resp))
    assert resp[:2] == b"\xbe\xef" and resp[3] & 15 == 0
    assert struct.unpack(">H", resp[6:8])[0] == 1 and resp.endswith(bytes([10, 43, 0, 10]))
    assert answers("kube-dns.kube-system.svc.cluster.local") == ["10.43.0.10"]
