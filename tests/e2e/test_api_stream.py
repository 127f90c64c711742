"""Streaming subresources through the API server to a node agent: kubectl exec (WebSocket
v5.channel.k8s.io, upgraded and piped byte for byte) and kubectl logs (relayed), against a
minimal fake agent on loopback that speaks kubelet's paths. The real agent comes later; this
checks the API server's half of the plumbing."""
import base64
import hashlib
import json
import socket
import socketserver
import struct
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
