"""Images end to end: a real registry (Debian's docker-registry on 127.0.0.1, its own config),
images built here from busybox-static as OCI layouts and pushed with skopeo; k8c pulls,
imports, exports, lists, removes and prunes them. The helpers are shared with
test_image_faults.py."""
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt  # bcrypt for htpasswd without a new package (libxcrypt does $2b$)
    except ImportError:  # removed in Python 3.13
        crypt = None
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

import pytest

REGISTRY = "/usr/bin/docker-registry"
BUSYBOX = "/bin/busybox"


def need(*tools):
    for t in tools:
        if shutil.which(t) is None and not os.path.exists(t):
            pytest.skip(f"{t} is not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)  # polling a condition with a deadline, not a fixed wait
    raise AssertionError(f"timed out waiting for {what}")


class Registry:
    """docker-registry on 127.0.0.1:<random port>, storage and config in a temp dir."""

    def __init__(self, htpasswd_user=None):
        need(REGISTRY)
        self.dir = tempfile.mkdtemp(prefix="k8c-image-registry-")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.user = htpasswd_user
        auth = ""
        if htpasswd_user:
            if crypt is None or not hasattr(crypt, "METHOD_BLOWFISH"):
                shutil.rmtree(self.dir, ignore_errors=True)
                pytest.skip("no bcrypt (python3 crypt module) to write an htpasswd file")
            user, pw = htpasswd_user
            hashed = crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH))
            path = os.path.join(self.dir, "htpasswd")
            with open(path, "w") as f:
                f.write(f"{user}:{hashed}\n")
            auth = f"auth:\n  htpasswd:\n    realm: k8c-test\n    path: {path}\n"
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\n"
                    "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                    "  delete:\n    enabled: true\n"
                    f"http:\n  addr: 127.0.0.1:{self.port}\n" + auth)
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([REGISTRY, "serve", config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            wait_for(self.up, 20, f"registry on {self.host}")
        except BaseException:
            self.stop()
            raise

    def up(self):
        if self.proc.poll() is not None:
            raise AssertionError("registry exited: " + open(self.log.name).read())
        try:
            urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
            return True
        except urllib.error.HTTPError as e:
            return e.code == 401
        except OSError:
            return False

    def push(self, layout, ref, tag="latest", all_images=False):
        cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        if all_images:
            cmd.append("--all")
        if self.user:
            cmd += ["--dest-creds", f"{self.user[0]}:{self.user[1]}"]
        cmd += [f"oci:{layout}:{tag}", f"docker://{self.host}/{ref}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def registry():
    r = Registry()
    yield r
    r.stop()


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="k8c-image-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---- building OCI layouts by hand --------------------------------------------------------

def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(entries):
    """entries: list of (name, kind, payload): kind "file" (bytes), "dir", "symlink" (target),
    "hardlink" (target), "file+mode" ((bytes, mode))."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = payload
                t.addfile(ti)
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = payload
                t.addfile(ti)
            else:
                data, mode = payload if kind == "file+mode" else (payload, 0o644)
                ti.size = len(data)
                ti.mode = mode
                t.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def busybox_layer():
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    return [("bin", "dir", None), ("bin/busybox", "file+mode", (bb, 0o755)),
            ("bin/sh", "hardlink", "bin/busybox"), ("bin/ls", "symlink", "busybox"),
            ("etc", "dir", None), ("etc/motd", "file", b"hello from layer one\n"),
            ("etc/old", "file", b"to be deleted\n"), ("opt", "dir", None),
            ("opt/a", "file", b"a\n"), ("tmp", "dir", None)]


class Layout:
    """An OCI image layout directory written by hand."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": []}

    def blob(self, data):
        d = sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return d

    def image(self, layers, arch="amd64", cmd=("/bin/sh",), env=("PATH=/bin",), compress="gzip"):
        """layers: list of entry lists. Returns the manifest descriptor."""
        descs, diff_ids = [], []
        for entries in layers:
            raw = tar_bytes(entries)
            diff_ids.append(sha(raw))
            if compress == "gzip":
                data = gzip.compress(raw, mtime=0)
                mt = "application/vnd.oci.image.layer.v1.tar+gzip"
            else:
                data = raw
                mt = "application/vnd.oci.image.layer.v1.tar"
            descs.append({"mediaType": mt, "digest": self.blob(data), "size": len(data)})
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Cmd": list(cmd), "Env": list(env),
                                        "WorkingDir": "/tmp", "User": "0:0"},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = json.dumps({"schemaVersion": 2,
                               "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": self.blob(config), "size": len(config)},
                               "layers": descs}).encode()
        return {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": self.blob(manifest), "size": len(manifest),
                "platform": {"architecture": arch, "os": "linux"}}

    def tag(self, desc, tag):
        d = dict(desc)
        d["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index["manifests"].append(d)
        self.save()

    def multi(self, descs, tag):
        idx = json.dumps({"schemaVersion": 2,
                          "mediaType": "application/vnd.oci.image.index.v1+json",
                          "manifests": descs}).encode()
        self.tag({"mediaType": "application/vnd.oci.image.index.v1+json",
                  "digest": self.blob(idx), "size": len(idx)}, tag)

    def save(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(self.index, f)


def two_layer_layout(path):
    """busybox, then a layer that deletes /etc/old (whiteout) and makes /opt opaque."""
    lay = Layout(path)
    top = [("etc", "dir", None), ("etc/.wh.old", "file", b""),
           ("etc/motd", "file", b"hello from layer two\n"),
           ("opt", "dir", None), ("opt/.wh..wh..opq", "file", b""), ("opt/b", "file", b"b\n")]
    desc = lay.image([busybox_layer(), top])
    lay.tag(desc, "latest")
    return lay, desc


def pull(k8c, data_dir, ref, *extra, timeout=120):
    return k8c("image", "--data-dir", data_dir, "pull", "--quiet", *extra, ref, timeout=timeout)


def inspect(k8c, data_dir, ref):
    r = k8c("image", "--data-dir", data_dir, "inspect", ref)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# ---- tests -------------------------------------------------------------------------------

def test_pull_two_layers_with_whiteouts(k8c, data_dir, registry, tmp):
    need("skopeo")
    _, desc = two_layer_layout(os.path.join(tmp, "layout"))
    registry.push(os.path.join(tmp, "layout"), "test/two:v1")
    ref = f"{registry.host}/test/two:v1"
    r = pull(k8c, data_dir, ref)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [ref, desc["digest"]]
    info = inspect(k8c, data_dir, ref)
    assert info["config"]["Cmd"] == ["/bin/sh"]
    assert info["config"]["Env"] == ["PATH=/bin"]
    assert info["config"]["WorkingDir"] == "/tmp"
    low, up = info["layers"]
    assert os.access(os.path.join(low, "bin/busybox"), os.X_OK)
    assert os.stat(os.path.join(low, "bin/sh")).st_ino == \
        os.stat(os.path.join(low, "bin/busybox")).st_ino
    assert os.readlink(os.path.join(low, "bin/ls")) == "busybox"
    assert open(os.path.join(up, "etc/motd")).read() == "hello from layer two\n"
    # whiteout -> overlay char device 0/0; opaque dir -> trusted.overlay.opaque=y
    st = os.lstat(os.path.join(up, "etc/old"))
    assert (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0
    assert os.getxattr(os.path.join(up, "opt"), "trusted.overlay.opaque") == b"y"
    assert not os.path.exists(os.path.join(up, "opt/.wh..wh..opq"))
    # the layer directories stack as overlayfs lowerdirs into the image's filesystem
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    m = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={up}:{low}", mnt], capture_output=True, text=True)
    if m.returncode != 0:
        pytest.skip(f"overlay mount not possible here: {m.stderr}")
    try:
        assert not os.path.exists(os.path.join(mnt, "etc/old"))
        assert sorted(os.listdir(os.path.join(mnt, "opt"))) == ["b"]
        out = subprocess.run(["chroot", mnt, "/bin/sh", "-c", "/bin/busybox cat /etc/motd"],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout == "hello from layer two\n"
    finally:
        subprocess.run(["umount", mnt], check=True)


def test_pull_is_idempotent_and_shares_layers(k8c, data_dir, registry, tmp):
    need("skopeo")
    lay = Layout(os.path.join(tmp, "layout"))
    base = busybox_layer()
    a = lay.image([base, [("a", "file", b"a\n")]])
    b = lay.image([base, [("b", "file", b"b\n")]])
    lay.tag(a, "a")
    lay.tag(b, "b")
    registry.push(lay.path, "test/share:a", tag="a")
    registry.push(lay.path, "test/share:b", tag="b")
    for tag in ("a", "b", "a"):
        r = pull(k8c, data_dir, f"{registry.host}/test/share:{tag}")
        assert r.returncode == 0, r.stderr
    ia = inspect(k8c, data_dir, f"{registry.host}/test/share:a")
    ib = inspect(k8c, data_dir, f"{registry.host}/test/share:b")
    assert ia["layers"][0] == ib["layers"][0]  # one directory for the shared layer
    assert ia["layers"][1] != ib["layers"][1]
    assert len(os.listdir(os.path.join(data_dir, "images/layers/sha256"))) == 3
    # by digest: stored under the digest name, found by digest too
    r = pull(k8c, data_dir, f"{registry.host}/test/share@{a['digest']}")
    assert r.returncode == 0, r.stderr
    ls = k8c("image", "--data-dir", data_dir, "ls")
    assert ls.returncode == 0
    lines = ls.stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "DIGEST", "SIZE"]
    rows = [line.split() for line in lines[1:]]
    assert [r[1] for r in rows] == ["a", "b", "<none>"]
    assert rows[0][2] == a["digest"][7:19]
    # rm keeps what another image uses; prune has nothing left to do after that
    assert k8c("image", "--data-dir", data_dir, "rm", f"{registry.host}/test/share:b")\
        .returncode == 0
    assert not os.path.exists(ib["layers"][1])
    assert os.path.exists(ib["layers"][0])
    r = k8c("image", "--data-dir", data_dir, "rm", f"{registry.host}/test/share:b")
    assert r.returncode == 1 and "not in the store" in r.stderr
    r = k8c("image", "--data-dir", data_dir, "prune")
    assert r.returncode == 0 and r.stdout.startswith("removed 0 ")


def test_pull_multi_platform_index(k8c, data_dir, registry, tmp):
    need("skopeo")
    lay = Layout(os.path.join(tmp, "layout"))
    amd = lay.image([busybox_layer(), [("arch", "file", b"amd64\n")]], arch="amd64")
    arm = lay.image([busybox_layer(), [("arch", "file", b"arm64\n")]], arch="arm64")
    lay.multi([amd, arm], "multi")
    registry.push(lay.path, "test/multi:1", tag="multi", all_images=True)
    ref = f"{registry.host}/test/multi:1"
    r = pull(k8c, data_dir, ref, "--platform", "linux/amd64")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == amd["digest"]
    if os.uname().machine == "x86_64":  # by default: linux and this machine's architecture
        r = pull(k8c, data_dir, ref)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[1] == amd["digest"]
    top = inspect(k8c, data_dir, ref)["layers"][1]
    assert open(os.path.join(top, "arch")).read() == "amd64\n"
    r = pull(k8c, data_dir, ref, "--platform", "linux/arm64")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == arm["digest"]
    r = pull(k8c, data_dir, ref, "--platform", "linux/s390x")
    assert r.returncode == 1
    assert "no manifest for platform linux/s390x" in r.stderr
    assert "linux/amd64, linux/arm64" in r.stderr and ref in r.stderr


def test_pull_with_basic_auth(k8c, data_dir, tmp):
    need("skopeo")
    reg = Registry(htpasswd_user=("k8c", "s3cret"))
    try:
        two_layer_layout(os.path.join(tmp, "layout"))
        reg.push(os.path.join(tmp, "layout"), "private/img:v1")
        ref = f"{reg.host}/private/img:v1"
        r = pull(k8c, data_dir, ref)
        assert r.returncode == 1
        assert "401" in r.stderr or "requires authentication" in r.stderr
        assert ref in r.stderr
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            json.dump({"auths": {reg.host: {"auth": "azhjOndyb25n"}}}, f)  # k8c:wrong
        r = pull(k8c, data_dir, ref, "--auth-file", bad)
        assert r.returncode == 1 and "rejected the credentials" in r.stderr
        good = os.path.join(tmp, "config.json")
        with open(good, "w") as f:
            json.dump({"auths": {f"http://{reg.host}": {"auth": "azhjOnMzY3JldA=="}}}, f)
        r = pull(k8c, data_dir, ref, "--auth-file", good)
        assert r.returncode == 0, r.stderr
        env = dict(os.environ, DOCKER_CONFIG=tmp)  # the docker default location works too
        r = k8c("image", "--data-dir", data_dir, "pull", "--quiet", ref, env=env)
        assert r.returncode == 0, r.stderr
    finally:
        reg.stop()


def test_export_import_round_trip_through_skopeo(k8c, data_dir, registry, tmp):
    need("skopeo", "umoci")
    _, desc = two_layer_layout(os.path.join(tmp, "layout"))
    registry.push(os.path.join(tmp, "layout"), "test/rt:v1")
    ref = f"{registry.host}/test/rt:v1"
    assert pull(k8c, data_dir, ref).returncode == 0
    out = os.path.join(tmp, "export.tar")
    r = k8c("image", "--data-dir", data_dir, "export", ref, out)
    assert r.returncode == 0, r.stderr
    # skopeo reads the archive, umoci unpacks what skopeo wrote from it
    oci2 = os.path.join(tmp, "oci2")
    subprocess.run(["skopeo", "copy", "--quiet", f"oci-archive:{out}", f"oci:{oci2}:back"],
                   check=True, capture_output=True, timeout=120)
    bundle = os.path.join(tmp, "bundle")
    subprocess.run(["umoci", "unpack", "--image", f"{oci2}:back", bundle], check=True,
                   capture_output=True, timeout=120)
    rootfs = os.path.join(bundle, "rootfs")
    assert open(os.path.join(rootfs, "etc/motd")).read() == "hello from layer two\n"
    assert not os.path.exists(os.path.join(rootfs, "etc/old"))
    # and back into a fresh k8c store, from the skopeo layout directory and from our tar
    other = os.path.join(tmp, "data2")
    r = k8c("image", "--data-dir", other, "import", oci2, "--ref", "example.com/back")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "imported example.com/back:back"
    assert inspect(k8c, other, "example.com/back:back")["digest"] == desc["digest"]
    r = k8c("image", "--data-dir", other, "import", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"imported {ref}"
    info = inspect(k8c, other, ref)
    assert open(os.path.join(info["layers"][1], "etc/motd")).read() == "hello from layer two\n"
    # an oci-archive tar written by skopeo imports as well
    skopeo_tar = os.path.join(tmp, "skopeo.tar")
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{oci2}:back",
                    f"oci-archive:{skopeo_tar}:v9"], check=True, capture_output=True, timeout=120)
    r = k8c("image", "--data-dir", other, "import", skopeo_tar, "--ref", "example.com/arch")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "imported example.com/arch:v9"
    r = k8c("image", "--data-dir", other, "import", skopeo_tar)
    assert r.returncode == 1 and "only the tag `v9`" in r.stderr and "--ref" in r.stderr


def test_import_docker_save_archive(k8c, data_dir, tmp):
    """A `docker save` tar: manifest.json, <id>/layer.tar (one a symlink, as docker writes a
    repeated layer), <id>.json config."""
    raw1 = tar_bytes(busybox_layer())
    raw2 = tar_bytes([("hello", "file", b"docker save\n")])
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["cat /hello"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [sha(raw1), sha(raw2), sha(raw1)]}}).encode()
    cid = sha(config)[7:]
    manifest = json.dumps([{"Config": f"{cid}.json", "RepoTags": ["example.org/saved:1.0"],
                            "Layers": ["l1/layer.tar", "l2/layer.tar", "l3/layer.tar"]}])
    path = os.path.join(tmp, "save.tar")
    with tarfile.open(path, "w") as t:
        for name, data in [("l1/layer.tar", raw1), ("l2/layer.tar", raw2),
                           (f"{cid}.json", config), ("manifest.json", manifest.encode())]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("l3/layer.tar")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "../l1/layer.tar"
        t.addfile(ti)
    r = k8c("image", "--data-dir", data_dir, "import", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "imported example.org/saved:1.0"
    info = inspect(k8c, data_dir, "example.org/saved:1.0")
    assert info["config"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert len(info["layers"]) == 3 and info["layers"][0] == info["layers"][2]
    assert open(os.path.join(info["layers"][1], "hello")).read() == "docker save\n"
    # by image id prefix as well
    assert inspect(k8c, data_dir, cid[:12])["name"] == "example.org/saved:1.0"
