"""Cluster DNS and NetworkPolicy through real agents in the lab (issue 10): the 3-node world of
test_net_cluster.py (server + three `k8c agent`s, each in its node's namespace). A pod's
resolv.conf points at the kube-dns address; busybox nslookup inside the pod resolves a
Service by its full and its short name through the node's DNS server; a NetworkPolicy
applied with kubectl lets one client through and stops another, and deleting it opens the
way again."""
import json
import subprocess

# the world fixture (server + 3 agents in the lab) is test_net_cluster's own
from test_net_cluster import pod, service, wait_for, world, pytestmark  # noqa: F401

FETCH = "/bin/busybox timeout 3 /bin/busybox wget -q -O - http://{ip}:8080/ || echo BLOCKED"

POLICY = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "web-in", "namespace": "default"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}},
             "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                          "ports": [{"port": 8080}]}]}}


def in_container(w, uid, script):
    """script in the pod's network AND mount namespaces (its own /etc/resolv.conf)."""
    pid = wait_for(lambda: w.pod_pid(uid), 10, f"a process of pod {uid}")
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "-m", "/bin/busybox", "sh", "-c",
                           script], capture_output=True, text=True, timeout=60)


def test_dns_and_network_policy_in_pods(world):
    w = world
    sleep = "exec /bin/busybox sleep 1000"
    objs = [pod("web-1", "node-1", {"app": "web"}),
            pod("client", "node-2", {"app": "client"}, sleep),
            pod("stranger", "node-3", {"app": "stranger"}, sleep),
            service("web", {"app": "web"})]
    w.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                    "items": objs}))

    def running():
        pods = {p["metadata"]["name"]: p for p in w.get("pods")["items"]}
        ok = len(pods) == 3 and all(p.get("status", {}).get("phase") == "Running"
                                    and p["status"].get("podIP") for p in pods.values())
        return pods if ok else None
    pods = wait_for(running, 60, "pods running with IPs")
    for p in pods.values():
        w.uids.add(p["metadata"]["uid"])
    uid = {n: p["metadata"]["uid"] for n, p in pods.items()}
    web_ip = pods["web-1"]["status"]["podIP"]
    cip = w.get("service", "web")["spec"]["clusterIP"]

    # DNS from a pod: resolv.conf as the kubelet writes it, the name through 10.43.0.10
    r = in_container(w, uid["client"], "/bin/busybox cat /etc/resolv.conf")
    assert "nameserver 10.43.0.10" in r.stdout and "ndots:5" in r.stdout, r.stdout
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in r.stdout
    wait_for(lambda: cip in in_container(w, uid["client"], "/bin/busybox nslookup "
                                         "web.default.svc.cluster.local").stdout, 20,
             "the service name resolving in a pod")
    r = in_container(w, uid["stranger"], "/bin/busybox nslookup web")
    assert cip in r.stdout, r.stdout + r.stderr
    r = in_container(w, uid["client"], "/bin/busybox nslookup nope.default.svc.cluster.local")
    assert "NXDOMAIN" in r.stdout + r.stderr, r.stdout + r.stderr

    # NetworkPolicy: before it both reach web; with it only the client; without it both again
    wait_for(lambda: "web-1" in w.in_pod(uid["stranger"], FETCH.format(ip=web_ip)).stdout, 20,
             "web serving")
    w.kubectl("apply", "-f", "-", input=json.dumps(POLICY))
    wait_for(lambda: "BLOCKED" in w.in_pod(uid["stranger"], FETCH.format(ip=web_ip)).stdout,
             20, "the stranger blocked")
    assert "web-1" in w.in_pod(uid["client"], FETCH.format(ip=web_ip)).stdout
    # through the Service too: policies see the endpoint after the DNAT
    assert "web-1" in w.in_pod(uid["client"], FETCH.format(ip=cip).replace(":8080", ":80")).stdout
    w.kubectl("delete", "networkpolicy", "web-in")
    wait_for(lambda: "web-1" in w.in_pod(uid["stranger"], FETCH.format(ip=web_ip)).stdout, 20,
             "the stranger let through again")
