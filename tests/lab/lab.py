"""The network lab: an N-node "cluster" of network namespaces on one machine (issue 10).

A lab network namespace holds a bridge (br0); each node is its own network namespace joined
to that bridge by a veth pair (eth0 in the node) with an address from a lab-only subnet.
Nothing in the lab has a route to the real network, and the host's own namespaces are never
touched: every link, address and route is made inside namespaces this lab created. All names
carry a prefix unique to the run (pid + random), so concurrent runs never collide, and
teardown() removes everything (processes it started, then namespaces), even after a failure.

Use from pytest (tests/e2e/test_net*.py) or by hand:
    python3 tests/lab/lab.py up 2      # prints the names; `down PREFIX` removes them
Stdlib only; shells out to `ip` (iproute2) as a test tool, never from k8c itself.
"""
import os
import secrets
import signal
import subprocess
import sys

LAB_SUBNET = "172.31.254"  # node addresses LAB_SUBNET.(10+i)/24, only inside the lab
NETNS_DIR = "/run/netns"


def die_with_parent():
    """preexec_fn for the lab's processes: SIGKILL when the test process that started them
    dies (PR_SET_PDEATHSIG survives exec), so a killed pytest, which never reaches teardown,
    leaves no server, agent or pod running."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30,
                          check=check)


def reap_stale():
    """Deletes namespaces of labs whose process is gone (a run killed before its teardown).
    Labs of live processes are left alone, so concurrent runs never disturb each other."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) < 4 or parts[0] != "k8cnet" or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            _ip("netns", "del", name, check=False)
        except PermissionError:
            pass


class Lab:
    def __init__(self, nodes=2):
        reap_stale()
        self.prefix = f"k8cnet-{os.getpid()}-{secrets.token_hex(3)}"
        self.lab_ns = f"{self.prefix}-lab"
        self.nodes = [f"{self.prefix}-n{i}" for i in range(1, nodes + 1)]
        self.namespaces = []  # every namespace made, for teardown (in creation order)
        self.procs = []       # background processes started in the lab
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise

    def _add_ns(self, name):
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _build(self):
        self._add_ns(self.lab_ns)
        _ip("-n", self.lab_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.lab_ns, "link", "set", "br0", "up")
        for i, node in enumerate(self.nodes, start=1):
            self._add_ns(node)
            port = f"n{i}"
            _ip("-n", self.lab_ns, "link", "add", port, "type", "veth", "peer", "name",
                "eth0", "netns", node)
            _ip("-n", self.lab_ns, "link", "set", port, "master", "br0", "up")
            _ip("-n", node, "addr", "add", f"{self.node_ip(i)}/24", "dev", "eth0")
            _ip("-n", node, "link", "set", "eth0", "up")

    def node_ip(self, i):
        """The lab address of node i (1-based)."""
        return f"{LAB_SUBNET}.{10 + i}"

    def add_netns(self, suffix):
        """A further namespace (a pod's), torn down with the lab; returns its nsfs path."""
        name = f"{self.prefix}-{suffix}"
        self._add_ns(name)
        return os.path.join(NETNS_DIR, name)

    def exec_argv(self, ns, argv):
        """argv run inside namespace ns (a name made by this lab, or a /run/netns path)."""
        return ["ip", "netns", "exec", os.path.basename(ns), *argv]

    def run(self, ns, *argv, timeout=30):
        return subprocess.run(self.exec_argv(ns, argv), capture_output=True, text=True,
                              timeout=timeout)

    def spawn(self, ns, *argv):
        """A background process in ns, killed (its process group) at teardown."""
        p = subprocess.Popen(self.exec_argv(ns, argv), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=die_with_parent)
        self.procs.append(p)
        return p

    def teardown(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait(timeout=30)
        self.procs = []
        for name in reversed(self.namespaces):
            _ip("netns", "del", name, check=False)
        self.namespaces = []

    def leftovers(self):
        """Namespaces of this lab still present (empty after a clean teardown)."""
        try:
            return [n for n in os.listdir(NETNS_DIR) if n.startswith(self.prefix + "-")]
        except FileNotFoundError:
            return []


def _main(argv):
    if len(argv) == 3 and argv[1] == "up":
        lab = Lab(int(argv[2]))
        print(lab.prefix)
        for i, n in enumerate(lab.nodes, start=1):
            print(n, lab.node_ip(i))
        return 0
    if len(argv) == 3 and argv[1] == "down" and argv[2].startswith("k8cnet-"):
        for n in os.listdir(NETNS_DIR) if os.path.isdir(NETNS_DIR) else []:
            if n.startswith(argv[2] + "-"):
                _ip("netns", "del", n, check=False)
        return 0
    print("usage: lab.py up N | down PREFIX", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
