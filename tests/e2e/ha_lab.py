"""A lab for the high-availability tests (test_ha.py) and bench/store's failover run: a real
3-member etcd cluster on loopback ports (Debian's /usr/bin/etcd) and `k8c server` processes on
it sharing one PKI, every process started here and killed by PID in stop()."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from conftest import K8C, ApiServer, _free_port, _wait_ready

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from lab import die_with_parent  # noqa: E402

ETCD = "/usr/bin/etcd"


def wait_etcd_healthy(proc, client_url, log_path, deadline):
    """Waits until the etcd member answers /health with true (by the monotonic deadline)."""
    while True:
        if proc.poll() is not None:
            with open(log_path, errors="replace") as f:
                raise AssertionError(f"etcd exited:\n{f.read()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{client_url}/health", timeout=2) as r:
                if b'"true"' in r.read():
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "etcd did not become healthy"
        time.sleep(0.05)


class Lab:
    def __init__(self, name="ha"):
        self.dir = tempfile.mkdtemp(prefix=f"k8c-{name}-")
        self.etcd = []      # [(proc, client_url)]
        self.servers = []   # ApiServer
        self.procs = []     # other processes (hollow nodes, watches)

    # ---- etcd ----
    def start_etcd(self, members=3):
        ports = [(_free_port(), _free_port()) for _ in range(members)]
        cluster = ",".join(f"m{i}=http://127.0.0.1:{p}" for i, (_, p) in enumerate(ports))
        for i, (cport, pport) in enumerate(ports):
            curl, purl = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{pport}"
            log = open(os.path.join(self.dir, f"etcd{i}.log"), "w")
            proc = subprocess.Popen(
                [ETCD, "--name", f"m{i}", "--data-dir", os.path.join(self.dir, f"etcd{i}"),
                 "--listen-client-urls", curl, "--advertise-client-urls", curl,
                 "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                 "--initial-cluster", cluster, "--initial-cluster-token", self.dir,
                 "--heartbeat-interval", "50", "--election-timeout", "500"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
            log.close()
            self.etcd.append((proc, curl))
        deadline = time.monotonic() + 30
        for i, (proc, curl) in enumerate(self.etcd):
            wait_etcd_healthy(proc, curl, os.path.join(self.dir, f"etcd{i}.log"), deadline)

    def store_url(self, prefix):
        hosts = ",".join(url[len("http://"):] for _, url in self.etcd)
        return f"etcd://{hosts}/{prefix}"

    def kill_etcd(self, i):
        proc = self.etcd[i][0]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=15)

    # ---- k8c servers ----
    def start_server(self, *args, like=None, name=None):
        """`k8c server --no-agent ARGS`; with `like`, a server of the same cluster: its data
        dir starts with like's certificates and keys, so one kubeconfig works on both."""
        d = os.path.join(self.dir, name or f"server{len(self.servers)}")
        os.makedirs(d)
        if like is not None:
            shutil.copytree(os.path.join(like.data_dir, "tls"), os.path.join(d, "tls"))
        port = _free_port()
        log_path = os.path.join(d, "server.log")
        log = open(log_path, "w")
        proc = subprocess.Popen([K8C, "server", "--data-dir", d, "--listen",
                                 f"127.0.0.1:{port}", "--no-agent", *args],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)
        log.close()
        srv = ApiServer(d, port, proc, log_path)
        self.servers.append(srv)
        _wait_ready(srv)
        return srv

    def spawn(self, name, *args):
        log = open(os.path.join(self.dir, f"{name}.log"), "w")
        proc = subprocess.Popen([K8C, *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name):
        with open(os.path.join(self.dir, f"{name}.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        """Kills everything started here by PID and removes the lab's directory. Fails when a
        server still running did not stop cleanly on SIGTERM, or any server's log has a
        sanitizer report (run with K8C_BIN=build/asan/k8c)."""
        problems = []
        running = [s for s in self.servers if s.proc.poll() is None]
        for proc in self.procs + [s.proc for s in self.servers]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs + [s.proc for s in self.servers]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        for s in self.servers:
            log = s.log()
            if s in running and s.proc.returncode != 0:
                problems.append(f"{s.data_dir}: exited {s.proc.returncode}:\n{log[-4000:]}")
            if "Sanitizer" in log or "runtime error:" in log:
                problems.append(f"{s.data_dir}: sanitizer report:\n{log[-8000:]}")
        for proc, _ in self.etcd:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)
        assert not problems, "\n".join(problems)


def wait_until(what, fn, seconds=60, step=0.2):
    deadline = time.monotonic() + seconds
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)
