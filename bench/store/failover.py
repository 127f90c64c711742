#!/usr/bin/python3
"""Failover time of k8c's elected controllers on etcd (bench/store/run --backend etcd): a real
3-member etcd on loopback, two `k8c server`s on it with Kubernetes' default leader election
(15 s lease, 10 s renew deadline, 2 s retry). The leader is SIGKILLed; at once a Deployment is
scaled from 1 to 2 replicas through the other server; the time until the new pod exists is
"leader killed -> controllers acting again". Prints one line per run and a summary line:
  failover: seconds=<median> runs=<n> max=<max>
Usage: bench/store/failover.py [RUNS]"""
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
os.environ.setdefault("K8C_BIN", os.path.join(HERE, "..", "..", "build", "k8c"))

from ha_lab import Lab, wait_until  # noqa: E402


def pods(srv):
    r = srv.kubectl("get", "pods", "-l", "app=fo", "-o", "json")
    if r.returncode != 0:
        return -1
    items = json.loads(r.stdout)["items"]
    return len([p for p in items if not p["metadata"].get("deletionTimestamp")])


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
    time.sleep(1 + (i % 3) * 0.7)  # kill at different points of the 2 s renew cycle
    a.proc.kill()
    killed = time.monotonic()
    a.proc.wait(timeout=15)
    r = b.kubectl("scale", "deployment", "fo", "--replicas=2")
    assert r.returncode == 0, r.stderr
    wait_until("the second pod", lambda: pods(b) == 2, seconds=60, step=0.05)
    took = time.monotonic() - killed
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
