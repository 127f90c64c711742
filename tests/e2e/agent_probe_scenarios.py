"""The agent's probe, hook, termination and OOM scenarios. Not collected by itself:
tests/e2e/test_agent_probes.py runs this file with pytest inside private network, mount and PID
namespaces, like agent_scenarios.py (whose cluster fixture it shares). Every pod is created at
once by the first test so their waits overlap; each later test checks one of them."""
import os
import subprocess
import time

import pytest

from conftest import KUBECTL
from agent_scenarios import cluster, create, cond, phase, pod_body  # noqa: F401 (fixture)
from test_scheduler import wait_for

IMG = "example.org/busybox:1.0"


def ctr(name="main", command=None, **extra):
    c = {"name": name, "image": IMG, "imagePullPolicy": "Never"}
    if command:
        c["command"] = command
    c.update(extra)
    return c


def body(name, containers, restart="Always", grace=5):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": containers, "restartPolicy": restart,
                     "terminationGracePeriodSeconds": grace}}


def sh(script):
    return ["sh", "-c", script]


PODS = {
    # healthy for 2 s, then the liveness probe fails: killed (probe's own 1 s grace), restarted
    "live": body("live", [ctr(command=sh(
        "touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 1000"),
        livenessProbe={"exec": {"command": ["sh", "-c", "busybox cat /tmp/healthy"]},
                       "periodSeconds": 1, "failureThreshold": 2,
                       "terminationGracePeriodSeconds": 1})], grace=30),
    # not ready until /www/ready exists (3 s), served by busybox httpd on a named port
    "ready": body("ready", [ctr(command=sh(
        "mkdir -p /www; busybox httpd -p 8080 -h /www; sleep 3; echo ok > /www/ready; "
        "exec sleep 1000"),
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe={"httpGet": {"path": "/ready", "port": "http",
                                    "httpHeaders": [{"name": "X-Probe", "value": "k8c"}]},
                        "periodSeconds": 1, "failureThreshold": 1})]),
    # the server listens after 3 s: the startup probe holds the liveness probe back until then
    # (the liveness probe alone, failureThreshold 1, would kill the container at once)
    "startup": body("startup", [ctr(command=sh(
        "sleep 3; mkdir -p /www; exec busybox httpd -f -p 8081 -h /www"),
        startupProbe={"tcpSocket": {"port": 8081}, "periodSeconds": 1, "failureThreshold": 30},
        livenessProbe={"tcpSocket": {"port": 8081}, "periodSeconds": 1,
                       "failureThreshold": 1})]),
    # postStart leaves a file; preStop speaks on the container's stdout; SIGTERM is trapped
    "hooks": body("hooks", [ctr(command=sh(
        "trap 'echo got-term; exit 0' TERM; echo running; while true; do sleep 0.2; done"),
        lifecycle={"postStart": {"exec": {"command": sh("echo post > /tmp/post")}},
                   "preStop": {"exec": {"command": sh(
                       "echo prestop > /proc/1/fd/1; sleep 1")}}})], grace=10),
    # SIGTERM ignored: deletion must wait the 3 s grace period, then SIGKILL
    "grace": body("grace", [ctr(command=sh(
        "trap '' TERM; while true; do sleep 0.2; done"))], grace=3),
    # a failing postStart hook kills the container: FailedPostStartHook, then a restart
    "postfail": body("postfail", [ctr(
        lifecycle={"postStart": {"exec": {"command": sh("echo nope; exit 3")}}})], grace=1),
    # 16 MiB of memory, tail wants 200 MiB: the memory cgroup kills it
    "oom": body("oom", [ctr(command=sh("echo start; busybox head -c 200m /dev/zero | busybox tail"),
                            resources={"limits": {"memory": "16Mi"}})]),
    # termination messages: the default file, a custom path, and the log's tail
    "msg": body("msg", [
        ctr("file", sh("echo -n bye > /dev/termination-log; exit 2")),
        ctr("custom", sh("echo -n custom-msg > /tmp/msg"), terminationMessagePath="/tmp/msg"),
        ctr("logs", sh("echo line1; echo oops; exit 1"),
            terminationMessagePolicy="FallbackToLogsOnError")], restart="Never"),
}


def status_of(c, pod, name="main"):
    for cs in ((c.pod(pod) or {}).get("status", {}).get("containerStatuses") or []):
        if cs["name"] == name:
            return cs
    return {}


def events(c, pod, reason):
    return [e["message"] for e in c.events(pod) if e["reason"] == reason]


def test_create_all(cluster):
    for b in PODS.values():
        create(cluster, b)
    # the outer test checks that these pods' cgroups are gone (other agents may run meanwhile)
    with open(os.environ.get("K8C_AGENT_UIDS_FILE", os.devnull), "a") as f:
        for name in PODS:
            f.write(cluster.pod(name)["metadata"]["uid"] + "\n")


def test_readiness_gates_ready(cluster):
    c = cluster
    wait_for(lambda: "running" in status_of(c, "ready").get("state", {}), timeout=60,
             what="ready running")
    cs = status_of(c, "ready")
    # running but not ready yet (unless the probe already passed: 3 s of slack)
    if not cs["ready"]:
        assert cond(c, "ready", "Ready") == "False"
        assert cond(c, "ready", "ContainersReady") == "False"
    wait_for(lambda: cond(c, "ready", "Ready") == "True", timeout=30, what="ready Ready")
    assert status_of(c, "ready")["ready"] is True
    # readiness lost: not restarted, just not ready
    c.kubectl("exec", "ready", "--", "busybox", "rm", "/www/ready")
    wait_for(lambda: cond(c, "ready", "Ready") == "False", timeout=20, what="ready not Ready")
    cs = status_of(c, "ready")
    assert cs["ready"] is False and cs["restartCount"] == 0 and "running" in cs["state"]
    msgs = events(c, "ready", "Unhealthy")
    assert any(m == "Readiness probe failed: HTTP probe failed with statuscode: 404"
               for m in msgs), msgs


def test_failing_liveness_restarts_the_container(cluster):
    c = cluster
    wait_for(lambda: status_of(c, "live").get("restartCount", 0) >= 1, timeout=60,
             what="live restarted")
    msgs = events(c, "live", "Unhealthy")
    assert any(m.startswith("Liveness probe failed: cat: can't open '/tmp/healthy'")
               for m in msgs), msgs
    assert "Container main failed liveness probe, will be restarted" in events(
        c, "live", "Killing")
    cs = status_of(c, "live")
    last = cs["lastState"].get("terminated") or cs["state"].get("terminated") or {}
    assert last.get("exitCode") == 137 and last.get("reason") == "Error", cs


def test_startup_probe_gates_liveness(cluster):
    c = cluster
    wait_for(lambda: cond(c, "startup", "Ready") == "True", timeout=60, what="startup Ready")
    cs = status_of(c, "startup")
    assert cs["started"] is True and cs["restartCount"] == 0, cs
    assert "Killing" not in [e["reason"] for e in c.events("startup")]


def test_post_start_and_pre_stop_hooks(cluster):
    c = cluster
    wait_for(lambda: cond(c, "hooks", "Ready") == "True", timeout=60, what="hooks Ready")
    r = c.kubectl("exec", "hooks", "--", "busybox", "cat", "/tmp/post", check=False)
    assert r.stdout == "post\n", (r.stdout, r.stderr, c.events("hooks"))
    follow = subprocess.Popen([KUBECTL, "--kubeconfig", c.srv.kubeconfig, "--cache-dir",
                               c.srv.cache_dir, "logs", "-f", "hooks"], stdout=subprocess.PIPE,
                              text=True)
    try:
        time.sleep(0.5)
        c.kubectl("delete", "pod", "hooks", "--wait=false")
        out, _ = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    # preStop ran before SIGTERM: its line precedes the trap's
    assert out == "running\nprestop\ngot-term\n", out
    wait_for(lambda: c.pod("hooks") is None, timeout=30, what="hooks gone")


def test_deletion_honours_the_grace_period(cluster):
    c = cluster
    wait_for(lambda: cond(c, "grace", "Ready") == "True", timeout=60, what="grace Ready")
    t0 = time.monotonic()
    c.kubectl("delete", "pod", "grace", "--wait=false")
    wait_for(lambda: c.pod("grace") is None, timeout=30, what="grace gone")
    took = time.monotonic() - t0
    assert 2.5 <= took < 10, took


def test_failed_post_start_hook_kills_the_container(cluster):
    c = cluster
    wait_for(lambda: events(c, "postfail", "FailedPostStartHook"), timeout=60,
             what="FailedPostStartHook")
    msg = events(c, "postfail", "FailedPostStartHook")[0]
    assert msg.startswith("Exec lifecycle hook ([sh -c echo nope; exit 3]) for Container "
                          "\"main\" in Pod \"postfail_default(") and "exited with 3" in msg, msg
    assert "FailedPostStartHook" in events(c, "postfail", "Killing")
    wait_for(lambda: status_of(c, "postfail").get("restartCount", 0) >= 1, timeout=30,
             what="postfail restarted")


def test_memory_hog_is_oom_killed_and_backs_off(cluster):
    c = cluster

    def oom_seen():
        cs = status_of(c, "oom")
        for st in (cs.get("state", {}), cs.get("lastState", {})):
            t = st.get("terminated")
            if t and t["reason"] == "OOMKilled":
                return cs
        return None
    cs = wait_for(oom_seen, timeout=60, what="OOMKilled")
    t = (cs["state"].get("terminated") or cs["lastState"]["terminated"])
    assert t["exitCode"] == 137
    wait_for(lambda: status_of(c, "oom").get("restartCount", 0) >= 1, timeout=30,
             what="oom restarted")
    wait_for(lambda: status_of(c, "oom").get("state", {}).get("waiting", {}).get("reason")
             == "CrashLoopBackOff", timeout=30, what="oom CrashLoopBackOff")
    assert status_of(c, "oom")["lastState"]["terminated"]["reason"] == "OOMKilled"


def test_termination_messages(cluster):
    c = cluster
    wait_for(lambda: phase(c, "msg") == "Failed", timeout=60, what="msg Failed")
    f = status_of(c, "msg", "file")["state"]["terminated"]
    assert f["exitCode"] == 2 and f["reason"] == "Error" and f["message"] == "bye", f
    cu = status_of(c, "msg", "custom")["state"]["terminated"]
    assert cu["reason"] == "Completed" and cu["message"] == "custom-msg", cu
    lg = status_of(c, "msg", "logs")["state"]["terminated"]
    assert lg["message"] == "line1\noops\n", lg


GRPC = os.environ.get("K8C_PROBE_GRPC") == "1"  # python3-grpcio (see test_agent_probes.py)


def test_https_and_grpc_probes(cluster, tmp_path):
    """An HTTPS readiness probe (self-signed certificate: not verified, as kubelet) and grpc
    startup and liveness probes against servers in the pod's network namespace."""
    c = cluster
    probes = {"readinessProbe": {"httpGet": {"scheme": "HTTPS", "port": 8443, "path": "/healthz"},
                                 "periodSeconds": 1, "failureThreshold": 1}}
    if GRPC:
        probes["startupProbe"] = {"grpc": {"port": 9090}, "periodSeconds": 1,
                                  "failureThreshold": 60}
        probes["livenessProbe"] = {"grpc": {"port": 9090, "service": "probe"},
                                   "periodSeconds": 1, "failureThreshold": 2,
                                   "terminationGracePeriodSeconds": 1}
    create(c, body("tls", [ctr(command=sh("exec sleep 1000"), **probes)], grace=1))
    uid = c.pod("tls")["metadata"]["uid"]
    with open(os.environ.get("K8C_AGENT_UIDS_FILE", os.devnull), "a") as f:
        f.write(uid + "\n")
    ctl = str(tmp_path)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=probe", "-days", "1",
                    "-keyout", f"{ctl}/key.pem", "-out", f"{ctl}/cert.pem"],
                   check=True, capture_output=True)
    netns = os.path.join(c.agent_dir, "pods", uid, "ns", "net")
    wait_for(lambda: os.path.ismount(netns), timeout=60, what="the pod's network namespace")
    time.sleep(2)  # a few failed runs first: not Ready, not started
    cs = status_of(c, "tls")
    assert cs.get("ready") is not True and (not GRPC or cs.get("started") is not True), cs
    server = subprocess.Popen(["nsenter", f"--net={netns}", "/usr/bin/python3",
                               os.path.join(os.path.dirname(__file__), "probe_servers.py"), ctl])
    try:
        wait_for(lambda: cond(c, "tls", "Ready") == "True", timeout=30, what="tls Ready")
        msgs = events(c, "tls", "Unhealthy")
        if not GRPC:  # (else the startup probe held the readiness probe back until then)
            assert 'Readiness probe failed: Get "https://127.0.0.1:8443/healthz": dial tcp ' \
                '127.0.0.1:8443: connect: connection refused' in msgs, msgs
        else:
            assert status_of(c, "tls")["started"] is True
            assert 'Startup probe failed: timeout: failed to connect service ' \
                '"127.0.0.1:9090" within 1s: context deadline exceeded' in msgs, msgs
        open(f"{ctl}/fail", "w").close()
        wait_for(lambda: cond(c, "tls", "Ready") == "False", timeout=20, what="tls not Ready")
        assert "Readiness probe failed: HTTP probe failed with statuscode: 500" in events(
            c, "tls", "Unhealthy")
        os.unlink(f"{ctl}/fail")
        wait_for(lambda: cond(c, "tls", "Ready") == "True", timeout=20, what="tls Ready again")
        if GRPC:
            open(f"{ctl}/not-serving", "w").close()
            wait_for(lambda: status_of(c, "tls").get("restartCount", 0) >= 1, timeout=30,
                     what="tls restarted by its grpc liveness probe")
            assert 'Liveness probe failed: service unhealthy (responded with "NOT_SERVING")' \
                in events(c, "tls", "Unhealthy")
            assert "Container main failed liveness probe, will be restarted" in events(
                c, "tls", "Killing")
    finally:
        server.kill()
        server.wait()
    c.kubectl("delete", "pod", "tls", "--wait=false")
    wait_for(lambda: c.pod("tls") is None, timeout=30, what="tls deleted")


def test_cleanup(cluster):
    c = cluster
    names = [n for n in PODS if c.pod(n) is not None]
    if names:
        c.kubectl("delete", "pod", *names, "--wait=false", "--grace-period=1")
    wait_for(lambda: all(c.pod(n) is None for n in names), timeout=60, what="pods deleted")
