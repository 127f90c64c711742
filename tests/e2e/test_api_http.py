"""The API server over raw HTTPS: authentication, discovery documents, paging, watches,
limits, and bad input answered with the right 4xx Status while the server keeps serving."""
import base64
import json
import re
import socket
import ssl
import time

import pytest

_NS_SEQ = 0


def status_of(body):
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure"
    return body


@pytest.fixture
def hns(apiserver, request):
    global _NS_SEQ
    _NS_SEQ += 1
    base = re.sub(r"[^a-z0-9-]", "-", request.node.name[5:].lower())[:40].strip("-")
    name = f"h-{_NS_SEQ}-{base}".strip("-")
    status, body = apiserver.json("POST", "/api/v1/namespaces",
                                  {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": name}})
    assert status == 201, body
    return name


def cm(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": data}


def test_anonymous_is_401_but_health_is_public(apiserver):
    status, _, body = apiserver.request("GET", "/api/v1/namespaces", client_cert=False)
    assert status == 401
    st = status_of(json.loads(body))
    assert st["reason"] == "Unauthorized" and st["code"] == 401
    for path in ("/healthz", "/livez", "/readyz"):
        status, _, body = apiserver.request("GET", path, client_cert=False)
        assert (status, body) == (200, b"ok")
    status, v = apiserver.json("GET", "/version", client_cert=False)
    assert status == 200 and v["major"] == "1" and v["minor"] == "32"


def test_client_certificates_are_verified_on_every_connection(apiserver, tmp_path):
    """Verified chains are remembered by their bytes: the admin certificate works on one
    new connection after another, and a certificate with the same names from another CA
    (before and after the admin's was remembered) is anonymous, so 401."""
    import http.client
    import shutil
    import subprocess
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    key, crt = tmp_path / "rogue.key", tmp_path / "rogue.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-days", "1", "-subj", "/O=system:masters/CN=kubernetes-admin"],
                   check=True, capture_output=True)

    def rogue():
        ctx = apiserver.ssl_context(client_cert=False)
        ctx.load_cert_chain(str(crt), str(key))
        c = http.client.HTTPSConnection("127.0.0.1", apiserver.port, context=ctx, timeout=30)
        try:
            c.request("GET", "/api/v1/namespaces")
            return c.getresponse().status
        finally:
            c.close()
    assert rogue() == 401
    for _ in range(3):
        assert apiserver.request("GET", "/api/v1/namespaces")[0] == 200
    assert rogue() == 401


def test_node_token_is_a_bearer_token(apiserver):
    with open(f"{apiserver.data_dir}/node-token") as f:
        token = f.read().strip()
    status, _, _ = apiserver.request("GET", "/api/v1/nodes", client_cert=False,
                                     headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    status, _, body = apiserver.request("GET", "/api/v1/nodes", client_cert=False,
                                        headers={"Authorization": "Bearer wrong"})
    assert status == 401


def test_tls_files_are_private(apiserver):
    import os
    import stat
    for f in ("tls/ca.key", "tls/apiserver.key", "tls/admin.key", "node-token",
              "admin.kubeconfig"):
        mode = stat.S_IMODE(os.stat(os.path.join(apiserver.data_dir, f)).st_mode)
        assert mode == 0o600, (f, oct(mode))


def test_aggregated_discovery_content_type(apiserver):
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json")
    status, hdrs, body = apiserver.request("GET", "/apis", headers={"Accept": accept})
    assert status == 200
    assert hdrs["content-type"] == \
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    doc = json.loads(body)
    apps = [g for g in doc["items"] if g["metadata"]["name"] == "apps"][0]
    deploy = [r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments"][0]
    assert deploy["scope"] == "Namespaced" and "deploy" in deploy["shortNames"]
    assert any(s["subresource"] == "scale" and s["responseKind"]["kind"] == "Scale"
               for s in deploy["subresources"])
    status, legacy = apiserver.json("GET", "/api/v1")
    assert status == 200 and legacy["kind"] == "APIResourceList"
    pods = [r for r in legacy["resources"] if r["name"] == "pods"][0]
    assert pods["verbs"] == ["create", "delete", "deletecollection", "get", "list", "patch",
                             "update", "watch"]


def test_openapi_endpoints(apiserver):
    status, idx = apiserver.json("GET", "/openapi/v3")
    assert status == 200 and "api/v1" in idx["paths"]
    url = idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
    status, doc = apiserver.json("GET", url)
    assert status == 200 and doc["openapi"].startswith("3.")
    status, hdrs, body = apiserver.request(
        "GET", "/openapi/v2",
        headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert status == 200 and body == b""
    assert hdrs["content-type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def test_metrics_are_prometheus_text(apiserver):
    apiserver.request("GET", "/api/v1/namespaces/default/configmaps")
    status, hdrs, body = apiserver.request("GET", "/metrics")
    text = body.decode()
    assert status == 200 and hdrs["content-type"].startswith("text/plain")
    assert 'apiserver_request_total{verb="LIST",resource="configmaps",code="200"}' in text
    assert "# TYPE apiserver_request_duration_seconds histogram" in text
    assert 'apiserver_storage_duration_seconds_count{operation="list"}' in text
    assert "apiserver_registered_watchers " in text


def test_list_paging_with_continue(apiserver, hns):
    for i in range(7):
        status, _ = apiserver.json("POST", f"/api/v1/namespaces/{hns}/configmaps",
                                   cm(f"c{i}", i=str(i)))
        assert status == 201
    names, token, rvs = [], "", set()
    for _ in range(10):
        q = f"limit=3&continue={token}" if token else "limit=3"
        status, page = apiserver.json("GET", f"/api/v1/namespaces/{hns}/configmaps?{q}")
        assert status == 200, page
        names += [o["metadata"]["name"] for o in page["items"]]
        rvs.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue")
        if not token:
            break
        assert page["metadata"]["remainingItemCount"] > 0
    assert names == [f"c{i}" for i in range(7)]
    assert len(rvs) == 1  # every page served at the first page's revision
    status, body = apiserver.json("GET", f"/api/v1/namespaces/{hns}/configmaps?limit=1&"
                                  "continue=not-a-token")
    assert status == 400 and status_of(body)["reason"] == "BadRequest"
    other = base64.urlsafe_b64encode(json.dumps(
        {"v": "meta.k8s.io/v1", "rv": 1, "start": "/registry/secrets/x"}).encode()).decode()
    status, body = apiserver.json("GET", f"/api/v1/namespaces/{hns}/configmaps?limit=1&"
                                  f"continue={other.rstrip('=')}")
    assert status == 400


def test_update_with_stale_resource_version_is_409(apiserver, hns):
    path = f"/api/v1/namespaces/{hns}/configmaps"
    status, obj = apiserver.json("POST", path, cm("c", a="1"))
    assert status == 201
    obj["data"]["a"] = "2"
    status, new = apiserver.json("PUT", f"{path}/c", obj)
    assert status == 200 and int(new["metadata"]["resourceVersion"]) > \
        int(obj["metadata"]["resourceVersion"])
    obj["data"]["a"] = "3"  # still carries the old resourceVersion
    status, body = apiserver.json("PUT", f"{path}/c", obj)
    assert status == 409
    st = status_of(body)
    assert st["reason"] == "Conflict"
    assert 'Operation cannot be fulfilled on configmaps "c"' in st["message"]
    status, cur = apiserver.json("GET", f"{path}/c")
    assert cur["data"]["a"] == "2"


@pytest.mark.parametrize("body,ctype,reason,code", [
    (b'{"apiVersion":"v1","kind":"ConfigMap",', "application/json", "BadRequest", 400),
    (b"apiVersion: v1\nkind: [ConfigMap\n", "application/yaml", "BadRequest", 400),
    (b'["not","an","object"]', "application/json", "BadRequest", 400),
    (b'{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}', "application/json",
     "BadRequest", 400),
    (b'{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}', "application/json",
     "BadRequest", 400),
    (b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}',
     "application/json", "Invalid", 422),
    (b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}', "text/html",
     "UnsupportedMediaType", 415),
    (b"", "application/json", "BadRequest", 400),
])
def test_bad_create_bodies(apiserver, hns, body, ctype, reason, code):
    status, _, data = apiserver.request("POST", f"/api/v1/namespaces/{hns}/configmaps",
                                        body=body, headers={"Content-Type": ctype})
    st = status_of(json.loads(data))
    assert (status, st["code"], st["reason"]) == (code, code, reason), st
    assert st["message"]
    # Nothing half-written: the namespace still has no configmap.
    status, lst = apiserver.json("GET", f"/api/v1/namespaces/{hns}/configmaps")
    assert lst["items"] == []


def test_invalid_name_causes(apiserver, hns):
    status, body = apiserver.json("POST", f"/api/v1/namespaces/{hns}/configmaps",
                                  cm("Bad_Name"))
    assert status == 422
    st = status_of(body)
    assert st["details"]["kind"] == "ConfigMap" and st["details"]["name"] == "Bad_Name"
    assert st["details"]["causes"][0]["field"] == "metadata.name"


def test_strict_field_validation(apiserver, hns):
    obj = cm("strict", a="1")
    obj["bogus"] = 1
    status, body = apiserver.json("POST", f"/api/v1/namespaces/{hns}/configmaps?"
                                  "fieldValidation=Strict", obj)
    assert status == 400
    assert 'unknown field "bogus"' in status_of(body)["message"]
    status, hdrs, _ = apiserver.request("POST", f"/api/v1/namespaces/{hns}/configmaps?"
                                        "fieldValidation=Warn", obj)
    assert status == 201
    assert 'unknown field \\"bogus\\"' in hdrs.get("warning", "") or \
        'unknown field "bogus"' in hdrs.get("warning", "")


def test_paths_with_dot_dot_and_unknown_resources(apiserver):
    status, body = apiserver.json("GET", "/api/v1/namespaces/default/configmaps/..")
    assert status == 400 and status_of(body)["reason"] == "BadRequest"
    status, body = apiserver.json("GET", "/api/v1/namespaces/default/gizmos")
    assert status == 404 and status_of(body)["reason"] == "NotFound"
    status, body = apiserver.json("POST", "/api/v1/namespaces/nope/configmaps", cm("x"))
    assert status == 404 and status_of(body)["message"] == 'namespaces "nope" not found'
    status, body = apiserver.json("PUT", "/api/v1/namespaces/default/configmaps/a", cm("b"))
    assert status in (400, 404)


def test_body_over_3mib_is_413(apiserver, hns):
    big = json.dumps(cm("big", a="x" * (3 * 1024 * 1024 + 10))).encode()
    status, _, body = apiserver.request("POST", f"/api/v1/namespaces/{hns}/configmaps",
                                        body=big, headers={"Content-Type": "application/json"})
    assert status == 413
    assert status_of(json.loads(body))["reason"] == "RequestEntityTooLarge"
    status, _, _ = apiserver.request("GET", "/readyz")
    assert status == 200


def test_broken_patches(apiserver, hns):
    path = f"/api/v1/namespaces/{hns}/configmaps/p"
    status, _ = apiserver.json("POST", f"/api/v1/namespaces/{hns}/configmaps", cm("p", a="1"))
    assert status == 201
    for ctype, body, code in [
        ("application/json-patch+json", b'{"op":"add"}', 400),
        ("application/json-patch+json", b'[{"op":"remove","path":"/data/zz"}]', 422),
        ("application/merge-patch+json", b'{"data":', 400),
        ("application/strategic-merge-patch+json", b"[1,2]", 400),
        ("application/apply-patch+yaml", b"kind: [", 400),
        ("text/plain", b"{}", 415),
    ]:
        q = "?fieldManager=t" if "apply" in ctype else ""
        status, _, data = apiserver.request("PATCH", path + q, body=body,
                                            headers={"Content-Type": ctype})
        assert status == code, (ctype, body, data)
        status_of(json.loads(data))
    status, obj = apiserver.json("GET", path)
    assert obj["data"] == {"a": "1"}


def test_watch_resource_version_and_gone(apiserver, hns):
    path = f"/api/v1/namespaces/{hns}/configmaps"
    status, first = apiserver.json("POST", path, cm("w1"))
    rv = first["metadata"]["resourceVersion"]
    status, _ = apiserver.json("POST", path, cm("w2", x="1"))
    status, _ = apiserver.json("DELETE", f"{path}/w1")
    assert status == 200
    status, _, body = apiserver.request("GET", f"{path}?watch=true&resourceVersion={rv}"
                                        "&timeoutSeconds=1")
    events = [json.loads(line) for line in body.decode().splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == \
        [("ADDED", "w2"), ("DELETED", "w1")]
    # Label selectors filter the stream; resourceVersion 0 replays the current state.
    status, _, body = apiserver.request("GET", f"{path}?watch=1&resourceVersion=0"
                                        "&timeoutSeconds=1&labelSelector=none%3Dhere")
    assert body == b""
    status, _, body = apiserver.request("GET", f"{path}?watch=1&timeoutSeconds=1")
    assert [json.loads(line)["object"]["metadata"]["name"]
            for line in body.decode().splitlines()] == ["w2"]
    status, _, body = apiserver.request("GET", f"{path}?watch=1&resourceVersion=garbage")
    assert status == 400 and status_of(json.loads(body))["reason"] == "BadRequest"
    # (A revision the watch window forgot: tests/unit/apiserver/test_core.c, 410 as ERROR.)


def test_watch_stream_is_live_and_ends_on_timeout(apiserver, hns):
    path = f"/api/v1/namespaces/{hns}/configmaps"
    ctx = apiserver.ssl_context()
    raw = socket.create_connection(("127.0.0.1", apiserver.port), timeout=15)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        s.sendall(f"GET {path}?watch=true&timeoutSeconds=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                  .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 200")
        status, _ = apiserver.json("POST", path, cm("live"))
        assert status == 201
        data = head.split(b"\r\n\r\n", 1)[1]
        deadline = time.monotonic() + 10
        while b'"live"' not in data and time.monotonic() < deadline:
            data += s.recv(4096)
        assert b'"type":"ADDED"' in data and b'"live"' in data
        while not data.endswith(b"0\r\n\r\n") and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.endswith(b"0\r\n\r\n")  # the chunked stream ended at timeoutSeconds
    finally:
        s.close()


def test_server_survives_garbage_connections(apiserver):
    for payload in (b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 100):
        with socket.create_connection(("127.0.0.1", apiserver.port), timeout=5) as s:
            s.sendall(payload)
            try:
                s.recv(100)
            except (ConnectionResetError, socket.timeout):
                pass
    status, _, _ = apiserver.request("GET", "/readyz")
    assert status == 200


def test_restart_keeps_certificates_and_objects(tmp_path):
    from conftest import start_apiserver, stop_apiserver
    import signal
    srv = start_apiserver()
    try:
        with open(srv.kubeconfig) as f:
            kubeconfig1 = f.read()
        status, _ = srv.json("POST", "/api/v1/namespaces/default/configmaps", cm("keep", a="1"))
        assert status == 201
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=15) == 0
        assert "shutting down signal=SIGTERM" in srv.log() and "stopped" in srv.log()
        # Same data dir, same port: same CA and admin credentials, same objects.
        import subprocess
        from conftest import K8C
        log = open(srv.log_path, "a")
        srv.proc = subprocess.Popen([K8C, "server", "--data-dir", srv.data_dir, "--listen",
                                     f"127.0.0.1:{srv.port}", "--no-agent"], stdout=log,
                                    stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        from conftest import _wait_ready
        _wait_ready(srv)
        with open(srv.kubeconfig) as f:
            assert f.read() == kubeconfig1
        status, obj = srv.json("GET", "/api/v1/namespaces/default/configmaps/keep")
        assert status == 200 and obj["data"] == {"a": "1"}
    finally:
        stop_apiserver(srv)


def test_server_usage_errors(k8c, data_dir):
    r = k8c("server", "--bogus")
    assert r.returncode == 2 and "unknown or incomplete flag" in r.stderr
    r = k8c("server", "--data-dir", data_dir, "--listen", "nonsense")
    assert r.returncode == 1 and "is not host:port" in r.stderr
    r = k8c("server", "--data-dir", data_dir, "--listen", "127.0.0.1:0")
    assert r.returncode == 1 and "1-65535" in r.stderr
    r = k8c("server", "--max-requests-inflight", "0")
    assert r.returncode == 2 and "in-flight limit must be 1-100000" in r.stderr


def test_generate_name_dry_run_and_deletecollection(apiserver, hns):
    path = f"/api/v1/namespaces/{hns}/configmaps"
    status, obj = apiserver.json("POST", path, {"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"generateName": "gen-",
                                                             "labels": {"k": "v"}}})
    assert status == 201 and obj["metadata"]["name"].startswith("gen-")
    assert len(obj["metadata"]["name"]) == len("gen-") + 5
    status, dry = apiserver.json("POST", f"{path}?dryRun=All", cm("dry"))
    assert status == 201 and dry["metadata"]["name"] == "dry"
    assert apiserver.json("GET", f"{path}/dry")[0] == 404  # nothing stored
    apiserver.json("POST", path, cm("keep"))
    status, lst = apiserver.json("DELETE", f"{path}?labelSelector=k%3Dv")
    assert status == 200 and [o["metadata"]["name"] for o in lst["items"]] == \
        [obj["metadata"]["name"]]
    status, lst = apiserver.json("GET", path)
    assert [o["metadata"]["name"] for o in lst["items"]] == ["keep"]


def test_resource_version_match(apiserver, hns):
    path = f"/api/v1/namespaces/{hns}/configmaps"
    status, first = apiserver.json("POST", path, cm("a"))
    rv1 = first["metadata"]["resourceVersion"]
    apiserver.json("POST", path, cm("b"))
    status, exact = apiserver.json("GET", f"{path}?resourceVersion={rv1}"
                                   "&resourceVersionMatch=Exact")
    assert status == 200 and [o["metadata"]["name"] for o in exact["items"]] == ["a"]
    assert exact["metadata"]["resourceVersion"] == rv1
    status, newer = apiserver.json("GET", f"{path}?resourceVersion={rv1}"
                                   "&resourceVersionMatch=NotOlderThan")
    assert [o["metadata"]["name"] for o in newer["items"]] == ["a", "b"]
    status, body = apiserver.json("GET", f"{path}?resourceVersionMatch=Exact")
    assert status == 400 and "resourceVersionMatch" in status_of(body)["message"]
    status, body = apiserver.json("GET", f"{path}?resourceVersion=abc")
    assert status == 400
    status, body = apiserver.json("GET", f"{path}?resourceVersion=999999999"
                                  "&resourceVersionMatch=NotOlderThan")
    assert status == 504 and status_of(body)["reason"] == "Timeout"


def test_status_subresource_split_and_scale(apiserver, hns):
    path = f"/apis/apps/v1/namespaces/{hns}/statefulsets"
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"replicas": 1, "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "db", "image": "pg"}]}}}}
    status, obj = apiserver.json("POST", path, sts)
    assert status == 201, obj
    # A status write does not change the spec; a spec write does not change the status.
    obj["status"] = {"replicas": 1, "readyReplicas": 1}
    obj["spec"]["replicas"] = 5
    status, after = apiserver.json("PUT", f"{path}/db/status", obj)
    assert status == 200, after
    assert after["status"]["readyReplicas"] == 1 and after["spec"]["replicas"] == 1
    after["status"] = {}
    after["spec"]["replicas"] = 2
    status, after2 = apiserver.json("PUT", f"{path}/db", after)
    assert after2["spec"]["replicas"] == 2 and after2["status"]["readyReplicas"] == 1
    assert after2["metadata"]["generation"] == 2
    status, scale = apiserver.json("GET", f"{path}/db/scale")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=db"
    status, _, body = apiserver.request("PATCH", f"{path}/db/scale",
                                        body=b'{"spec":{"replicas":3}}',
                                        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200 and json.loads(body)["spec"]["replicas"] == 3


def test_events_are_served_in_both_versions(apiserver, hns):
    ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
          "eventTime": "2026-01-01T00:00:00.000000Z", "reason": "Tested", "note": "hello",
          "type": "Normal", "action": "Test", "reportingController": "k8c.io/test",
          "reportingInstance": "i1",
          "regarding": {"kind": "Pod", "name": "p", "namespace": hns, "apiVersion": "v1"}}
    status, body = apiserver.json("POST", f"/apis/events.k8s.io/v1/namespaces/{hns}/events", ev)
    assert status == 201, body
    status, core = apiserver.json("GET", f"/api/v1/namespaces/{hns}/events/e1")
    assert status == 200 and core["apiVersion"] == "v1"
    assert core["message"] == "hello" and core["involvedObject"]["name"] == "p"
    status, lst = apiserver.json("GET", f"/api/v1/namespaces/{hns}/events?fieldSelector="
                                 "involvedObject.name%3Dp")
    assert [e["metadata"]["name"] for e in lst["items"]] == ["e1"]
