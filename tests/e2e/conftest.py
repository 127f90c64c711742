"""Shared fixtures for k8c's end-to-end tests: they run the real `build/k8c` binary."""
import os
import shutil
import subprocess
import tempfile

import pytest

K8C = os.environ.get("K8C_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "k8c")


@pytest.fixture
def k8c():
    """Runs `k8c ARGS...`; returns the CompletedProcess (text mode, never raises on rc)."""
    if not os.access(K8C, os.X_OK):
        pytest.fail(f"k8c binary not built at {K8C}")

    def run(*args, timeout=60, env=None):
        return subprocess.run([K8C, *args], capture_output=True, text=True,
                              timeout=timeout, env=env)
    return run


@pytest.fixture
def data_dir():
    """A fresh data directory, removed afterwards whatever happened."""
    d = tempfile.mkdtemp(prefix="k8c-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---- API server fixtures (tests/e2e/test_api*.py) ----

import http.client  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import time  # noqa: E402

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiServer:
    """A running `k8c server --no-agent` on a free loopback port with its own data dir."""

    def __init__(self, data_dir, port, proc, log_path):
        self.data_dir = data_dir
        self.port = port
        self.proc = proc
        self.log_path = log_path
        self.kubeconfig = os.path.join(data_dir, "admin.kubeconfig")
        self.cache_dir = os.path.join(data_dir, "kubectl-cache")
        self.url = f"https://127.0.0.1:{port}"

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def ssl_context(self, client_cert=True):
        tls = os.path.join(self.data_dir, "tls")
        ctx = ssl.create_default_context(cafile=os.path.join(tls, "ca.crt"))
        if client_cert:
            ctx.load_cert_chain(os.path.join(tls, "admin.crt"), os.path.join(tls, "admin.key"))
        return ctx

    def request(self, method, path, body=None, headers=None, client_cert=True, timeout=30):
        """One HTTPS request; returns (status, headers dict (lower-case), body bytes)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.ssl_context(client_cert))
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None, **kw):
        status, hdrs, data = self.request(method, path, body, headers, **kw)
        return status, json.loads(data) if data else None

    def kubectl(self, *args, timeout=60, input=None, env=None):
        """Runs the machine's kubectl against this server with a fresh discovery cache."""
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache_dir, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                              env=env)


def _wait_ready(srv, deadline_s=20):
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise RuntimeError(f"k8c server exited {srv.proc.returncode}:\n{srv.log()}")
        try:
            status, _, _ = srv.request("GET", "/readyz", client_cert=False, timeout=2)
            if status == 200:
                return
            last = status
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"k8c server not ready after {deadline_s}s ({last}):\n{srv.log()}")


def start_apiserver(extra_args=(), embedded=False, agent_args=None):
    """Starts a server; the caller stops it with stop_apiserver. Without `embedded` the
    server's own scheduler and controllers are off, so tests that run their own (or none)
    see only what they start. The embedded node agent is off (--no-agent) unless agent_args
    is given (a list of its flags, possibly empty): it creates mounts and cgroups, so only
    tests inside private namespaces (unshare, see test_server.py) ask for it."""
    if not os.access(K8C, os.X_OK):
        pytest.fail(f"k8c binary not built at {K8C}")
    d = tempfile.mkdtemp(prefix="k8c-e2e-apiserver-")
    port = _free_port()
    log_path = os.path.join(d, "server.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([K8C, "server", "--data-dir", d, "--listen", f"127.0.0.1:{port}",
                             *(("--no-agent",) if agent_args is None else agent_args),
                             *(() if embedded else ("--disable-scheduler",
                                                    "--disable-controller-manager")),
                             *extra_args], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    log.close()
    srv = ApiServer(d, port, proc, log_path)
    try:
        _wait_ready(srv)
    except Exception:
        stop_apiserver(srv)
        raise
    return srv


def stop_apiserver(srv):
    """SIGTERM by PID, then SIGKILL after a deadline; removes the data dir. Fails when the
    server did not stop cleanly (exit status 0) or a sanitizer reported anything (run the
    e2e tests with K8C_BIN=build/asan/k8c to use that)."""
    problem = None
    try:
        if srv.proc.poll() is None:
            srv.proc.send_signal(signal.SIGTERM)
            try:
                srv.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                srv.proc.kill()
                srv.proc.wait(timeout=15)
                problem = "did not stop within 15 s of SIGTERM"
        log = srv.log()
        if problem is None and srv.proc.returncode != 0:
            problem = f"exited {srv.proc.returncode}"
        if "Sanitizer" in log or "runtime error:" in log:
            problem = "sanitizer report"
        if problem:
            raise AssertionError(f"k8c server {problem}:\n{log[-8000:]}")
    finally:
        shutil.rmtree(srv.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def apiserver():
    """One `k8c server` for the whole session (tests use their own namespaces and names)."""
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    srv = start_apiserver()
    yield srv
    stop_apiserver(srv)
