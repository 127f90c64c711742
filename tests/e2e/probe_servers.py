"""HTTPS and gRPC health servers for the agent's probe scenarios, run by
agent_probe_scenarios.py inside a pod's network namespace (nsenter --net): `probe_servers.py
DIR` serves HTTPS on 127.0.0.1:8443 (DIR/cert.pem, DIR/key.pem; 500 while DIR/fail exists,
else 200) and, when python3-grpcio is installed, grpc.health.v1.Health/Check on
127.0.0.1:9090 (NOT_SERVING while DIR/not-serving exists, else SERVING)."""
import http.server
import os
import ssl
import sys

ctl = sys.argv[1]

try:
    from concurrent import futures

    import grpc

    def check(request, context):
        # HealthCheckResponse{status = 1 SERVING | 2 NOT_SERVING}, hand-encoded: no
        # generated code (Debian has no grpcio-health-checking)
        return b"\x08\x02" if os.path.exists(os.path.join(ctl, "not-serving")) else b"\x08\x01"

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}),))
    server.add_insecure_port("127.0.0.1:9090")
    server.start()
except ImportError:
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 500 if os.path.exists(os.path.join(ctl, "fail")) else 200
        self.send_response(code)
        self.send_header("X-Got-Probe-Header", self.headers.get("X-Probe", ""))
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 8443), Handler)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(os.path.join(ctl, "cert.pem"), os.path.join(ctl, "key.pem"))
httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
open(os.path.join(ctl, "up"), "w").close()
httpd.serve_forever()
