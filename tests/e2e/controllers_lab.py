"""Test helpers for the controllers' end-to-end tests: a running `k8c controller-manager` and
simulated nodes (a minimal kubelet and scheduler in Python: nodes register and renew their
Leases, unscheduled pods are bound to a Ready untainted node, bound pods report Running and
Ready with an IP at once, deleted pods are released). Images whose name contains "broken"
stay Pending (image pull back-off) and those containing "unready" run without ever becoming
ready, so tests can stall a rollout or hold not-ready endpoints. A node can be stopped (no more heartbeats)
and started again."""
import datetime
import itertools
import json
import os
import signal
import subprocess
import threading
import time

from conftest import K8C


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Manager:
    """A `k8c controller-manager` process against srv."""

    def __init__(self, srv, *flags):
        self.srv = srv
        self.log_path = os.path.join(srv.data_dir, f"cm-{time.monotonic_ns()}.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [K8C, "controller-manager", "--kubeconfig", srv.kubeconfig, "-v", "2", *flags],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Nodes:
    """Simulated nodes driven by one thread that polls the API."""

    def __init__(self, srv, names):
        self.srv = srv
        self.names = list(names)
        self.stopped = set()
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.ips = itertools.count(2)
        self.errors = []
        for n in self.names:
            self._register(n)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _register(self, name):
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "status": {"capacity": {"cpu": "64", "memory": "256Gi", "pods": "500"},
                           "conditions": [self._ready_condition()]}}
        status, _ = self.srv.json("POST", "/api/v1/nodes", node)
        assert status in (201, 409), status
        self._heartbeat(name)

    @staticmethod
    def _ready_condition():
        t = now_rfc3339()
        return {"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "simulated kubelet is posting ready status",
                "lastHeartbeatTime": t, "lastTransitionTime": t}

    def _heartbeat(self, name):
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        status, lease = self.srv.json("GET", path)
        spec = {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro()}
        if status == 404:
            self.srv.json("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                          {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": name, "namespace": "kube-node-lease"},
                           "spec": spec})
        elif status == 200:
            lease["spec"] = spec
            self.srv.json("PUT", path, lease)
        # The node's Ready condition: back to True when it had been marked otherwise.
        status, node = self.srv.json("GET", f"/api/v1/nodes/{name}")
        if status != 200:
            return
        conds = node.get("status", {}).get("conditions", [])
        ready = [c for c in conds if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            node.setdefault("status", {})["conditions"] = [
                c for c in conds if c.get("type") != "Ready"] + [self._ready_condition()]
            self.srv.json("PUT", f"/api/v1/nodes/{name}/status", node)

    def stop_node(self, name):
        with self.lock:
            self.stopped.add(name)

    def start_node(self, name):
        with self.lock:
            self.stopped.discard(name)

    def _schedulable(self):
        status, nodes = self.srv.json("GET", "/api/v1/nodes")
        out = []
        for n in (nodes or {}).get("items", []):
            name = n["metadata"]["name"]
            if name not in self.names or name in self.stopped:
                continue
            if any(t.get("effect") in ("NoSchedule", "NoExecute")
                   for t in n.get("spec", {}).get("taints", []) or []):
                continue
            out.append(name)
        return out

    def _tick(self, beat):
        with self.lock:
            live = [n for n in self.names if n not in self.stopped]
        if beat:
            for n in live:
                self._heartbeat(n)
        status, pods = self.srv.json("GET", "/api/v1/pods")
        if status != 200:
            return
        targets = None
        rr = 0
        for pod in pods.get("items", []):
            md, spec = pod["metadata"], pod.get("spec", {})
            ns, name = md["namespace"], md["name"]
            node = spec.get("nodeName")
            base = f"/api/v1/namespaces/{ns}/pods/{name}"
            if not node:
                if md.get("deletionTimestamp"):
                    continue
                if targets is None:
                    targets = self._schedulable()
                if not targets:
                    continue
                target = targets[rr % len(targets)]
                rr += 1
                self.srv.json("POST", f"{base}/binding",
                              {"apiVersion": "v1", "kind": "Binding",
                               "metadata": {"name": name, "namespace": ns},
                               "target": {"apiVersion": "v1", "kind": "Node", "name": target}})
                continue
            if node not in live:
                continue
            if md.get("deletionTimestamp"):
                self.srv.json("DELETE", base, {"gracePeriodSeconds": 0,
                                               "preconditions": {"uid": md["uid"]}})
                continue
            if pod.get("status", {}).get("phase") in ("Running", "Succeeded", "Failed"):
                continue
            broken = any("broken" in c.get("image", "") for c in spec.get("containers", []))
            t = now_rfc3339()
            st = pod.setdefault("status", {})
            if broken:
                if st.get("phase") == "Pending" and st.get("containerStatuses"):
                    continue
                st.update({"phase": "Pending", "conditions": [
                    {"type": "Ready", "status": "False", "lastTransitionTime": t,
                     "reason": "ContainersNotReady"}],
                    "containerStatuses": [{"name": c["name"], "ready": False, "restartCount": 0,
                                           "image": c.get("image", ""),
                                           "state": {"waiting": {"reason": "ImagePullBackOff"}}}
                                          for c in spec.get("containers", [])]})
            else:
                n = next(self.ips)
                ready = "False" if any("unready" in c.get("image", "")
                                       for c in spec.get("containers", [])) else "True"
                st.update({"phase": "Running", "podIP": f"10.77.{n // 250}.{n % 250 + 1}",
                           "hostIP": "127.0.0.1", "startTime": t,
                           "conditions": [{"type": "Ready", "status": ready,
                                           "lastTransitionTime": t},
                                          {"type": "PodScheduled", "status": "True",
                                           "lastTransitionTime": t}],
                           "containerStatuses": [{"name": c["name"], "ready": True,
                                                  "restartCount": 0, "image": c.get("image", ""),
                                                  "state": {"running": {"startedAt": t}}}
                                                 for c in spec.get("containers", [])]})
            self.srv.json("PUT", f"{base}/status", pod)

    def _run(self):
        last_beat = 0.0
        while not self.halt.is_set():
            try:
                beat = time.monotonic() - last_beat > 1.0
                if beat:
                    last_beat = time.monotonic()
                self._tick(beat)
            except Exception as e:  # the API server may be going away at teardown
                self.errors.append(repr(e))
            self.halt.wait(0.1)

    def close(self):
        self.halt.set()
        self.thread.join(timeout=10)


def wait_for(what, fn, timeout=60, interval=0.1):
    """Polls fn until it returns a truthy value; fails naming what was awaited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def get_json(srv, path):
    status, body = srv.json("GET", path)
    return body if status == 200 else None


def items(srv, path):
    body = get_json(srv, path)
    return (body or {}).get("items", [])


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)
