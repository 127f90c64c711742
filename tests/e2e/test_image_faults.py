"""Images under faults: a small fake registry (127.0.0.1, serving an OCI layout built here)
that fails on purpose — 404/401/500, a hang, a wrong or truncated blob, an unknown media type,
bearer-token auth — plus resuming an interrupted pull. Each error must name the image and the
cause, and the store must stay consistent."""
import base64
import http.server
import json
import os
import re
import threading

import pytest

from test_image import Layout, busybox_layer, inspect, pull, registry, tmp  # noqa: F401


class FakeRegistry:
    """Serves /v2/<name>/manifests/<ref> and /v2/<name>/blobs/<digest> from a Layout."""

    def __init__(self, layout, tags):
        self.layout = layout
        self.tags = tags  # tag -> manifest digest
        self.faults = {}
        self.requests = []  # (path, range header)
        self.release = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send(self, code, body=b"", ctype="application/json", headers=()):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                fake.requests.append((self.path, self.headers.get("Range")))
                f = fake.faults
                if self.path.startswith("/token"):
                    want = "Basic " + base64.b64encode(b"tok:pw").decode()
                    if self.headers.get("Authorization") != want:
                        return self.send(401, b'{"errors":[{"code":"DENIED"}]}')
                    return self.send(200, json.dumps({"token": "t0k3n"}).encode())
                if f.get("token") and self.headers.get("Authorization") != "Bearer t0k3n":
                    port = self.server.server_address[1]
                    chal = (f'Bearer realm="http://127.0.0.1:{port}/token",service="fake",'
                            'scope="repository:test/img:pull"')
                    return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED",'
                                          b'"message":"authentication required"}]}',
                                     headers=[("WWW-Authenticate", chal)])
                if f.get("hang"):
                    fake.release.wait(30)
                    return
                if f.get("status"):
                    return self.send(f["status"], b'{"errors":[{"code":"BOOM",'
                                                  b'"message":"registry is on fire"}]}')
                if f.get("redirect") and self.path.startswith("/v2/") and "/blobs/" in self.path:
                    return self.send(307, headers=[("Location", "/storage" + self.path)])
                path = self.path
                if path.startswith("/storage/"):
                    path = path[len("/storage"):]
                m = re.fullmatch(r"/v2/test/img/(manifests|blobs)/([^/]+)", path)
                if m is None:
                    return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
                kind, ref = m.groups()
                digest = fake.tags.get(ref, ref) if kind == "manifests" else ref
                path = os.path.join(fake.layout.path, "blobs", "sha256", digest[7:])
                if not digest.startswith("sha256:") or not os.path.exists(path):
                    code = "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN"
                    return self.send(404, json.dumps({"errors": [{"code": code,
                                                                  "message": "unknown"}]})
                                     .encode())
                data = open(path, "rb").read()
                if kind == "manifests":
                    mt = json.loads(data).get("mediaType", "")
                    if f.get("manifest_body"):
                        data = f["manifest_body"]
                    return self.send(200, data, ctype=mt)
                if f.get("corrupt") == digest:
                    data = bytes(len(data))
                if f.get("truncate") == digest:
                    f.pop("truncate")
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                rng = self.headers.get("Range")
                if rng and not f.get("ignore_range"):
                    start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                    return self.send(206, data[start:], ctype="application/octet-stream",
                                     headers=[("Content-Range",
                                               f"bytes {start}-{len(data) - 1}/{len(data)}")])
                return self.send(200, data, ctype="application/octet-stream")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def blob_gets(self, digest):
        return [r for r in self.requests
                if r[0].endswith("/blobs/" + digest) and not r[0].startswith("/storage/")]

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(tmp):  # noqa: F811
    lay = Layout(os.path.join(tmp, "layout"))
    big = os.urandom(512 * 1024)  # incompressible, so the blob is big enough to cut in half
    desc = lay.image([busybox_layer(), [("big", "file", big)]])
    lay.tag(desc, "v1")
    manifest = json.load(open(os.path.join(lay.path, "blobs/sha256", desc["digest"][7:])))
    f = FakeRegistry(lay, {"v1": desc["digest"]})
    f.desc = desc
    f.manifest = manifest
    yield f
    f.stop()


def check_error(r, ref, *parts):
    assert r.returncode == 1, r.stdout
    assert r.stderr.count("\n") == 1, r.stderr
    assert f"pull `{ref}`" in r.stderr, r.stderr
    for p in parts:
        assert p in r.stderr, r.stderr


def store_is_clean(data_dir):
    """No record, no layer directory, no temporary unpack left behind."""
    images = os.path.join(data_dir, "images")
    for sub in ("records", "layers/sha256", "tmp"):
        p = os.path.join(images, sub)
        assert not os.path.exists(p) or os.listdir(p) == [], (sub, os.listdir(p))


def test_404_names_the_image(k8c, data_dir, registry):  # noqa: F811
    ref = f"{registry.host}/nothing/here:v1"
    check_error(pull(k8c, data_dir, ref), ref, "HTTP 404", "MANIFEST_UNKNOWN: manifest unknown")


def test_500(k8c, data_dir, fake):
    fake.faults["status"] = 500
    ref = f"{fake.host}/test/img:v1"
    check_error(pull(k8c, data_dir, ref), ref, "HTTP 500", "BOOM: registry is on fire")
    store_is_clean(data_dir)


def test_401_without_credentials_and_bearer_token_flow(k8c, data_dir, fake, tmp):  # noqa: F811
    fake.faults["token"] = True
    ref = f"{fake.host}/test/img:v1"
    check_error(pull(k8c, data_dir, ref), ref, "token server", "HTTP 401",
                "no credentials for this registry")
    auth = os.path.join(tmp, "auth.json")
    with open(auth, "w") as f:
        json.dump({"auths": {fake.host: {"username": "tok", "password": "pw"}}}, f)
    r = pull(k8c, data_dir, ref, "--auth-file", auth)
    assert r.returncode == 0, r.stderr
    assert any(p.startswith("/token?scope=repository%3Atest%2Fimg%3Apull&service=fake")
               for p, _ in fake.requests), fake.requests


def test_hanging_registry_times_out(k8c, data_dir, fake):
    fake.faults["hang"] = True
    ref = f"{fake.host}/test/img:v1"
    check_error(pull(k8c, data_dir, ref, "--timeout", "2", timeout=30), ref,
                "registry sent nothing for 2 seconds")


def test_blob_digest_mismatch(k8c, data_dir, fake):
    layer = fake.manifest["layers"][1]["digest"]
    fake.faults["corrupt"] = layer
    ref = f"{fake.host}/test/img:v1"
    check_error(pull(k8c, data_dir, ref), ref, f"blob {layer}: digest mismatch")
    assert not os.path.exists(os.path.join(data_dir, "images/blobs/sha256", layer[7:]))
    assert os.listdir(os.path.join(data_dir, "images/records")) == []
    # the registry heals: the next pull works and the image is whole
    fake.faults.clear()
    r = pull(k8c, data_dir, ref)
    assert r.returncode == 0, r.stderr
    assert len(inspect(k8c, data_dir, ref)["layers"]) == 2


def test_manifest_digest_mismatch_and_unknown_media_type(k8c, data_dir, fake):
    wrong = "sha256:" + "ab" * 32
    fake.tags[wrong] = fake.desc["digest"]  # asked for `wrong`, serves another manifest
    ref = f"{fake.host}/test/img@{wrong}"
    check_error(pull(k8c, data_dir, ref), ref, "manifest digest mismatch")
    fake.faults["manifest_body"] = json.dumps({"schemaVersion": 2,
                                               "mediaType": "application/vnd.acme.thing"}).encode()
    ref = f"{fake.host}/test/img:v1"
    check_error(pull(k8c, data_dir, ref), ref, "unsupported media type",
                "application/vnd.acme.thing")
    store_is_clean(data_dir)


def test_interrupted_pull_resumes(k8c, data_dir, fake):
    big = fake.manifest["layers"][1]
    small = fake.manifest["layers"][0]
    fake.faults["truncate"] = big["digest"]
    ref = f"{fake.host}/test/img:v1"
    check_error(pull(k8c, data_dir, ref, "--parallel", "1"), ref, "truncated",
                big["digest"])
    partial = os.path.join(data_dir, "images/ingest", big["digest"][7:] + ".partial")
    assert os.path.getsize(partial) == big["size"] // 2
    assert os.listdir(os.path.join(data_dir, "images/records")) == []
    r = pull(k8c, data_dir, ref)
    assert r.returncode == 0, r.stderr
    gets = fake.blob_gets(big["digest"])
    assert [g[1] for g in gets] == [None, f"bytes={big['size'] // 2}-"]
    assert len(fake.blob_gets(small["digest"])) == 1  # completed blobs are not fetched again
    assert len(fake.blob_gets(fake.manifest["config"]["digest"])) == 1
    assert not os.path.exists(partial)
    top = inspect(k8c, data_dir, ref)["layers"][1]
    assert os.path.getsize(os.path.join(top, "big")) == 512 * 1024


def test_pull_policy_never_and_bad_usage(k8c, data_dir):
    r = k8c("image", "--data-dir", data_dir, "inspect", "busybox")
    assert r.returncode == 1
    assert r.stderr == "k8c: image: image `docker.io/library/busybox:latest` is not in the store\n"
    r = k8c("image", "--data-dir", data_dir, "pull", "Bad/Name")
    assert r.returncode == 1 and "lower case" in r.stderr
    r = k8c("image", "--data-dir", data_dir, "frob")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = k8c("image", "--data-dir", data_dir, "pull")
    assert r.returncode == 2 and "exactly one image reference" in r.stderr
    r = k8c("image", "--data-dir", data_dir, "pull", "--timeout", "soon", "x")
    assert r.returncode == 2 and "--timeout" in r.stderr
    r = k8c("image", "--data-dir", data_dir, "import", "/nonexistent/k8c-image.tar")
    assert r.returncode == 1 and "/nonexistent/k8c-image.tar" in r.stderr


def test_tls_by_default_plain_http_only_when_listed(k8c, data_dir, fake):
    # 0.0.0.0 reaches the loopback listener but is not a loopback name: TLS is required
    ref = f"0.0.0.0:{fake.host.split(':')[1]}/test/img:v1"
    r = pull(k8c, data_dir, ref)
    check_error(r, ref, f"https://0.0.0.0:{fake.host.split(':')[1]}/v2/test/img/manifests/v1")
    assert fake.requests == []  # no plain-HTTP request was made
    r = pull(k8c, data_dir, ref, "--insecure-registry", ref.split("/")[0])
    assert r.returncode == 0, r.stderr


def test_pull_policy(k8c, data_dir, fake):
    ref = f"{fake.host}/test/img:v1"
    r = pull(k8c, data_dir, ref, "--pull-policy", "Never")
    assert r.returncode == 1
    assert "imagePullPolicy is Never" in r.stderr and "is not in the store" in r.stderr
    assert pull(k8c, data_dir, ref, "--pull-policy", "IfNotPresent").returncode == 0
    n = len(fake.requests)
    assert pull(k8c, data_dir, ref, "--pull-policy", "IfNotPresent").returncode == 0
    assert pull(k8c, data_dir, ref, "--pull-policy", "Never").returncode == 0
    assert len(fake.requests) == n  # present: the registry is not asked
    assert pull(k8c, data_dir, ref, "--pull-policy", "Always").returncode == 0
    assert len(fake.requests) > n


def test_progress_log_lines_when_not_a_terminal(k8c, data_dir, fake):
    ref = f"{fake.host}/test/img:v1"
    r = k8c("image", "--data-dir", data_dir, "pull", ref)
    assert r.returncode == 0, r.stderr
    for layer in fake.manifest["layers"]:
        assert f"layer {layer['digest'][:19]} done" in r.stderr, r.stderr
    assert "\033[" not in r.stderr


def test_concurrent_pulls_of_one_image(k8c, data_dir, fake):
    import subprocess
    ref = f"{fake.host}/test/img:v1"
    from conftest import K8C
    procs = [subprocess.Popen([K8C, "image", "--data-dir", data_dir,
                               "pull", "--quiet", ref], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert len(os.listdir(os.path.join(data_dir, "images/layers/sha256"))) == 2
    assert os.listdir(os.path.join(data_dir, "images/tmp")) == []
    assert len(inspect(k8c, data_dir, ref)["layers"]) == 2


def test_blobs_follow_redirects_with_token_auth(k8c, data_dir, fake, tmp):  # noqa: F811
    fake.faults.update(redirect=True, token=True)
    auth = os.path.join(tmp, "auth.json")
    with open(auth, "w") as f:
        json.dump({"auths": {fake.host: {"username": "tok", "password": "pw"}}}, f)
    ref = f"{fake.host}/test/img:v1"
    r = pull(k8c, data_dir, ref, "--auth-file", auth)
    assert r.returncode == 0, r.stderr
    assert any(p.startswith("/storage/v2/test/img/blobs/") for p, _ in fake.requests)


def test_resume_when_the_registry_ignores_range(k8c, data_dir, fake):
    big = fake.manifest["layers"][1]
    fake.faults.update(truncate=big["digest"], ignore_range=True)
    ref = f"{fake.host}/test/img:v1"
    check_error(pull(k8c, data_dir, ref, "--parallel", "1"), ref, "truncated")
    partial = os.path.join(data_dir, "images/ingest", big["digest"][7:] + ".partial")
    saved = open(partial, "rb").read()
    # prune clears partial downloads, unreferenced blobs and leftovers of a crashed unpack
    os.makedirs(os.path.join(data_dir, "images/tmp/layer-leftover-x/sub"))
    r = k8c("image", "--data-dir", data_dir, "prune")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(partial)
    for sub in ("tmp", "ingest", "blobs/sha256"):
        assert os.listdir(os.path.join(data_dir, "images", sub)) == [], sub
    with open(partial, "wb") as f:  # put it back: the next pull resumes from it
        f.write(saved)
    r = pull(k8c, data_dir, ref)  # 200 with the whole blob: the partial file restarts
    assert r.returncode == 0, r.stderr
    top = inspect(k8c, data_dir, ref)["layers"][1]
    assert os.path.getsize(os.path.join(top, "big")) == 512 * 1024
