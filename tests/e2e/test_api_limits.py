"""Request deadlines and overload, against real kubectl and python3-kubernetes.

A write is made slow for real: another process holds SQLite's write lock on the server's
store file (BEGIN IMMEDIATE), so the server's writer waits inside SQLite's busy timeout and
the request stays in flight until the lock is released. Reads keep working meanwhile (WAL)."""
import json
import os
import select
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest

from conftest import start_apiserver, stop_apiserver

TIMEOUT_MSG = "Timeout: request did not complete within requested timeout - context deadline exceeded"


@contextmanager
def write_lock(srv):
    """Holds the store file's write lock until the block ends."""
    db = sqlite3.connect(os.path.join(srv.data_dir, "db", "state.db"), isolation_level=None,
                         timeout=10)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def cm_body(name):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": "v"}}


def status_of(body, code, reason):
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == code and body["reason"] == reason, body
    return body


@pytest.fixture(scope="module")
def deadline_server():
    srv = start_apiserver(("--request-timeout", "2s", "--min-request-timeout", "1"))
    yield srv
    stop_apiserver(srv)


def test_slow_write_is_504_and_still_lands(deadline_server):
    srv = deadline_server
    path = "/api/v1/namespaces/default/configmaps"
    with write_lock(srv):
        t0 = time.monotonic()
        status, body = srv.json("POST", path, cm_body("late"))
        took = time.monotonic() - t0
        assert status == 504, body
        st = status_of(body, 504, "Timeout")
        assert st["message"] == TIMEOUT_MSG
        assert 1.8 < took < 5, took
        # The client's own shorter ?timeout= wins over --request-timeout.
        t0 = time.monotonic()
        status, body = srv.json("POST", path + "?timeout=500ms", cm_body("later"))
        assert status == 504 and time.monotonic() - t0 < 1.8, body
        # kubectl prints the server's Status.
        r = srv.kubectl("create", "configmap", "viakubectl", "--from-literal=a=b")
        assert r.returncode == 1
        assert f"error: failed to create configmap: {TIMEOUT_MSG}" in r.stderr, r.stderr
        # Reads are not held up by the stuck writer.
        status, body = srv.json("GET", path + "/late")
        assert status == 404, body
    # "may still be processing the request": the queued writes land once the lock goes.
    deadline = time.monotonic() + 10
    names = set()
    while time.monotonic() < deadline:
        status, body = srv.json("GET", path)
        names = {i["metadata"]["name"] for i in body["items"]}
        if {"late", "later", "viakubectl"} <= names:
            break
        time.sleep(0.1)
    assert {"late", "later", "viakubectl"} <= names
    assert "request timed out" in srv.log()


def test_bad_timeout_parameter_is_400(deadline_server):
    status, body = deadline_server.json("GET", "/api/v1/namespaces?timeout=soon")
    st = status_of(body, 400, "BadRequest")
    assert status == 400
    assert st["message"] == ('invalid timeout specified in the request URL - time: invalid '
                             'duration "soon"')
    status, body = deadline_server.json("GET", "/api/v1/namespaces?timeoutSeconds=soon")
    assert status == 400
    assert status_of(body, 400, "BadRequest")["message"] == (
        'timeoutSeconds must be a non-negative integer, got "soon"')
    status, body = deadline_server.json("GET", "/api/v1/namespaces?timeoutSeconds=1&timeout=1s")
    assert status == 200 and body["kind"] == "NamespaceList"


def test_watches_end_at_their_timeout(deadline_server):
    srv = deadline_server
    # kubectl get -w --request-timeout ends cleanly, exit 0, with the list printed.
    srv.json("POST", "/api/v1/namespaces/default/configmaps", cm_body("watched"))
    t0 = time.monotonic()
    r = srv.kubectl("get", "configmaps", "-w", "--request-timeout=2s", timeout=20)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert "watched" in r.stdout and r.stderr == "", r.stderr
    assert 1.5 < took < 6, took
    # The python client's timeout_seconds is the server's timeoutSeconds.
    from kubernetes import client, config, watch
    api = client.CoreV1Api(config.new_client_from_config(srv.kubeconfig))
    t0 = time.monotonic()
    names = [e["object"].metadata.name for e in watch.Watch().stream(
        api.list_namespaced_config_map, "default", timeout_seconds=1)]
    assert "watched" in names
    assert 0.8 < time.monotonic() - t0 < 4
    # Without timeoutSeconds a watch lasts between one and two --min-request-timeout (1 s).
    lengths = []
    for _ in range(3):
        t0 = time.monotonic()
        status, _, data = srv.request("GET", "/api/v1/namespaces/default/configmaps?watch=1",
                                      timeout=10)
        lengths.append(time.monotonic() - t0)
        assert status == 200 and b'"watched"' in data
    assert all(0.9 < x < 2.6 for x in lengths), lengths


def seconds_until_cut(srv, head, trickle, tls=True, every=0.2, limit=12.0):
    """Connects, sends head at once, then trickle one byte per `every` seconds; returns the
    seconds until the server closed the connection, or None if it was still open at limit."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    t0 = time.monotonic()
    try:
        if tls:
            sock = srv.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")
        if head:
            sock.sendall(head)
        i = 0
        while time.monotonic() - t0 < limit:
            if i < len(trickle):
                sock.sendall(trickle[i:i + 1])
                i += 1
            readable, _, _ = select.select([sock], [], [], every)
            if readable:
                try:
                    data = sock.recv(4096)
                except (ssl.SSLError, OSError):
                    data = b""
                assert data == b"", data  # no answer to an incomplete request
                return time.monotonic() - t0
        return None
    except (ssl.SSLError, OSError):
        return time.monotonic() - t0
    finally:
        sock.close()


def test_slowloris_clients_are_cut_off(deadline_server):
    """Headers or a body trickled byte by byte (which resets libmicrohttpd's idle timer each
    time) are cut at the deadline: --request-timeout 2s here, 32 s by default."""
    srv = deadline_server
    cases = {
        "headers": (b"GET /api/v1/namespaces HTTP/1.1\r\n", b"Host: x\r\nX-Slow: " + b"a" * 200,
                    True),
        "body": (b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n",
                 b"{" + b" " * 400, True),
        "no-tls-handshake": (b"", b"", False),
    }
    results = {}
    threads = [threading.Thread(target=lambda k=k, v=v: results.__setitem__(
        k, seconds_until_cut(srv, v[0], v[1], tls=v[2]))) for k, v in cases.items()]
    for t in threads:
        t.start()
    # The server keeps serving everyone else meanwhile.
    time.sleep(0.5)
    t0 = time.monotonic()
    status, _ = srv.json("GET", "/api/v1/namespaces")
    assert status == 200 and time.monotonic() - t0 < 1.5
    for t in threads:
        t.join(30)
    for k, took in results.items():
        assert took is not None and 1.5 < took < 5, (k, results)
    assert "did not send its request in time" in srv.log()


@pytest.fixture(scope="module")
def tiny_server():
    srv = start_apiserver(("--max-requests-inflight", "1",
                           "--max-mutating-requests-inflight", "1"))
    yield srv
    stop_apiserver(srv)


def test_saturated_server_answers_429_and_clients_retry(tiny_server):
    srv = tiny_server
    path = "/api/v1/namespaces/default/configmaps"
    results = {}

    def slow_create():
        results["first"] = srv.json("POST", path, cm_body("first"), timeout=30)

    with write_lock(srv):
        holder = threading.Thread(target=slow_create)
        holder.start()
        # Wait until the first create holds the one mutating slot.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, _, metrics = srv.request("GET", "/metrics")
            if 'apiserver_current_inflight_requests{request_kind="mutating"} 1' in \
                    metrics.decode():
                break
            time.sleep(0.05)
        status, hdrs, data = srv.request("POST", path, cm_body("second"))
        assert status == 429, data
        assert hdrs.get("retry-after") == "1"
        st = status_of(json.loads(data), 429, "TooManyRequests")
        assert st["message"] == "Too many requests, please try again later."
        # Reads have their own limit and still pass.
        status, _ = srv.json("GET", path)
        assert status == 200
        # kubectl (client-go retries 429 after Retry-After) and the python client (with a
        # urllib3 retry policy, as its docs describe) start now and succeed once the slot frees.
        kubectl = subprocess.Popen(
            ["kubectl", "--kubeconfig", srv.kubeconfig, "--cache-dir", srv.cache_dir,
             "create", "configmap", "bykubectl", "--from-literal=a=b"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        from kubernetes import client, config
        import urllib3
        cfg = client.Configuration()
        config.load_kube_config(config_file=srv.kubeconfig, client_configuration=cfg)
        cfg.retries = urllib3.Retry(total=10, status_forcelist=[429], allowed_methods=None,
                                    respect_retry_after_header=True, backoff_factor=0.2)
        api = client.CoreV1Api(client.ApiClient(cfg))
        py = {}

        def python_create():
            py["obj"] = api.create_namespaced_config_map(
                "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="bypython")))

        pt = threading.Thread(target=python_create)
        pt.start()
        time.sleep(1.5)  # both have been refused at least once by now
    holder.join(30)
    pt.join(30)
    out, err = kubectl.communicate(timeout=60)
    assert results["first"][0] == 201, results
    assert kubectl.returncode == 0, err
    assert out.strip() == "configmap/bykubectl created"
    assert py["obj"].metadata.name == "bypython"
    # The refusals were counted: ours, and at least one for each client that then retried.
    status, _, metrics = srv.request("GET", "/metrics")
    refused = sum(int(line.rsplit(" ", 1)[1]) for line in metrics.decode().splitlines()
                  if line.startswith('apiserver_request_total{verb="POST",resource="configmaps"')
                  and 'code="429"' in line)
    assert refused >= 3, metrics.decode()[:3000]
