"""Node IPAM (src/controllers/nodeipam.c) through the embedded controllers of `k8c server`: a
cluster CIDR with room for two node CIDRs; the third Node gets a "CIDRNotAvailable" Event,
and the CIDR a deleted Node frees goes to it. Bad flags are refused at start."""
import json
import subprocess

from conftest import K8C, start_apiserver, stop_apiserver
from test_scheduler import wait_for


def test_node_cidrs_allocated_exhausted_and_freed():
    srv = start_apiserver(["--cluster-cidr", "10.42.0.0/29", "--node-cidr-mask-size", "30"],
                          embedded=True)
    try:
        def cidrs():
            r = srv.kubectl("get", "nodes", "-o", "json")
            assert r.returncode == 0, r.stderr
            return {n["metadata"]["name"]: n.get("spec", {}).get("podCIDR")
                    for n in json.loads(r.stdout)["items"]}
        for name in ("a", "b", "c"):
            r = srv.kubectl("create", "-f", "-", input=json.dumps(
                {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}))
            assert r.returncode == 0, r.stderr
            if name != "c":  # a and b in order: the first free subnets
                wait_for(lambda: cidrs().get(name), what=f"podCIDR of {name}")
        assert cidrs() == {"a": "10.42.0.0/30", "b": "10.42.0.4/30", "c": None}
        r = srv.kubectl("get", "node", "a", "-o", "jsonpath={.spec.podCIDRs}")
        assert json.loads(r.stdout) == ["10.42.0.0/30"]

        def event():
            r = srv.kubectl("get", "events", "-n", "default", "-o", "json")
            return [e for e in json.loads(r.stdout)["items"]
                    if e["reason"] == "CIDRNotAvailable" and e["involvedObject"]["name"] == "c"]
        ev = wait_for(event, what="CIDRNotAvailable event")
        assert ev[0]["message"] == "Node c status is now: CIDRNotAvailable"
        assert ev[0]["involvedObject"]["kind"] == "Node"

        assert srv.kubectl("delete", "node", "a").returncode == 0
        wait_for(lambda: cidrs().get("c") == "10.42.0.0/30", what="c gets a's CIDR")
        assert cidrs()["b"] == "10.42.0.4/30"  # never re-allocated
    finally:
        stop_apiserver(srv)


def test_bad_ipam_flags_are_refused():
    for args, text in ((["--cluster-cidr", "10.42.0.1/16"], "--cluster-cidr"),
                       (["--node-cidr-mask-size", "8"], "--node-cidr-mask-size"),
                       (["--node-cidr-mask-size", "x"], "--node-cidr-mask-size")):
        r = subprocess.run([K8C, "server", "--data-dir", "/nonexistent-k8c-net", *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and text in r.stderr, (args, r.stderr)
        r = subprocess.run([K8C, "controller-manager", "--kubeconfig", "/nonexistent", *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and text in r.stderr, (args, r.stderr)


def test_node_port_range():
    srv = start_apiserver(["--service-node-port-range", "31000-31001"])
    try:
        def svc(name, node_port=None):
            port = {"port": 80, "targetPort": 8080}
            if node_port:
                port["nodePort"] = node_port
            return json.dumps({"apiVersion": "v1", "kind": "Service",
                               "metadata": {"name": name, "namespace": "default"},
                               "spec": {"type": "NodePort", "selector": {"a": "b"},
                                        "ports": [port]}})
        got = set()
        for name in ("one", "two"):
            r = srv.kubectl("create", "-f", "-", "-o", "jsonpath={.spec.ports[0].nodePort}",
                            input=svc(name))
            assert r.returncode == 0, r.stderr
            got.add(int(r.stdout))
        assert got == {31000, 31001}
        r = srv.kubectl("create", "-f", "-", input=svc("three"))
        assert r.returncode != 0 and "failed to allocate a nodePort: range is full" in r.stderr
        r = srv.kubectl("create", "-f", "-", input=svc("outside", 30000))
        assert r.returncode != 0 and ("provided port is not in the valid range. The range of "
                                      "valid ports is 31000-31001") in r.stderr, r.stderr
        r = srv.kubectl("create", "-f", "-", input=svc("taken", 31000))
        assert r.returncode != 0 and "provided port is already allocated" in r.stderr, r.stderr
    finally:
        stop_apiserver(srv)
    r = subprocess.run([K8C, "server", "--data-dir", "/nonexistent-k8c-net",
                        "--service-node-port-range", "32000-31000"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--service-node-port-range" in r.stderr, r.stderr


def test_service_cidr():
    """--service-cidr: the kubernetes Service at its first address, kube-dns at its tenth,
    Services inside it, a clusterIP outside it refused in Kubernetes' words; bad CIDRs exit 2."""
    srv = start_apiserver(["--service-cidr", "10.44.8.0/24"])
    try:
        r = srv.kubectl("get", "svc", "-A", "-o",
                        "jsonpath={range .items[*]}{.metadata.name}={.spec.clusterIP} {end}")
        assert r.returncode == 0, r.stderr
        ips = dict(kv.split("=") for kv in r.stdout.split())
        assert ips["kubernetes"] == "10.44.8.1" and ips["kube-dns"] == "10.44.8.10", ips

        def svc(name, ip=None):
            spec = {"selector": {"a": "b"}, "ports": [{"port": 80}]}
            if ip:
                spec["clusterIP"] = ip
            return json.dumps({"apiVersion": "v1", "kind": "Service",
                               "metadata": {"name": name, "namespace": "default"}, "spec": spec})
        r = srv.kubectl("create", "-f", "-", "-o", "jsonpath={.spec.clusterIP}", input=svc("in"))
        assert r.returncode == 0 and r.stdout.startswith("10.44.8."), (r.stdout, r.stderr)
        r = srv.kubectl("create", "-f", "-", input=svc("out", "10.43.0.50"))
        assert r.returncode != 0 and ("provided IP is not in the valid range. The range of "
                                      "valid IPs is 10.44.8.0/24") in r.stderr, r.stderr
    finally:
        stop_apiserver(srv)
    for bad, text in (("10.44.8.1/24", "host bits"), ("10.0.0.0/8", "/12 to /28"),
                      ("fd00::/108", "IPv4 CIDR"), ("x", "IPv4 CIDR")):
        r = subprocess.run([K8C, "server", "--data-dir", "/nonexistent-k8c-net",
                            "--service-cidr", bad], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and text in r.stderr, (bad, r.stderr)
