"""The agent's end-to-end scenarios. Not collected by itself: tests/e2e/test_agent.py runs this
file with pytest inside private network, mount and PID namespaces (`unshare --net --mount
--pid --fork`), so the API server, scheduler, agent and the containers never touch the host's
network, every mount dies with the namespace and no process outlives it."""
import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import K8C, KUBECTL, start_apiserver, stop_apiserver
from test_image import Layout, busybox_layer
from test_scheduler import Cluster, _stop, wait_for

NODE = "agent-e2e"


@contextlib.contextmanager
def running_cluster(*agent_args, extra_layers=()):
    """Server, scheduler and agent (extra agent_args) with example.org/busybox:1.0 imported
    (extra_layers on top of busybox's)."""
    if os.environ.get("K8C_AGENT_INNER") != "1":
        pytest.skip("run through tests/e2e/test_agent.py (needs private namespaces)")
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip("kubectl is not installed")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    srv = start_apiserver()
    c = Cluster(srv)
    agent_dir = tempfile.mkdtemp(prefix="k8c-e2e-agent-")
    c.agent_dir = agent_dir
    try:
        lay_dir = os.path.join(agent_dir, "layout")
        lay = Layout(lay_dir)
        lay.tag(lay.image([busybox_layer(), *extra_layers],
                          cmd=("/bin/sh", "-c", "echo hello; sleep 1000")),
                "example.org/busybox:1.0")
        r = subprocess.run([K8C, "image", "--data-dir", agent_dir, "import", lay_dir],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        c.spawn("scheduler", "scheduler", "--kubeconfig", srv.kubeconfig)
        c.spawn("agent", "agent", "--kubeconfig", srv.kubeconfig, "--node-name", NODE,
                "--data-dir", agent_dir, "--port", "0",
                "--runtime", os.environ.get("K8C_AGENT_RUNTIME", "builtin"), *agent_args)
        wait_for(lambda: "ready" in c.log("agent"), what="agent ready")
        yield c
    finally:
        problems = []
        for name, p in c.procs:
            problem = _stop(p, c.log(name))
            if problem:
                problems.append(f"k8c {name} {problem}:\n{c.log(name)[-4000:]}")
        if os.environ.get("K8C_AGENT_KEEP_LOG") and os.path.exists(
                os.path.join(srv.data_dir, "agent.log")):
            print(c.log("agent")[-20000:])
        stop_apiserver(srv)
        shutil.rmtree(agent_dir, ignore_errors=True)
        assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def cluster():
    with running_cluster() as c:
        yield c


def pod_body(name, command=None, restart="Always", **extra):
    ctr = {"name": "main", "image": "example.org/busybox:1.0", "imagePullPolicy": "Never"}
    if command:
        ctr["command"] = command
    ctr.update(extra)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [ctr], "restartPolicy": restart,
                     "terminationGracePeriodSeconds": 5}}


UIDS = []  # the pods created here, for the runner's cgroup check (see record_uids)


@pytest.fixture(scope="module", autouse=True)
def record_uids():
    """Tells the runner (test_agent.py) which pods' cgroups to look for afterwards: cgroups
    are not namespaced and other agents on this machine make and remove their own."""
    yield
    path = os.environ.get("K8C_AGENT_UIDS_FILE")
    if path:
        with open(path, "w") as f:
            f.write("\n".join(UIDS))


def create(c, body):
    r = c.kubectl("create", "-f", "-", input=json.dumps(body))
    UIDS.append(c.pod(body["metadata"]["name"])["metadata"]["uid"])
    return r


def phase(c, name):
    p = c.pod(name)
    return p and p.get("status", {}).get("phase")


def cond(c, name, typ):
    p = c.pod(name) or {}
    for x in p.get("status", {}).get("conditions", []):
        if x["type"] == typ:
            return x["status"]
    return None


def test_node_registered_with_machine_capacity(cluster):
    st, node = cluster.srv.json("GET", f"/api/v1/nodes/{NODE}")
    assert st == 200
    cap = node["status"]["capacity"]
    assert int(cap["cpu"]) == os.cpu_count()
    assert cap["memory"].endswith("Ki") and int(cap["memory"][:-2]) > 0
    assert cap["pods"] == "110" and int(cap["ephemeral-storage"]) > 0
    ready = [x for x in node["status"]["conditions"] if x["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert node["status"]["nodeInfo"]["kernelVersion"] == os.uname().release
    st, lease = cluster.srv.json(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}")
    assert st == 200 and lease["spec"]["holderIdentity"] == NODE


def test_pod_runs_logs_exec_and_delete_cleans_up(cluster):
    c = cluster
    create(c, pod_body("web"))
    wait_for(lambda: cond(c, "web", "Ready") == "True", timeout=60, what="web Ready")
    p = c.pod("web")
    assert p["spec"]["nodeName"] == NODE and p["status"]["phase"] == "Running"
    cs = p["status"]["containerStatuses"][0]
    assert "running" in cs["state"] and cs["restartCount"] == 0
    assert cs["imageID"].startswith("sha256:") and cs["containerID"].startswith("k8c://")
    wait_for(lambda: c.kubectl("logs", "web", check=False).stdout == "hello\n",
             what="kubectl logs")
    r = c.kubectl("logs", "web", "--timestamps")
    assert r.stdout.split(" ", 1)[1] == "hello\n" and r.stdout[:4].isdigit()
    r = c.kubectl("exec", "web", "--", "sh", "-c", "echo out; echo err >&2; hostname")
    assert r.stdout == "out\nweb\n" and "err" in r.stderr
    r = c.kubectl("exec", "web", "--", "sh", "-c", "exit 3", check=False)
    assert r.returncode == 3, (r.returncode, r.stderr)
    r = c.kubectl("exec", "-i", "web", "--", "busybox", "tr", "a-z", "A-Z", input="abc\nxyz\n")
    assert r.stdout == "ABC\nXYZ\n", (r.stdout, r.stderr)
    # the pod has its own network namespace with loopback only
    r = c.kubectl("exec", "web", "--", "busybox", "cat", "/proc/net/dev")
    assert "lo:" in r.stdout and "eth0" not in r.stdout
    reasons = [e["reason"] for e in c.events("web")]
    for want in ("Pulled", "Created", "Started"):
        assert want in reasons, reasons
    uid = p["metadata"]["uid"]
    pod_dir = os.path.join(c.agent_dir, "pods", uid)
    assert os.path.isdir(pod_dir)
    c.kubectl("delete", "pod", "web", "--wait=false")
    wait_for(lambda: c.pod("web") is None, timeout=30, what="web gone from the API")
    assert "Killing" in [e["reason"] for e in c.events("web")]
    assert not os.path.exists(pod_dir)
    with open("/proc/self/mountinfo") as f:
        assert uid not in f.read()
    # placed by QoS class: k8c/kubepods[/burstable|/besteffort]/pod<uid>
    leftovers = glob.glob(f"/sys/fs/cgroup/*/k8c/**/pod{uid}", recursive=True) + \
        glob.glob(f"/sys/fs/cgroup/k8c/**/pod{uid}", recursive=True)
    assert not [x for x in leftovers if is_cgroup(x)], leftovers


def is_cgroup(path):
    """Whether path is on a cgroup filesystem (under crun the runner covers cgroup2's
    unified/ with a tmpfs that collects crun's directories: not cgroups, gone with the
    namespace; see test_agent._crun_prelude)."""
    r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return r.returncode != 0 or r.stdout.strip() != "tmpfs"


def test_restart_never_pod_succeeds(cluster):
    c = cluster
    create(c, pod_body("job", ["sh", "-c", "echo done"], restart="Never"))
    wait_for(lambda: phase(c, "job") == "Succeeded", timeout=60, what="job Succeeded")
    term = c.pod("job")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert c.kubectl("logs", "job").stdout == "done\n"
    c.kubectl("delete", "pod", "job", "--wait=false")
    wait_for(lambda: c.pod("job") is None, what="job deleted")


def test_failing_never_pod_fails_and_crashing_pod_restarts(cluster):
    c = cluster
    create(c, pod_body("fail", ["sh", "-c", "exit 7"], restart="Never"))
    create(c, pod_body("crash", ["sh", "-c", "echo boom; exit 1"]))
    wait_for(lambda: phase(c, "fail") == "Failed", timeout=60, what="fail Failed")
    assert c.pod("fail")["status"]["containerStatuses"][0]["state"]["terminated"][
        "exitCode"] == 7

    def restarted():
        cs = (c.pod("crash") or {}).get("status", {}).get("containerStatuses") or [{}]
        return cs[0].get("restartCount", 0) >= 1 and cs[0]
    wait_for(restarted, timeout=60, what="crash restarted")

    def backing_off():
        cs = c.pod("crash")["status"]["containerStatuses"][0]
        return cs["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff" and cs
    cs = wait_for(backing_off, timeout=60, what="CrashLoopBackOff")
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert "BackOff" in [e["reason"] for e in c.events("crash")]
    assert c.kubectl("logs", "crash", "--previous", check=False).stdout in ("boom\n", "")
    c.kubectl("delete", "pod", "fail", "crash", "--wait=false")
    wait_for(lambda: c.pod("fail") is None and c.pod("crash") is None, timeout=30,
             what="pods deleted")


def _procs():
    """{pid: (ppid, argv, cgroup text)} of this PID namespace's processes."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cgroup") as f:
                out[int(pid)] = (ppid, argv, f.read())
        except (OSError, ValueError):
            pass
    return out


def test_container_is_the_shims_child_and_start_failures_are_exits(cluster):
    c = cluster
    builtin = os.environ.get("K8C_AGENT_RUNTIME", "builtin") == "builtin"
    create(c, pod_body("kid", ["/bin/busybox", "sleep", "1000"]))
    create(c, pod_body("nocmd", ["no-such-program"], restart="Never"))
    wait_for(lambda: cond(c, "kid", "Ready") == "True", timeout=60, what="kid Ready")
    uid = c.pod("kid")["metadata"]["uid"]
    procs = _procs()
    mine = [p for p, (_, argv, cg) in procs.items()
            if f"pod{uid}" in cg and argv[:2] == [b"/bin/busybox", b"sleep"]]
    assert len(mine) == 1, procs
    parent = procs[procs[mine[0]][0]][1]
    if builtin:
        # the static shim created the container and is its parent; no runtime process was
        # left behind for it (nor for any other container)
        assert parent[0].endswith(b"/k8c-shim") and parent[1] == b"shim", parent
        assert not [a for _, a, _ in procs.values() if len(a) > 1 and a[1] == b"runtime"]
    else:
        # runc's or crun's `run`, under the shim
        runtime = os.environ["K8C_AGENT_RUNTIME"].encode()
        assert parent[0].endswith(b"/" + runtime) and b"run" in parent, parent
    # a container that cannot start ends with a failure status, the runtime's reason logged
    wait_for(lambda: phase(c, "nocmd") == "Failed", timeout=60, what="nocmd Failed")
    term = c.pod("nocmd")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] != 0, term
    if builtin:
        assert term["exitCode"] == 1, term
        log = c.kubectl("logs", "nocmd").stdout
        assert "k8c: runtime:" in log and "no-such-program" in log, log
    c.kubectl("delete", "pod", "kid", "nocmd", "--wait=false")
    wait_for(lambda: c.pod("kid") is None and c.pod("nocmd") is None, timeout=30,
             what="pods deleted")
    # the shim removed the runtime's state of the exited container; the agent the other
    assert not [p for p, (_, _, cg) in _procs().items() if f"pod{uid}" in cg]


def test_missing_image_reports_err_image_pull(cluster):
    c = cluster
    body = pod_body("noimg")
    body["spec"]["containers"][0]["image"] = "example.org/absent:1"
    create(c, body)

    def waiting():
        cs = (c.pod("noimg") or {}).get("status", {}).get("containerStatuses") or [{}]
        r = cs[0].get("state", {}).get("waiting", {}).get("reason")
        return r in ("ErrImagePull", "ImagePullBackOff") and r
    wait_for(waiting, timeout=60, what="ErrImagePull")
    c.kubectl("delete", "pod", "noimg", "--wait=false")
    wait_for(lambda: c.pod("noimg") is None, what="noimg deleted")


def test_pod_bound_past_the_nodes_capacity_is_rejected_as_kubelet_does(cluster):
    """A pod bound to the node by its author (no scheduler) that asks for more cpu than the
    node has: never started, Failed with reason OutOfcpu, kubelet's message and a Warning
    Event; the agent goes on serving other pods."""
    c = cluster
    body = pod_body("toobig", resources={"requests": {"cpu": "1000"}})
    body["spec"]["nodeName"] = NODE
    create(c, body)
    wait_for(lambda: phase(c, "toobig") == "Failed", what="toobig Failed", timeout=30)
    st = c.pod("toobig")["status"]
    assert st["reason"] == "OutOfcpu", st
    assert re.fullmatch(r"Pod was rejected: Node didn't have enough resource: cpu, requested: "
                        rf"1000000, used: \d+, capacity: {os.cpu_count() * 1000}",
                        st["message"]), st
    assert not st.get("containerStatuses") and not st.get("startTime"), st
    wait_for(lambda: "toobig" in c.kubectl("get", "events", "--field-selector",
                                           "reason=OutOfcpu,type=Warning").stdout,
             what="OutOfcpu Event", timeout=15)
    assert c.kubectl("get", "pod", "toobig").stdout.split("\n")[1].split()[2] == "OutOfcpu"
    c.kubectl("delete", "pod", "toobig", "--wait=false")
    wait_for(lambda: c.pod("toobig") is None, what="toobig deleted")


def test_init_containers_in_order_env_from_configmap_and_follow_logs(cluster):
    c = cluster
    c.kubectl("create", "configmap", "agent-cm", "--from-literal=greeting=hi-from-cm")
    body = pod_body("seq", ["sh", "-c", "echo main $GREETING $LIT"],
                    restart="Never",
                    env=[{"name": "LIT", "value": "literal"},
                         {"name": "GREETING", "valueFrom": {"configMapKeyRef": {
                             "name": "agent-cm", "key": "greeting"}}}])
    inits = []
    for i in (1, 2):
        inits.append({"name": f"init{i}", "image": "example.org/busybox:1.0",
                      "imagePullPolicy": "Never", "command": ["sh", "-c", f"echo init{i}"]})
    body["spec"]["initContainers"] = inits
    create(c, body)
    wait_for(lambda: phase(c, "seq") == "Succeeded", timeout=60, what="seq Succeeded")
    assert c.kubectl("logs", "seq", "-c", "main").stdout == "main hi-from-cm literal\n"
    p = c.pod("seq")
    ics = p["status"]["initContainerStatuses"]
    assert [x["name"] for x in ics] == ["init1", "init2"]
    assert all(x["state"]["terminated"]["exitCode"] == 0 for x in ics)
    t1 = ics[0]["state"]["terminated"]["finishedAt"]
    t2 = ics[1]["state"]["terminated"]["startedAt"]
    assert t1 <= t2
    assert cond(c, "seq", "Initialized") == "True"
    assert c.kubectl("logs", "seq", "-c", "init2").stdout == "init2\n"
    c.kubectl("delete", "pod", "seq", "--wait=false")
    wait_for(lambda: c.pod("seq") is None, what="seq deleted")


def test_missing_configmap_key_is_create_container_config_error(cluster):
    c = cluster
    body = pod_body("nocm", env=[{"name": "X", "valueFrom": {"configMapKeyRef": {
        "name": "absent-cm", "key": "k"}}}])
    create(c, body)

    def waiting():
        cs = (c.pod("nocm") or {}).get("status", {}).get("containerStatuses") or [{}]
        w = cs[0].get("state", {}).get("waiting", {})
        return w.get("reason") == "CreateContainerConfigError" and w
    w = wait_for(waiting, timeout=60, what="CreateContainerConfigError")
    assert "absent-cm" in w["message"]
    c.kubectl("delete", "pod", "nocm", "--wait=false")
    wait_for(lambda: c.pod("nocm") is None, what="nocm deleted")


def test_follow_logs_end_when_the_container_exits(cluster):
    c = cluster
    create(c, pod_body("tick", ["sh", "-c", "echo a; sleep 2; echo b"], restart="Never"))
    wait_for(lambda: phase(c, "tick") in ("Running", "Succeeded"), timeout=60, what="tick runs")
    r = c.srv.kubectl("logs", "-f", "tick", timeout=60)
    assert r.returncode == 0 and r.stdout == "a\nb\n", (r.stdout, r.stderr)
    assert c.kubectl("logs", "tick", "--tail=1").stdout == "b\n"
    c.kubectl("delete", "pod", "tick", "--wait=false")
    wait_for(lambda: c.pod("tick") is None, what="tick deleted")


def counting_pod(c, name, script, **extra):
    """A pod whose container appends a line to <agent dir>/starts/<name> at each start (a
    hostPath), then runs script: the file counts the starts, whichever agent made them."""
    body = pod_body(name, ["sh", "-c", f"echo start >> /starts/{name}; {script}"], **extra)
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "starts", "mountPath": "/starts"}]
    body["spec"]["volumes"] = [{"name": "starts", "hostPath": {
        "path": os.path.join(c.agent_dir, "starts"), "type": "DirectoryOrCreate"}}]
    return body


def ctr_status(c, name):
    return ((c.pod(name) or {}).get("status", {}).get("containerStatuses") or [{}])[0]


def test_agent_killed_and_restarted_adopts_running_containers(cluster):
    c = cluster
    starts = os.path.join(c.agent_dir, "starts")
    create(c, pod_body("keep"))
    create(c, pod_body("orphan"))
    # ran once, left a termination message and exit 3, runs for good the second time
    create(c, counting_pod(c, "crashy", "if [ $(wc -l < /starts/crashy) = 1 ]; then "
                                     "echo first-run-bye > /dev/termination-log; exit 3; fi; "
                                     "exec sleep 1000"))
    # the startup probe passes once only: run again after the agent's restart, it would fail
    # three times and have the container killed
    create(c, counting_pod(
        c, "once", "touch /tmp/ready; exec sleep 1000",
        startupProbe={"exec": {"command": ["sh", "-c", "test ! -f /tmp/used && test -f "
                                           "/tmp/ready && touch /tmp/used"]},
                      "periodSeconds": 1, "failureThreshold": 3},
        readinessProbe={"exec": {"command": ["sh", "-c", "exit 0"]}, "periodSeconds": 1}))
    for name in ("keep", "orphan", "once"):
        wait_for(lambda: cond(c, name, "Ready") == "True", timeout=60, what=f"{name} Ready")
    wait_for(lambda: ctr_status(c, "crashy").get("restartCount") == 1 and cond(
        c, "crashy", "Ready") == "True", timeout=60, what="crashy restarted once and Ready")
    orphan_dir = os.path.join(c.agent_dir, "pods", c.pod("orphan")["metadata"]["uid"])
    before = c.pod("keep")["status"]["containerStatuses"][0]
    crashy, once = ctr_status(c, "crashy"), ctr_status(c, "once")
    assert crashy["lastState"]["terminated"]["message"] == "first-run-bye\n", crashy
    assert once["started"] is True and once["ready"] is True, once
    create(c, counting_pod(c, "late", "exec sleep 1000"))  # the agent is busy with it ...
    idx = next(i for i, (n, _) in enumerate(c.procs) if n == "agent")
    old = c.procs.pop(idx)[1]
    time.sleep(0.3)
    old.kill()  # ... when it is SIGKILLed: the shims and containers must not notice
    old.wait(timeout=15)
    assert c.kubectl("get", "pod", "keep", "-o", "name").stdout.strip() == "pod/keep"
    # removed from the API while no agent runs: the next agent cleans its containers up
    c.kubectl("delete", "pod", "orphan", "--grace-period=0", "--force")
    assert os.path.isdir(orphan_dir)
    c.spawn("agent", "agent", "--kubeconfig", c.srv.kubeconfig, "--node-name", NODE,
            "--data-dir", c.agent_dir, "--port", "0",
            "--runtime", os.environ.get("K8C_AGENT_RUNTIME", "builtin"))
    wait_for(lambda: "ready" in c.log("agent"), what="agent ready again")
    wait_for(lambda: not os.path.exists(orphan_dir), what="orphan cleaned up")
    with open("/proc/self/mountinfo") as f:
        assert os.path.basename(orphan_dir) not in f.read()
    # exec goes through the new agent (new port in the node's annotation) into the old container
    tries = []

    def exec_alive():
        tries.append(c.kubectl("exec", "keep", "--", "sh", "-c", "echo alive", check=False))
        return tries[-1].stdout == "alive\n"
    try:
        wait_for(exec_alive, timeout=60, what="exec after restart")
    except AssertionError:  # say why: kubectl's last answer and the agent's last words
        raise AssertionError(f"exec after restart, {len(tries)} tries, last: "
                             f"{tries[-1].stderr!r}\nagent log: {c.log('agent')[-3000:]}")
    after = c.pod("keep")["status"]["containerStatuses"][0]
    assert after["restartCount"] == 0 and after["state"] == before["state"]
    assert after["containerID"] == before["containerID"]
    assert c.kubectl("logs", "keep").stdout == "hello\n"
    assert c.kubectl("logs", "keep", "--previous", check=False).returncode != 0
    # what kubelet keeps across its restart: restartCount, lastState with its message, the
    # startup probe's success (not run again: it would fail now); readiness is probed again
    wait_for(lambda: cond(c, "late", "Ready") == "True", timeout=60, what="late Ready")
    wait_for(lambda: cond(c, "once", "Ready") == "True", timeout=30, what="once Ready again")
    time.sleep(4)  # a startup probe run again would have failed 3 times by now
    assert ctr_status(c, "crashy") == crashy
    after_once = ctr_status(c, "once")
    assert after_once["restartCount"] == 0 and after_once["started"] is True, after_once
    assert after_once["containerID"] == once["containerID"]
    assert after_once["state"] == once["state"]
    for name, n in (("crashy", 2), ("once", 1), ("late", 1)):
        with open(os.path.join(starts, name)) as f:
            assert f.read() == "start\n" * n, f"{name} started {n} times"
    c.kubectl("delete", "pod", "keep", "crashy", "once", "late", "--wait=false")
    wait_for(lambda: all(c.pod(x) is None for x in ("keep", "crashy", "once", "late")),
             timeout=30, what="pods deleted")


def test_agent_killed_around_a_container_launch_starts_it_once(cluster):
    """SIGKILL at the two edges of a launch (K8C_TEST_AGENT_KILL_AT, container.c): with the
    start recorded but no shim launched yet ("recorded"), the next agent launches it; with the
    shim launched but nothing else done ("launched"), the next agent adopts it. Either way the
    container starts exactly once and reports no restart."""
    c = cluster
    runtime = os.environ.get("K8C_AGENT_RUNTIME", "builtin")

    def replace_agent(kill_at=None):
        idx = next(i for i, (n, _) in enumerate(c.procs) if n == "agent")
        old = c.procs.pop(idx)[1]
        if old.poll() is None:
            old.kill()
        old.wait(timeout=15)
        if kill_at:
            os.environ["K8C_TEST_AGENT_KILL_AT"] = kill_at
        try:
            p = c.spawn("agent", "agent", "--kubeconfig", c.srv.kubeconfig, "--node-name", NODE,
                        "--data-dir", c.agent_dir, "--port", "0", "--runtime", runtime)
        finally:
            os.environ.pop("K8C_TEST_AGENT_KILL_AT", None)
        wait_for(lambda: "ready" in c.log("agent") or p.poll() is not None, what="agent ready")
        return p

    a = replace_agent("recorded:start-rec")
    create(c, counting_pod(c, "start-rec", "exec sleep 1000"))
    assert a.wait(timeout=30) == -9, c.log("agent")  # killed itself before the launch
    a = replace_agent("launched:start-lau")  # launches start-rec, dies after start-lau's
    create(c, counting_pod(c, "start-lau", "exec sleep 1000"))
    assert a.wait(timeout=30) == -9, c.log("agent")
    replace_agent()
    for name in ("start-rec", "start-lau"):
        wait_for(lambda: cond(c, name, "Ready") == "True", timeout=60, what=f"{name} Ready")
    time.sleep(2)  # a second start would have shown by now
    for name in ("start-rec", "start-lau"):
        with open(os.path.join(c.agent_dir, "starts", name)) as f:
            assert f.read() == "start\n", f"{name} started more than once"
        st = ctr_status(c, name)
        assert st["restartCount"] == 0 and "running" in st["state"], st
    c.kubectl("delete", "pod", "start-rec", "start-lau", "--wait=false")
    wait_for(lambda: all(c.pod(x) is None for x in ("start-rec", "start-lau")), timeout=30,
             what="pods deleted")
