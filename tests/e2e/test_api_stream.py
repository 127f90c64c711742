"""Streaming subresources through the API server to a node agent: kubectl exec (WebSocket
v5.channel.k8s.io, upgraded and piped byte for byte) and kubectl logs (relayed), against a
minimal fake agent on loopback that speaks kubelet's paths, over plain HTTP and over TLS with
a pinned self-signed certificate. This checks the API server's half of the plumbing; the real
agent's end is tested by test_agent_stream.py."""
import base64
import hashlib
import json
import os
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import threading

import pytest

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(payload, opcode=2):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    return head + payload


class FakeAgent(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.requests = []
        self.follow_gate = threading.Event()
        super().__init__(("127.0.0.1", 0), AgentHandler)


class AgentHandler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode()
        headers = {}
        while True:
            h = self.rfile.readline().decode()
            if h in ("\r\n", "\n", ""):
                break
            k, _, v = h.partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        if line.count(" ") < 2:
            return  # a client that gave up in the TLS handshake
        self.server.requests.append((line.strip(), headers))
        method, target, _ = line.split(" ", 2)
        if target.startswith("/containerLogs/"):
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                             b"log line 1\nlog line 2\n")
            if "follow=true" in target:
                # A follower gets lines as they come; the stream ends when the agent closes.
                self.wfile.flush()
                self.server.follow_gate.wait(10)
                self.wfile.write(b"later line\n")
            return
        if target.startswith("/exec/") and headers.get("upgrade", [""])[0].lower() == "websocket":
            key = headers["sec-websocket-key"][0]
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                              "\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n").encode())
            cmd = " ".join(v.split("=", 1)[1] for v in target.split("?", 1)[1].split("&")
                           if v.startswith("command="))
            self.wfile.write(ws_frame(b"\x01" + f"agent ran: {cmd}\n".encode()))
            self.wfile.write(ws_frame(b"\x03" + json.dumps(
                {"metadata": {}, "status": "Success"}).encode()))
            self.wfile.write(ws_frame(struct.pack("!H", 1000), opcode=8))
            self.wfile.flush()
            try:
                self.request.settimeout(5)
                self.request.recv(1024)  # the client's close frame
            except OSError:
                pass
            return
        self.wfile.write(b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno\n")


@pytest.fixture
def agent():
    srv = FakeAgent()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_exec_and_logs_reach_the_agent(apiserver, agent):
    port = agent.server_address[1]
    status, body = apiserver.json("POST", "/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "fake-node",
                     "annotations": {"k8c.io/agent-url": f"http://127.0.0.1:{port}"}}})
    assert status == 201, body
    status, body = apiserver.json("POST", "/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "streamed"},
        "spec": {"nodeName": "fake-node",
                 "containers": [{"name": "main", "image": "busybox"}]}})
    assert status == 201, body
    r = apiserver.kubectl("exec", "streamed", "--", "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "agent ran: echo hi\n"
    line, headers = [x for x in agent.requests if x[0].startswith("GET /exec/")][0]
    assert line.startswith("GET /exec/default/streamed/main?")
    assert headers["sec-websocket-protocol"] == ["v5.channel.k8s.io"]
    r = apiserver.kubectl("logs", "streamed")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "log line 1\nlog line 2\n"
    # logs -f: the first lines arrive before the agent writes more, then the stream ends.
    import subprocess
    from conftest import KUBECTL
    f = subprocess.Popen([KUBECTL, "--kubeconfig", apiserver.kubeconfig, "--cache-dir",
                          apiserver.cache_dir, "logs", "-f", "streamed"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert f.stdout.readline() == "log line 1\n"
        assert f.stdout.readline() == "log line 2\n"
        agent.follow_gate.set()
        rest, err = f.communicate(timeout=20)
    finally:
        if f.poll() is None:
            f.kill()
            f.wait()
    assert rest == "later line\n" and f.returncode == 0, err
    # An agent that is gone: a clear 502/503 Status, and the server keeps serving.
    agent.shutdown()
    agent.server_close()
    r = apiserver.kubectl("logs", "streamed")
    assert r.returncode == 1 and "error dialing the agent" in r.stderr


class TlsFakeAgent(FakeAgent):
    """The fake agent behind TLS with a self-signed certificate, asking for a client one."""

    def __init__(self, cert, key, client_ca):
        super().__init__()
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.load_verify_locations(client_ca)
        self.ctx.verify_mode = ssl.CERT_OPTIONAL
        self.ctx.check_hostname = False
        self.peer_subjects = []

    def get_request(self):
        sock, addr = super().get_request()
        # the handshake may fail (a client refusing our certificate): the handler sees EOF
        s = self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            s.do_handshake()
            subject = dict(x[0] for x in (s.getpeercert() or {}).get("subject", ()))
            self.peer_subjects.append(subject.get("organizationName"))
        except (ssl.SSLError, OSError):
            pass
        return s, addr


def test_agent_certificate_is_pinned(apiserver, tmp_path):
    """Over https the API server presents its client certificate and accepts the agent's
    self-signed one only when its SHA-256 matches the Node's k8c.io/agent-cert-sha256."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = str(tmp_path / "a.crt"), str(tmp_path / "a.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=fake-agent", "-days", "1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    with open(cert) as f:
        pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()
    srv = TlsFakeAgent(cert, key, os.path.join(apiserver.data_dir, "tls", "ca.crt"))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        for node, sha in (("pinned", pin), ("mispinned", "0" * 64)):
            status, body = apiserver.json("POST", "/api/v1/nodes", {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node, "annotations": {
                    "k8c.io/agent-url": f"https://127.0.0.1:{port}",
                    "k8c.io/agent-cert-sha256": sha}}})
            assert status == 201, body
            status, body = apiserver.json("POST", "/api/v1/namespaces/default/pods", {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"on-{node}"},
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": "b"}]}})
            assert status == 201, body
        r = apiserver.kubectl("logs", "on-pinned")
        assert r.returncode == 0 and r.stdout == "log line 1\nlog line 2\n", r.stderr
        assert srv.peer_subjects[0] == "system:masters", srv.peer_subjects
        r = apiserver.kubectl("logs", "on-mispinned")
        assert r.returncode == 1 and "error dialing the agent" in r.stderr, r
    finally:
        srv.shutdown()
        srv.server_close()
