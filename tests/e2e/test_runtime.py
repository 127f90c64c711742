"""End-to-end tests of `k8c runtime`: busybox bundles run by k8c's runtime and by runc and
crun (Debian's), comparing what the container observes; escapes from a default container;
bad config.json; the create/start/state/kill/delete life cycle.

Every container, cgroup, mount and temp dir a test makes is removed afterwards, even on
failure. Containers get their own network namespaces; the host network is never touched.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import K8C

BUSYBOX = "/bin/busybox"
CGROOT = "/sys/fs/cgroup"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root"),
    pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="needs busybox-static"),
]


def have(tool):
    return shutil.which(tool) is not None


class Runtimes:
    """Bundles and the three runtimes, each with its own state root; cleans up in close()."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="k8c-runtime-e2e-")
        os.chmod(self.tmp, 0o755)  # user-namespaced containers must reach their rootfs
        self.roots = {name: os.path.join(self.tmp, "root-" + name)
                      for name in ("k8c", "runc", "crun")}
        self.started = []  # (runtime, id)
        self.procs = []

    def new_id(self, prefix="k8ce2e"):
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def bundle(self, args, mutate=None, name=None):
        """A busybox bundle with k8c's default config (RuntimeDefault security)."""
        d = os.path.join(self.tmp, name or uuid.uuid4().hex[:8])
        rootfs = os.path.join(d, "rootfs")
        for sub in ("bin", "proc", "sys", "dev", "etc", "tmp", "mnt"):
            os.makedirs(os.path.join(rootfs, sub), exist_ok=True)
        shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        for a in applets:
            if a != "busybox":
                os.symlink("busybox", os.path.join(rootfs, "bin", a))
        with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
        with open(os.path.join(rootfs, "etc", "group"), "w") as f:
            f.write("root:x:0:\nnogroup:x:65534:\n")
        r = subprocess.run([K8C, "runtime", "spec", "--bundle", d], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        cfg = self.config(d)
        cfg["process"]["args"] = args
        if mutate:
            mutate(cfg)
        self.write_config(d, cfg)
        return d

    @staticmethod
    def config(bundle):
        with open(os.path.join(bundle, "config.json")) as f:
            return json.load(f)

    @staticmethod
    def write_config(bundle, cfg):
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)

    def cmd(self, runtime, *args):
        root = self.roots[runtime]
        if runtime == "k8c":
            return [K8C, "runtime", "--root", root, *args]
        if runtime == "runc":
            return ["runc", "--root", root, *args]
        # Debian's crun 1.8.1 refuses hybrid cgroup hosts: in a private mount namespace
        # (unshare's default propagation is private) hide the empty v2 tree from it.
        line = " ".join(["exec", "crun", "--root", root] + [f"'{a}'" for a in args])
        return ["unshare", "--mount", "sh", "-c",
                f"umount {CGROOT}/unified 2>/dev/null; {line}"]

    def run(self, runtime, bundle, cid=None, timeout=60, **kw):
        cid = cid or self.new_id()
        self.started.append((runtime, cid))
        return subprocess.run(self.cmd(runtime, "run", "--bundle", bundle, cid),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **kw)

    def ctl(self, runtime, *args, timeout=30):
        return subprocess.run(self.cmd(runtime, *args), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def create(self, runtime, bundle, cid, *extra):
        """create with the container's stdio on /dev/null (the caller must not wait on it)."""
        self.started.append((runtime, cid))
        # the container inherits stdio: a pipe would stay open as long as it runs
        with tempfile.TemporaryFile(mode="w+", dir=self.tmp) as err:
            r = subprocess.run(self.cmd(runtime, "create", "--bundle", bundle, *extra, cid),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=err, text=True, timeout=30)
            err.seek(0)
            r.stderr = err.read()
        return r

    def close(self):
        for runtime, cid in self.started:
            try:
                self.ctl(runtime, "delete", "--force", cid, timeout=20)
            except Exception:  # noqa: BLE001 - cleanup goes on whatever happened
                pass
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for runtime, cid in self.started:
            if runtime == "k8c":
                for ctrl in ("cpu", "cpuacct", "cpuset", "memory", "pids", "freezer",
                             "devices", "unified"):
                    for d in (os.path.join(CGROOT, ctrl, "k8c-runtime", cid),
                              os.path.join(CGROOT, ctrl, "k8c-runtime")):
                        if os.path.isdir(d):
                            try:
                                os.rmdir(d)  # fails while in use: then it is not ours alone
                            except OSError:
                                pass
        # never leave a mount under our temp dir behind
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(self.tmp)), reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def rt():
    r = Runtimes()
    yield r
    r.close()


def peers():
    out = ["k8c"]
    if have("runc"):
        out.append("runc")
    if have("crun") and have("unshare"):
        out.append("crun")
    return out


def run_all(rt, bundle, expect_rc=0):
    """Runs the bundle with every available runtime; returns {runtime: stdout}."""
    outs = {}
    for name in peers():
        r = rt.run(name, bundle)
        assert r.returncode == expect_rc, f"{name}: rc={r.returncode} stderr={r.stderr}"
        outs[name] = r.stdout
    return outs


def assert_same(outs):
    base = outs["k8c"]
    for name, out in outs.items():
        assert out == base, f"k8c and {name} differ:\n--- k8c\n{base}\n--- {name}\n{out}"


def cgroup_gone(cid):
    return all(not os.path.exists(os.path.join(CGROOT, c, "k8c-runtime", cid))
               for c in ("memory", "pids", "cpu", "freezer"))


# ---- observable results agree with runc and crun ----

STATUS = ("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "
          "/proc/self/status")


def test_default_container_matches_peers(rt):
    script = (f"id; hostname; {STATUS}; "
              # the mount tree: mount points (cgroup trees differ by runtime on v1 hosts, and
              # crun masks files with the host's /dev/null, runc with the container's)
              "awk '{print $5}' /proc/self/mountinfo | grep -v '^/sys/fs/cgroup' | sort; "
              "touch /probe 2>&1; echo root-write=$?")
    outs = run_all(rt, rt.bundle(["sh", "-c", script]))
    assert_same(outs)
    out = outs["k8c"]
    assert "uid=0(root) gid=0(root)" in out
    assert "NoNewPrivs:\t1" in out and "Seccomp:\t2" in out
    assert "CapBnd:\t00000000a80425fb" in out  # Docker's 14 default capabilities
    assert "Read-only file system" in out


def test_no_runtime_descriptor_leaks(rt):
    # an extra descriptor open in the caller must not reach the container either
    r, w = os.pipe()
    try:
        bundle = rt.bundle(["ls", "/proc/self/fd"])
        for name in peers():
            p = rt.run(name, bundle, pass_fds=(r, w))
            assert p.returncode == 0, p.stderr
            # 0-2 are stdio; 3 is ls's own directory descriptor
            assert p.stdout.split() == ["0", "1", "2", "3"], (name, p.stdout)
    finally:
        os.close(r)
        os.close(w)


def test_user_groups_umask_hostname_match(rt):
    def mutate(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20],
                                  "umask": 0o077}
        cfg["hostname"] = "box-1"
        cfg["process"]["env"].append("GREETING=hi there")
    outs = run_all(rt, rt.bundle(["sh", "-c", f"id; umask; hostname; echo $GREETING; {STATUS}"],
                                 mutate))
    assert_same(outs)
    out = outs["k8c"]
    assert "uid=1000 gid=1000 groups=10,20" in out
    assert "0077" in out and "box-1" in out and "hi there" in out
    assert "CapEff:\t0000000000000000" in out  # a non-root user keeps no capabilities


def test_memory_limit_oom_kill(rt):
    def mutate(cfg):
        lim = 32 << 20
        cfg["linux"]["resources"]["memory"] = {"limit": lim, "swap": lim}
    # dd's 96 MiB buffer cannot fit in 32 MiB: the kernel OOM-kills it
    bundle = rt.bundle(["dd", "if=/dev/zero", "of=/dev/null", "bs=96M", "count=1"], mutate)
    for name in peers():
        r = rt.run(name, bundle)
        assert r.returncode == 137, f"{name}: rc={r.returncode} {r.stderr}"
    # create/start/state reports the OOM kill
    cid = rt.new_id()
    assert rt.create("k8c", bundle, cid).returncode == 0
    assert rt.ctl("k8c", "start", cid).returncode == 0
    deadline = time.monotonic() + 20
    while True:
        st = json.loads(rt.ctl("k8c", "state", cid).stdout)
        if st["status"] == "stopped" or time.monotonic() > deadline:
            break
    assert st["status"] == "stopped"
    assert st.get("oomKilled") is True, st
    ev = json.loads(rt.ctl("k8c", "events", "--stats", cid).stdout)
    assert ev["data"]["memory"]["oomKills"] >= 1, ev
    assert ev["data"]["memory"]["usage"]["limit"] == 32 << 20, ev
    assert rt.ctl("k8c", "delete", cid).returncode == 0
    assert cgroup_gone(cid)


def test_pids_limit(rt):
    def mutate(cfg):
        cfg["linux"]["resources"]["pids"] = {"limit": 6}
    # busybox sh gives up (status 2) when the pids controller refuses its fork
    script = ("cat /sys/fs/cgroup/pids/pids.max; "
              "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo not-reached")
    bundle = rt.bundle(["sh", "-c", script], mutate)
    outs = {}
    for name in peers():
        r = rt.run(name, bundle)
        assert r.returncode == 2, f"{name}: rc={r.returncode} {r.stderr}"
        assert "fork" in r.stderr, f"{name}: {r.stderr}"
        outs[name] = r.stdout
    assert_same(outs)
    assert outs["k8c"] == "6\n"


def test_readonly_root_and_paths(rt):
    script = ("touch /x 2>/dev/null; echo root=$?; "
              "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null; echo procsys=$?; "
              "touch /tmp/x 2>/dev/null; echo tmp=$?")
    outs = run_all(rt, rt.bundle(["sh", "-c", script]))
    assert_same(outs)
    assert "root=1" in outs["k8c"] and "procsys=1" in outs["k8c"]


def test_joined_network_namespace(rt):
    holder_bundle = rt.bundle(["sleep", "300"])
    holder = rt.new_id()
    assert rt.create("k8c", holder_bundle, holder).returncode == 0, "create failed"
    assert rt.ctl("k8c", "start", holder).returncode == 0
    pid = json.loads(rt.ctl("k8c", "state", holder).stdout)["pid"]
    netns = f"/proc/{pid}/ns/net"
    # a bridge interface inside the holder's namespace only
    subprocess.run(["nsenter", f"--net={netns}", "ip", "link", "add", "k8cbr0", "type",
                    "bridge"], check=True, capture_output=True)

    def mutate(cfg):
        cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"]
                                      if ns["type"] != "network"]
        cfg["linux"]["namespaces"].append({"type": "network", "path": netns})
    script = "readlink /proc/self/ns/net; ip -o link | awk '{print $2}'"
    outs = run_all(rt, rt.bundle(["sh", "-c", script], mutate))
    assert_same(outs)
    assert os.readlink(netns) in outs["k8c"]
    assert "k8cbr0" in outs["k8c"]


def test_user_namespace_mapping(rt):
    def mutate(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    script = "id; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u /bin/busybox"
    bundle = rt.bundle(["sh", "-c", script], mutate)
    outs = run_all(rt, bundle)
    assert_same(outs)
    out = outs["k8c"]
    assert "uid=0(root) gid=0(root)" in out
    assert "200000" in out and "65536" in out
    assert "65534" in out  # host root's files show as the overflow uid


# ---- escapes from a default container must fail ----

PROBE_C = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
int main(int argc, char **argv)
{
    long pid = strtol(argv[1], NULL, 10);
    if (ptrace(PTRACE_ATTACH, (pid_t)pid, 0, 0) == 0) { puts("attached"); return 0; }
    printf("ptrace: %d\n", errno);
    return 1;
}
"""


def test_escapes_fail(rt):
    sleeper = subprocess.Popen(["sleep", "300"])
    rt.procs.append(sleeper)
    bundle = rt.bundle(["true"])
    probe = None
    if have("gcc"):
        src = os.path.join(rt.tmp, "probe.c")
        with open(src, "w") as f:
            f.write(PROBE_C)
        probe = os.path.join(bundle, "rootfs", "bin", "probe")
        subprocess.run(["gcc", "-static", "-O1", "-o", probe, src], check=True)
    attempts = {
        "mount": "mount -t tmpfs none /mnt",
        "unshare-user": "unshare -U true",
        "unshare-mount": "unshare -m true",
        "sysrq": "echo h > /proc/sysrq-trigger",
        "module": "insmod /bin/busybox",
        "masked-kcore": "test -s /proc/kcore && head -c 1 /proc/kcore | wc -c | grep -q 1",
        "masked-keys": "test -n \"$(cat /proc/keys)\"",
        "readonly-proc-sys": "echo 1 > /proc/sys/vm/drop_caches",
        "readonly-root": "touch /bin/x",
        "sysfs-write": "echo 1 > /sys/kernel/profiling",
        "mknod": "mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda",
        "chroot-escape": "chroot / nsenter -t 1 -m true",
        "hostname": "hostname evil",
    }
    if probe:
        attempts["ptrace-host"] = f"probe {sleeper.pid}"
    script = "; ".join(f"( {cmd} ) >/dev/null 2>&1 && echo ESCAPED:{name}"
                       for name, cmd in attempts.items())
    cfg = rt.config(bundle)
    cfg["process"]["args"] = ["sh", "-c", script + "; echo done"]
    rt.write_config(bundle, cfg)
    for name in peers():
        r = rt.run(name, bundle)
        assert r.returncode == 0, r.stderr
        assert "done" in r.stdout
        assert "ESCAPED" not in r.stdout, f"{name}: {r.stdout}"


# ---- bad config.json: exit 1, one line, nothing left behind ----

def leftovers(rt, cid, bundle):
    found = []
    if os.path.exists(os.path.join(rt.roots["k8c"], cid)):
        found.append("state dir")
    if not cgroup_gone(cid):
        found.append("cgroup")
    with open("/proc/self/mountinfo") as f:
        if bundle in f.read():
            found.append("mount")
    return found


@pytest.mark.parametrize("case", [
    "malformed", "unknown-namespace", "missing-rootfs", "absurd-rlimit", "symlink-escape",
    "bad-sysctl", "host-sysctl", "hugepages-without-hugetlb", "missing-program",
    "program-not-in-path",
])
def test_bad_config(rt, case):
    bundle = rt.bundle(["true"])
    cfg = rt.config(bundle)
    field = None
    if case == "malformed":
        with open(os.path.join(bundle, "config.json"), "w") as f:
            f.write('{"ociVersion": "1.0.2", "process": ')
        field = "config.json"
    else:
        if case == "unknown-namespace":
            cfg["linux"]["namespaces"].append({"type": "bogus"})
            field = "linux.namespaces[5].type"
        elif case == "missing-rootfs":
            cfg["root"]["path"] = "no-such-rootfs"
            field = "root.path"
        elif case == "absurd-rlimit":
            cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]
            field = "process.rlimits[0].soft"
        elif case == "symlink-escape":
            os.symlink("../../../../../../tmp", os.path.join(bundle, "rootfs", "escape"))
            cfg["mounts"].append({"destination": "/escape/k8c-pwned", "type": "tmpfs",
                                  "source": "tmpfs"})
            field = "mounts[7].destination"
        elif case == "bad-sysctl":
            # namespaced, so it passes the parser; the kernel has no such knob
            cfg["linux"]["sysctl"] = {"net.ipv4.no_such_knob": "1"}
            field = "linux.sysctl.net.ipv4.no_such_knob"
        elif case == "host-sysctl":
            cfg["linux"]["sysctl"] = {"vm.swappiness": "1"}
            field = "linux.sysctl.vm.swappiness"
        elif case == "hugepages-without-hugetlb":
            if os.path.isdir(os.path.join(CGROOT, "hugetlb")):
                pytest.skip("this host has a hugetlb hierarchy")
            cfg["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2MB",
                                                            "limit": 2 << 20}]
            field = "linux.resources.hugepageLimits"
        elif case == "missing-program":
            cfg["process"]["args"] = ["/bin/no-such-program"]
            field = "process.args[0]"
        elif case == "program-not-in-path":
            cfg["process"]["args"] = ["no-such-program"]
            field = "process.args[0]: `no-such-program` is not in the container's PATH"
        rt.write_config(bundle, cfg)
    cid = rt.new_id()
    if case.startswith("program"):  # caught by create already, not only by start
        r = rt.create("k8c", bundle, cid)
    else:
        r = rt.run("k8c", bundle, cid)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert field in lines[0], lines[0]
    assert leftovers(rt, cid, bundle) == []
    assert not os.path.exists("/tmp/k8c-pwned")


# ---- life cycle and the command line ----

def test_lifecycle(rt):
    bundle = rt.bundle(["sleep", "300"], lambda c: c.update(hostname="life"))
    cid = rt.new_id()
    assert rt.ctl("k8c", "state", cid).returncode == 1
    pidfile = os.path.join(rt.tmp, "pid")
    r = rt.create("k8c", bundle, cid, "--pid-file", pidfile)
    assert r.returncode == 0, r.stderr
    st = json.loads(rt.ctl("k8c", "state", cid).stdout)
    assert st["status"] == "created" and st["id"] == cid and st["bundle"] == bundle
    assert st["rootfs"] == os.path.join(bundle, "rootfs")
    assert st["ociVersion"] and st["pid"] == int(open(pidfile).read())
    assert rt.create("k8c", bundle, cid).returncode == 1  # already exists
    assert rt.ctl("k8c", "start", cid).returncode == 0
    assert rt.ctl("k8c", "start", cid).returncode == 1  # not created any more
    assert json.loads(rt.ctl("k8c", "state", cid).stdout)["status"] == "running"
    listing = json.loads(rt.ctl("k8c", "list", "--format", "json").stdout)
    assert [c["id"] for c in listing] == [cid]
    ps = json.loads(rt.ctl("k8c", "ps", "--format", "json", cid).stdout)
    assert st["pid"] in ps
    ev = json.loads(rt.ctl("k8c", "events", "--stats", cid).stdout)
    assert ev["id"] == cid and ev["data"]["pids"]["current"] == 1, ev
    assert ev["data"]["cpu"]["usage"]["total"] > 0, ev
    assert 0 < ev["data"]["memory"]["workingSet"] <= ev["data"]["memory"]["usage"]["usage"]
    r = rt.ctl("k8c", "exec", cid, "sh", "-c", "hostname; echo $$; exit 7")
    assert r.returncode == 7 and r.stdout.split()[0] == "life", r
    assert rt.ctl("k8c", "pause", cid).returncode == 0
    assert json.loads(rt.ctl("k8c", "state", cid).stdout)["status"] == "paused"
    assert rt.ctl("k8c", "resume", cid).returncode == 0
    assert json.loads(rt.ctl("k8c", "state", cid).stdout)["status"] == "running"
    assert rt.ctl("k8c", "delete", cid).returncode == 1  # running, no --force
    assert rt.ctl("k8c", "kill", cid, "KILL").returncode == 0
    deadline = time.monotonic() + 10
    while json.loads(rt.ctl("k8c", "state", cid).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
    assert rt.ctl("k8c", "delete", cid).returncode == 0
    assert rt.ctl("k8c", "state", cid).returncode == 1
    assert cgroup_gone(cid)


def test_delete_force_and_exit_codes(rt):
    bundle = rt.bundle(["sleep", "300"])
    cid = rt.new_id()
    r = subprocess.run(rt.cmd("k8c", "run", "--detach", "--bundle", bundle, cid),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
    rt.started.append(("k8c", cid))
    assert r.returncode == 0, r.stderr
    assert rt.ctl("k8c", "delete", "--force", cid).returncode == 0
    assert cgroup_gone(cid)
    assert rt.ctl("k8c", "kill", cid).returncode == 1
    assert rt.ctl("k8c", "bogus-verb").returncode == 2
    assert rt.ctl("k8c", "kill", "--bogus", cid).returncode == 2
    r = rt.run("k8c", rt.bundle(["sh", "-c", "exit 42"]))
    assert r.returncode == 42


def test_terminal_console_socket(rt):
    bundle = rt.bundle(["sh", "-c", "tty; echo hello"],
                       lambda c: c["process"].update(terminal=True))
    sock_path = os.path.join(rt.tmp, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    srv.settimeout(20)
    cid = rt.new_id()
    try:
        r = rt.create("k8c", bundle, cid, "--console-socket", sock_path)
        assert r.returncode == 0, r.stderr
        conn, _ = srv.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        conn.close()
        assert len(fds) == 1
        master = fds[0]
        assert rt.ctl("k8c", "start", cid).returncode == 0
        out = b""
        deadline = time.monotonic() + 10
        while b"hello" not in out and time.monotonic() < deadline:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        assert b"/dev/pts/0" in out and b"hello" in out, out
    finally:
        srv.close()


def test_terminal_in_the_foreground(rt):
    # without --console-socket, `run` and `exec --tty` hold the pty master themselves
    bundle = rt.bundle(["sh", "-c", "tty; echo fg-hello; exit 3"],
                       lambda c: c["process"].update(terminal=True))
    r = rt.run("k8c", bundle)
    assert r.returncode == 3, r.stderr
    assert "/dev/pts/0" in r.stdout and "fg-hello" in r.stdout, r.stdout
    holder = rt.bundle(["sleep", "300"])
    cid = rt.new_id()
    assert rt.create("k8c", holder, cid).returncode == 0
    assert rt.ctl("k8c", "start", cid).returncode == 0
    r = rt.ctl("k8c", "exec", "--tty", cid, "sh", "-c", "tty; echo exec-hello")
    assert r.returncode == 0, r.stderr
    assert "/dev/pts/0" in r.stdout and "exec-hello" in r.stdout, r.stdout
    r = rt.ctl("k8c", "run", "--detach", "--bundle", bundle, rt.new_id())
    assert r.returncode == 1 and "console-socket" in r.stderr


def test_limits_sysctl_oom_score_cgroupns_match(rt):
    def mutate(cfg):
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
                                     {"type": "RLIMIT_NPROC", "soft": 100, "hard": 100}]
        cfg["process"]["oomScoreAdj"] = 321
        cfg["linux"]["sysctl"] = {"kernel.shm_rmid_forced": "1",
                                  "net.ipv4.ip_unprivileged_port_start": "80"}
        cfg["linux"]["namespaces"].append({"type": "cgroup"})
        cfg["linux"]["resources"]["cpu"] = {"shares": 256, "quota": 20000, "period": 100000}
        cfg["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    script = ("ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/oom_score_adj; "
              "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_unprivileged_port_start; "
              "cat /proc/self/cgroup | grep -E ':(memory|pids|cpu):'; "
              "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
              "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    outs = run_all(rt, rt.bundle(["sh", "-c", script], mutate))
    assert_same(outs)
    lines = outs["k8c"].split("\n")
    assert lines[:6] == ["512", "2048", "100", "321", "1", "80"], lines
    assert "4:memory:/" in outs["k8c"]  # the cgroup namespace hides the host path
    assert lines[-4:-1] == ["256", "20000", str(64 << 20)], lines


def test_exec_process_file_kill_all_list_quiet(rt):
    bundle = rt.bundle(["sleep", "300"])
    cid = rt.new_id()
    assert rt.create("k8c", bundle, cid).returncode == 0
    assert rt.ctl("k8c", "start", cid).returncode == 0
    proc = os.path.join(rt.tmp, "process.json")
    with open(proc, "w") as f:
        json.dump({"args": ["sh", "-c", "id -u; echo $FOO; pwd"], "env": ["FOO=bar"],
                   "cwd": "/tmp", "user": {"uid": 5, "gid": 6}}, f)
    r = rt.ctl("k8c", "exec", "--process", proc, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["5", "bar", "/tmp"]
    r = rt.ctl("k8c", "exec", "--user", "7:8", "--env", "X=1", "--cwd", "/dev", cid,
               "sh", "-c", "id -u; id -g; echo $X; pwd")
    assert r.stdout.split() == ["7", "8", "1", "/dev"], r
    # a detached exec'd process is in the container's cgroup too
    r = subprocess.run(rt.cmd("k8c", "exec", "--detach", cid, "sleep", "300"),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
    assert r.returncode == 0
    assert len(json.loads(rt.ctl("k8c", "ps", "--format", "json", cid).stdout)) == 2
    assert rt.ctl("k8c", "list", "--quiet").stdout.split() == [cid]
    assert rt.ctl("k8c", "kill", "--all", cid, "SIGKILL").returncode == 0
    deadline = time.monotonic() + 10
    while json.loads(rt.ctl("k8c", "state", cid).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
    assert rt.ctl("k8c", "delete", cid).returncode == 0
    assert cgroup_gone(cid)


def test_no_pivot_matches_runc(rt):
    # --no-pivot takes the path ramfs roots need (MS_MOVE + chroot instead of pivot_root)
    script = (f"id; {STATUS}; awk '{{print $5}}' /proc/self/mountinfo | "
              "grep -v '^/sys/fs/cgroup' | sort | tail -5; ls /; touch /x 2>/dev/null; echo $?")
    bundle = rt.bundle(["sh", "-c", script])
    outs = {}
    for name in [n for n in peers() if n != "crun"]:
        cid = rt.new_id()
        rt.started.append((name, cid))
        r = subprocess.run(rt.cmd(name, "run", "--no-pivot", "--bundle", bundle, cid),
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, (name, r.stderr)
        outs[name] = r.stdout
    assert_same(outs)
    assert "bin" in outs["k8c"] and outs["k8c"].rstrip().endswith("1")


def test_bind_mount_propagation(rt):
    # a shared mount of our own (the host's / is private here) bound in twice
    shared = os.path.join(rt.tmp, "shared")
    os.makedirs(os.path.join(shared, "sub"))
    subprocess.run(["mount", "--bind", shared, shared], check=True)
    subprocess.run(["mount", "--make-shared", shared], check=True)

    def mutate(cfg):
        cfg["mounts"].append({"destination": "/slave", "type": "bind", "source": shared,
                              "options": ["rbind", "rslave", "ro"]})
        cfg["mounts"].append({"destination": "/private", "type": "bind", "source": shared,
                              "options": ["rbind", "rprivate"]})
    bundle = rt.bundle(["sleep", "300"], mutate)
    for name in [n for n in peers() if n != "crun"]:
        cid = rt.new_id()
        assert rt.create(name, bundle, cid).returncode == 0, name
        assert rt.ctl(name, "start", cid).returncode == 0
        # a mount made on the host after the start reaches the rslave bind only
        sub = os.path.join(shared, "sub")
        subprocess.run(["mount", "-t", "tmpfs", "k8ce2e", sub], check=True)
        try:
            r = rt.ctl(name, "exec", cid, "sh", "-c",
                       "awk '{print $5}' /proc/self/mountinfo | grep -E '^/(slave|private)'; "
                       "touch /slave/x 2>/dev/null; echo ro=$?")
        finally:
            subprocess.run(["umount", sub], check=True)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.split()
        assert "/slave/sub" in lines and "/private/sub" not in lines, (name, lines)
        assert "ro=1" in lines, (name, lines)
        assert rt.ctl(name, "delete", "--force", cid).returncode == 0


def test_user_namespace_with_joined_network(rt):
    holder = rt.new_id()
    assert rt.create("k8c", rt.bundle(["sleep", "300"]), holder).returncode == 0
    pid = json.loads(rt.ctl("k8c", "state", holder).stdout)["pid"]
    netns = f"/proc/{pid}/ns/net"

    def mutate(cfg):
        cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"]
                                      if ns["type"] != "network"]
        cfg["linux"]["namespaces"] += [{"type": "network", "path": netns}, {"type": "user"}]
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    script = "readlink /proc/self/ns/net; cat /proc/self/uid_map; id"
    bundle = rt.bundle(["sh", "-c", script], mutate)
    # runc 1.1 refuses this bundle (sysfs cannot be mounted for a network namespace the
    # new user namespace does not own); k8c, like crun, binds the host's /sys instead
    outs = {}
    for name in [n for n in peers() if n != "runc"]:
        r = rt.run(name, bundle)
        assert r.returncode == 0, (name, r.stderr)
        outs[name] = r.stdout
    assert_same(outs)
    assert os.readlink(netns) in outs["k8c"] and "300000" in outs["k8c"]
    assert "uid=0(root)" in outs["k8c"]


def test_preserve_fds(rt):
    bundle = rt.bundle(["sh", "-c", "ls /proc/self/fd | tr '\\n' ' '; read x <&3; echo $x"])
    cid = rt.new_id()
    rt.started.append(("k8c", cid))
    cmd = " ".join(rt.cmd("k8c", "run", "--preserve-fds", "1", "--bundle", bundle, cid))
    secret = os.path.join(rt.tmp, "secret")
    with open(secret, "w") as f:
        f.write("passed-in\n")
    r = subprocess.run(["sh", "-c", f"exec 3<{secret} 4<{secret}; exec {cmd}"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    # 3 is kept, 4 is not (ls's own directory descriptor takes 4)
    assert r.stdout.split() == ["0", "1", "2", "3", "4", "passed-in"], r.stdout


def test_hooks(rt):
    log = os.path.join(rt.tmp, "hooks.log")
    hook = os.path.join(rt.tmp, "hook.sh")
    with open(hook, "w") as f:
        # the state arrives on stdin; record the hook's name, the status and its pid ns
        f.write("#!/bin/sh\nstate=$(cat)\n"
                "status=$(echo \"$state\" | sed 's/.*\"status\": *\"\\([a-z]*\\)\".*/\\1/')\n"
                f"echo \"$1 $status $(readlink /proc/self/ns/pid)\" >> {log}\n")
    os.chmod(hook, 0o755)

    def mutate(cfg):
        cfg["hooks"] = {kind: [{"path": hook, "args": ["hook.sh", kind]}]
                        for kind in ("prestart", "createRuntime", "createContainer",
                                     "poststart", "poststop")}
    bundle = rt.bundle(["true"], mutate)
    cid = rt.new_id()
    assert rt.create("k8c", bundle, cid).returncode == 0
    assert rt.ctl("k8c", "start", cid).returncode == 0
    deadline = time.monotonic() + 10
    while json.loads(rt.ctl("k8c", "state", cid).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
    assert rt.ctl("k8c", "delete", cid).returncode == 0
    with open(log) as f:
        lines = [line.split() for line in f]
    assert [line[0] for line in lines] == ["prestart", "createRuntime", "createContainer",
                                           "poststart", "poststop"], lines
    assert [line[1] for line in lines] == ["creating", "creating", "creating", "running",
                                           "stopped"], lines
    host_pidns = os.readlink("/proc/self/ns/pid")
    assert lines[1][2] == host_pidns  # createRuntime: the runtime's namespaces
    assert lines[2][2] != host_pidns  # createContainer: the container's

    # startContainer runs in the container (its path resolved there), right before the
    # program: what it leaves in the container's /dev/shm the program sees
    def start_hook(cfg):
        cfg["hooks"] = {"startContainer": [{"path": "/bin/sh",
                                            "args": ["sh", "-c", "cat > /dev/shm/state"]}]}
    r = rt.run("k8c", rt.bundle(["cat", "/dev/shm/state"], start_hook))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "creating"

    # a failing createRuntime hook fails create and leaves nothing behind
    def failing(cfg):
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    bad = rt.bundle(["true"], failing)
    cid = rt.new_id()
    r = rt.create("k8c", bad, cid)
    assert r.returncode == 1 and "hooks.createRuntime[0]" in r.stderr, r.stderr
    assert leftovers(rt, cid, bad) == []
