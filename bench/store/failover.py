#!/usr/bin/python3
"""Failover time of k8c's elected controllers on etcd (bench/store/run --backend etcd): a real
3-member etcd on loopback, two `k8c server`s on it with Kubernetes' default leader election
(15 s lease, 10 s renew deadline, 2 s retry). The leader is SIGKILLed; at once a Deployment is
scaled from 1 to 2 replicas through the other server; the time until the new pod's event
arrives on a watch opened on that server beforehand is "leader killed -> controllers acting
again". Prints one line per run and a summary line:
  failover: seconds=<median> runs=<n> max=<max>
Usage: bench/store/failover.py [RUNS]"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
os.environ.setdefault("K8C_BIN", os.path.join(HERE, "..", "..", "build", "k8c"))

from conftest import KUBECTL  # noqa: E402
from ha_lab import Lab, wait_until  # noqa: E402


def pods(srv):
    r = srv.kubectl("get", "pods", "-l", "app=fo", "-o", "json")
    if r.returncode != 0:
        return -1
    items = json.loads(r.stdout)["items"]
    return len([p for p in items if not p["metadata"].get("deletionTimestamp")])


def wall(stamp):
    """Seconds since the epoch of an RFC 3339 time with a Z ("2026-11-23T15:49:00.113878Z")."""
    return datetime.datetime.fromisoformat(stamp.rstrip("Z")).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def leading(srv):
    return "k8c-controller-manager became leader" in srv.log()


def one_run(lab, i):
    url = lab.store_url(f"failover-{i}")
    a = lab.start_server("--store", url, "--disable-scheduler", name=f"a{i}")
    wait_until("a to lead", lambda: leading(a), seconds=30)
    b = lab.start_server("--store", url, "--disable-scheduler", like=a, name=f"b{i}")
    r = b.kubectl("create", "deployment", "fo", "--image=busybox", "--replicas=1")
    assert r.returncode == 0, r.stderr
    wait_until("the first pod", lambda: pods(b) == 1, seconds=30)
    # The new pod is timed by a watch opened on b beforehand (when its event arrives), not by
    # polling with kubectl, whose own start-up would be counted.
    first = {p["metadata"]["name"] for p in json.loads(
        b.kubectl("get", "pods", "-l", "app=fo", "-o", "json").stdout)["items"]}
    watch = subprocess.Popen([KUBECTL, "--kubeconfig", b.kubeconfig, "get", "pods", "-l",
                              "app=fo", "--watch-only", "-o", "name"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    lab.procs.append(watch)
    new_pod = []

    def read_watch():
        for line in watch.stdout:
            if line.strip().removeprefix("pod/") not in first:
                new_pod.append(time.monotonic())
                return

    reader = threading.Thread(target=read_watch, daemon=True)
    reader.start()
    time.sleep(1 + (i % 3) * 0.7)  # kill at different points of the 2 s renew cycle
    a.proc.kill()
    killed = time.monotonic()
    killed_wall = time.time()
    a.proc.wait(timeout=15)
    r = b.kubectl("scale", "deployment", "fo", "--replicas=2")
    assert r.returncode == 0, r.stderr
    lease = json.loads(b.kubectl("get", "lease", "-n", "kube-system", "k8c-controller-manager",
                                 "-o", "json").stdout)
    reader.join(timeout=60)
    assert new_pod, "no second pod within 60 s"
    took = new_pod[0] - killed
    watch.kill()
    watch.wait()
    # Where the time went (wall clock of this one machine): the dead leader's last renewal
    # before the kill, b's takeover, b's controllers acting.
    renewed = wall(lease["spec"]["renewTime"])
    acquired = next((wall(line.split()[0]) for line in b.log().splitlines()
                     if "acquired lease lease=kube-system/k8c-controller-manager" in line), None)
    if acquired is not None:
        print(f"  last renewal {killed_wall - renewed:.2f} s before the kill; lease taken "
              f"{acquired - renewed:.2f} s after that renewal; controllers acting "
              f"{took - (acquired - killed_wall):.2f} s after the takeover", flush=True)
    b.proc.terminate()
    b.proc.wait(timeout=15)
    return took


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    lab = Lab("bench-failover")
    try:
        lab.start_etcd(3)
        times = []
        for i in range(runs):
            t = one_run(lab, i)
            times.append(t)
            print(f"failover run {i}: controllers acting again {t:.2f} s after the leader "
                  f"was killed", flush=True)
        print(f"failover: seconds={statistics.median(times):.2f} runs={runs} "
              f"max={max(times):.2f}")
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
