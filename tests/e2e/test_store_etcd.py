"""`k8c server --store etcd://…` on a real etcd (Debian's /usr/bin/etcd, started on loopback
ports by the test, killed by PID): kubectl create/get/watch/delete, objects surviving a server
restart, and two API servers on one etcd seeing each other's writes. Skipped without etcd or
kubectl."""
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import KUBECTL, _free_port, start_apiserver, stop_apiserver
from ha_lab import wait_etcd_healthy

ETCD = "/usr/bin/etcd"


def ok(r):
    assert r.returncode == 0, f"rc={r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def etcd():
    """One etcd member on 127.0.0.1 with a temporary data dir; yields its host:port."""
    if not os.access(ETCD, os.X_OK):
        pytest.skip("etcd is not installed")
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    d = tempfile.mkdtemp(prefix="k8c-e2e-etcd-")
    client, peer = _free_port(), _free_port()
    curl, purl = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    log = open(os.path.join(d, "etcd.log"), "w")
    proc = subprocess.Popen([ETCD, "--name", "e2e", "--data-dir", os.path.join(d, "data"),
                             "--listen-client-urls", curl, "--advertise-client-urls", curl,
                             "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                             "--initial-cluster", f"e2e={purl}"],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    try:
        wait_etcd_healthy(proc, curl, os.path.join(d, "etcd.log"), time.monotonic() + 30)
        yield f"127.0.0.1:{client}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=15)
        shutil.rmtree(d, ignore_errors=True)


def readline_within(proc, seconds=30):
    """The next line of proc's stdout, failing the test after `seconds` without one."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    assert ready, f"no line from the watch within {seconds} s"
    return proc.stdout.readline()


POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
spec:
  containers:
  - name: c
    image: busybox
"""


def test_kubectl_create_get_watch_delete(etcd):
    srv = start_apiserver(("--store", f"etcd://{etcd}/e2e-a"))
    try:
        ok(srv.kubectl("create", "-f", "-", input=POD.format(name="p1")))
        out = ok(srv.kubectl("get", "pod", "p1", "-o", "jsonpath={.metadata.name} "
                             "{.metadata.resourceVersion}"))
        name, rv = out.split()
        assert name == "p1" and int(rv) > 1

        watch = subprocess.Popen([KUBECTL, "--kubeconfig", srv.kubeconfig, "--cache-dir",
                                  srv.cache_dir, "get", "pods", "--watch-only", "-o",
                                  "jsonpath={.metadata.name}{\"\\n\"}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # The watch is established once a fresh create shows up on it (a create made
            # before kubectl's own list, on a loaded machine, never does: make another).
            deadline = time.monotonic() + 30
            n = 0
            seen = ""
            while "p2" not in seen:
                n += 1
                ok(srv.kubectl("create", "-f", "-", input=POD.format(name=f"p2-{n}")))
                ready, _, _ = select.select([watch.stdout], [], [], 3)
                assert time.monotonic() < deadline, "no line from the watch within 30 s"
                if not ready:
                    continue
                line = watch.stdout.readline()
                assert line, watch.stderr.read()
                seen = line.replace(f"p2-{n}", "p2")
            ok(srv.kubectl("delete", "pod", "p1", "--wait=false"))
            line = readline_within(watch).strip()
            while line.startswith("p2-"):  # a create of the loop above, seen late
                line = readline_within(watch).strip()
            assert line == "p1"
        finally:
            watch.kill()
            watch.wait(timeout=15)
        r = srv.kubectl("get", "pod", "p1")
        assert r.returncode != 0 and "NotFound" in r.stderr, r.stderr

        # The objects live in etcd: a new server on the same etcd prefix serves them.
        stop_apiserver(srv)
        srv = start_apiserver(("--store", f"etcd://{etcd}/e2e-a"))
        out = ok(srv.kubectl("get", "pods", "-o", "jsonpath={.items[*].metadata.name}"))
        assert out.startswith("p2-1"), out
        assert "p1" not in out.split()
    finally:
        stop_apiserver(srv)


def test_two_servers_on_one_etcd(etcd):
    a = start_apiserver(("--store", f"etcd://{etcd}/e2e-b"))
    b = None
    try:
        b = start_apiserver(("--store", f"etcd://{etcd}/e2e-b"))
        ok(a.kubectl("create", "configmap", "shared", "--from-literal=k=v1"))
        # b serves what a wrote, and a serves what b wrote.
        out = ok(b.kubectl("get", "configmap", "shared", "-o", "jsonpath={.data.k}"))
        assert out == "v1"
        ok(b.kubectl("patch", "configmap", "shared", "-p", '{"data":{"k":"v2"}}'))
        out = ok(a.kubectl("get", "configmap", "shared", "-o", "jsonpath={.data.k}"))
        assert out == "v2"
    finally:
        if b:
            stop_apiserver(b)
        stop_apiserver(a)
