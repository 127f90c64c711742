"""The API server against the machine's real kubectl 1.32 (`k8c server --no-agent`).

Every command's output is asserted, not only its exit status. Each test works in its own
namespace so the tests share one server (the `apiserver` session fixture)."""
import base64
import json
import re
import os
import subprocess
import textwrap
import time

import pytest

_NS_SEQ = 0

from conftest import KUBECTL


def ok(r):
    assert r.returncode == 0, f"rc={r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


def fail(r):
    assert r.returncode != 0, f"expected failure, got:\n{r.stdout}"
    return r.stderr


@pytest.fixture
def ns(apiserver, request):
    """A fresh namespace named after the test (created through the JSON API)."""
    global _NS_SEQ
    _NS_SEQ += 1
    base = re.sub(r"[^a-z0-9-]", "-", request.node.name[5:].lower())[:40].strip("-")
    name = f"t-{_NS_SEQ}-{base}".strip("-")
    status, body = apiserver.json("POST", "/api/v1/namespaces",
                                  {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": name}})
    assert status == 201, body
    return name


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"""

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: p1
  labels: {tier: front}
spec:
  containers:
  - name: main
    image: busybox:1.36
"""


def test_version_reports_kubernetes_132(apiserver):
    out = ok(apiserver.kubectl("version"))
    assert "Server Version: v1.32.0-k8c" in out
    assert "Client Version: v1.32" in out  # the dispatcher picked kubectl 1.32


def test_api_resources_lists_kinds_with_short_names(apiserver):
    out = ok(apiserver.kubectl("api-resources"))
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert lines["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert lines["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert "leases" in lines and "cronjobs" in lines
    assert not any("/" in name for name in lines)  # subresources stay hidden


def test_default_namespaces_exist(apiserver):
    out = ok(apiserver.kubectl("get", "ns", "-o", "name"))
    for n in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f"namespace/{n}" in out.split()


def test_apply_create_then_configured_then_unchanged(apiserver, ns, tmp_path):
    f = write(tmp_path, "d.yaml", DEPLOY)
    assert ok(apiserver.kubectl("apply", "-n", ns, "-f", f)).strip() == \
        "deployment.apps/web created"
    assert ok(apiserver.kubectl("apply", "-n", ns, "-f", f)).strip() == \
        "deployment.apps/web unchanged"
    f2 = write(tmp_path, "d2.yaml", DEPLOY.replace("replicas: 2", "replicas: 3")
               .replace("nginx:1.27", "nginx:1.28"))
    assert ok(apiserver.kubectl("apply", "-n", ns, "-f", f2)).strip() == \
        "deployment.apps/web configured"
    table = ok(apiserver.kubectl("get", "-n", ns, "deploy"))
    assert table.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.splitlines()[1].split()[:4] == ["web", "0/3", "0", "0"]
    d = json.loads(ok(apiserver.kubectl("get", "-n", ns, "deploy", "web", "-o", "json")))
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert len(d["spec"]["template"]["spec"]["containers"]) == 1  # merged by name, not appended
    assert d["metadata"]["generation"] == 2  # bumped once by the spec change
    assert "kubectl.kubernetes.io/last-applied-configuration" in d["metadata"]["annotations"]


def test_create_f_and_already_exists(apiserver, ns, tmp_path):
    f = write(tmp_path, "p.yaml", POD)
    assert ok(apiserver.kubectl("create", "-n", ns, "-f", f)).strip() == "pod/p1 created"
    err = fail(apiserver.kubectl("create", "-n", ns, "-f", f))
    assert f'Error from server (AlreadyExists): error when creating "{f}": pods "p1" already ' \
        "exists" in err


def test_get_outputs(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("create", "-n", ns, "-f", write(tmp_path, "p.yaml", POD)))
    out = ok(apiserver.kubectl("get", "-n", ns, "pods"))
    assert out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert out.splitlines()[1].split()[:4] == ["p1", "0/1", "Pending", "0"]
    assert ok(apiserver.kubectl("get", "-n", ns, "pod", "p1", "-o",
                                "jsonpath={.metadata.name}/{.spec.containers[0].image}")) == \
        "p1/busybox:1.36"
    y = ok(apiserver.kubectl("get", "-n", ns, "pod", "p1", "-o", "yaml"))
    assert "kind: Pod" in y and f"namespace: {ns}" in y and "uid: " in y
    assert "resourceVersion: " in y and "creationTimestamp: " in y
    j = json.loads(ok(apiserver.kubectl("get", "-n", ns, "pod", "p1", "-o", "json")))
    assert j["metadata"]["name"] == "p1" and j["status"]["phase"] == "Pending"
    wide = ok(apiserver.kubectl("get", "-n", ns, "pods", "-o", "wide"))
    assert wide.splitlines()[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE",
                                                 "IP", "NODE"]
    assert wide.splitlines()[1].split()[:7] == ["p1", "0/1", "Pending", "0",
                                                 wide.splitlines()[1].split()[4], "<none>",
                                                 "<none>"]
    labels = ok(apiserver.kubectl("get", "-n", ns, "pods", "--show-labels"))
    assert labels.splitlines()[1].split()[-1] == "tier=front"  # from the row's object
    assert ok(apiserver.kubectl("get", "-n", ns, "pods", "-l", "tier=front", "-o", "name")) \
        .split() == ["pod/p1"]
    assert ok(apiserver.kubectl("get", "-n", ns, "pods", "-l", "tier!=front", "-o", "name")) \
        == ""
    assert ok(apiserver.kubectl("get", "-n", ns, "pods", "--field-selector",
                                "metadata.name=p1", "-o", "name")).split() == ["pod/p1"]
    assert ok(apiserver.kubectl("get", "-n", ns, "pods", "--field-selector",
                                "status.phase=Running", "-o", "name")) == ""
    allns = ok(apiserver.kubectl("get", "pods", "-A"))
    assert allns.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == [ns, "p1"] for line in allns.splitlines()[1:])
    err = fail(apiserver.kubectl("get", "-n", ns, "pod", "nope"))
    assert 'Error from server (NotFound): pods "nope" not found' in err


def test_get_watch_prints_changes(apiserver, ns, tmp_path):
    w = subprocess.Popen([KUBECTL, "--kubeconfig",
                          apiserver.kubeconfig, "--cache-dir", apiserver.cache_dir, "get", "-n",
                          ns, "configmaps", "-w", "--request-timeout=6s", "-o", "name"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The watch is open once the initial list is printed (kube-root-ca is not created
        # by k8c yet, so wait for the first object we create instead).
        deadline = time.monotonic() + 10
        created = False
        while time.monotonic() < deadline and not created:
            f = write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: "
                      "{name: w1}\ndata: {a: '1'}\n")
            created = apiserver.kubectl("create", "-n", ns, "-f", f).returncode == 0
        ok(apiserver.kubectl("delete", "-n", ns, "cm", "w1"))
        out, err = w.communicate(timeout=20)
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    assert "configmap/w1" in out.split(), (out, err)


def test_describe_deployment(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("apply", "-n", ns, "-f", write(tmp_path, "d.yaml", DEPLOY)))
    out = ok(apiserver.kubectl("describe", "-n", ns, "deploy", "web"))
    fields = {}
    for line in out.splitlines():
        if ":" in line and not line.startswith(" "):
            k, _, v = line.partition(":")
            fields[k] = " ".join(v.split())
    assert fields["Name"] == "web"
    assert fields["Namespace"] == ns
    assert fields["Selector"] == "app=web"
    assert fields["Replicas"].startswith("2 desired")
    assert fields["StrategyType"] == "RollingUpdate"  # defaulted, as Kubernetes does
    assert fields["RollingUpdateStrategy"] == "25% max unavailable, 25% max surge"


def test_edit_with_editor_script(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("apply", "-n", ns, "-f", write(tmp_path, "d.yaml", DEPLOY)))
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 7/' \"$1\"\n")
    editor.chmod(0o755)
    env = dict(os.environ, EDITOR=str(editor), KUBE_EDITOR=str(editor))
    out = ok(apiserver.kubectl("edit", "-n", ns, "deploy", "web", env=env))
    assert out.strip() == "deployment.apps/web edited"
    assert ok(apiserver.kubectl("get", "-n", ns, "deploy", "web", "-o",
                                "jsonpath={.spec.replicas}")) == "7"


def test_patch_three_types_label_annotate_scale(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("apply", "-n", ns, "-f", write(tmp_path, "d.yaml", DEPLOY)))

    def replicas():
        return ok(apiserver.kubectl("get", "-n", ns, "deploy", "web", "-o",
                                    "jsonpath={.spec.replicas}"))

    assert ok(apiserver.kubectl("patch", "-n", ns, "deploy", "web", "-p",
                                '{"spec":{"replicas":4}}')).strip() == \
        "deployment.apps/web patched"
    assert replicas() == "4"
    ok(apiserver.kubectl("patch", "-n", ns, "deploy", "web", "--type=merge", "-p",
                         '{"spec":{"replicas":5}}'))
    assert replicas() == "5"
    ok(apiserver.kubectl("patch", "-n", ns, "deploy", "web", "--type=json", "-p",
                         '[{"op":"replace","path":"/spec/replicas","value":6}]'))
    assert replicas() == "6"
    err = fail(apiserver.kubectl("patch", "-n", ns, "deploy", "web", "--type=json", "-p",
                                 '[{"op":"test","path":"/spec/replicas","value":99}]'))
    assert "The request is invalid" in err and "test failed" in err
    assert ok(apiserver.kubectl("label", "-n", ns, "deploy", "web", "color=blue")).strip() == \
        "deployment.apps/web labeled"
    assert ok(apiserver.kubectl("annotate", "-n", ns, "deploy", "web", "note=hi")).strip() == \
        "deployment.apps/web annotated"
    d = json.loads(ok(apiserver.kubectl("get", "-n", ns, "deploy", "web", "-o", "json")))
    assert d["metadata"]["labels"]["color"] == "blue"
    assert d["metadata"]["annotations"]["note"] == "hi"
    ok(apiserver.kubectl("label", "-n", ns, "deploy", "web", "color-"))
    assert ok(apiserver.kubectl("get", "-n", ns, "deploy", "-l", "color", "-o", "name")) == ""
    assert ok(apiserver.kubectl("scale", "-n", ns, "deploy", "web", "--replicas=9")).strip() \
        == "deployment.apps/web scaled"
    assert replicas() == "9"
    # --current-replicas takes the GET/PUT …/scale path (the PUT has no Content-Type)
    ok(apiserver.kubectl("scale", "-n", ns, "deploy", "web", "--current-replicas=9",
                         "--replicas=3"))
    assert replicas() == "3"
    err = fail(apiserver.kubectl("scale", "-n", ns, "deploy", "web", "--current-replicas=8",
                                 "--replicas=1"))
    assert "Expected replicas to be 8, was 3" in err


def test_stale_resource_version_conflicts(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("apply", "-n", ns, "-f", write(tmp_path, "d.yaml", DEPLOY)))
    err = fail(apiserver.kubectl("label", "-n", ns, "deploy", "web", "x=y",
                                 "--resource-version=1"))
    assert "Error from server (Conflict)" in err
    assert "the object has been modified" in err


def test_delete_pod_and_orphan_cascade(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("create", "-n", ns, "-f", write(tmp_path, "p.yaml", POD)))
    # An unscheduled pod goes at once, as in Kubernetes.
    assert ok(apiserver.kubectl("delete", "-n", ns, "pod", "p1", "--timeout=20s")).strip() == \
        'pod "p1" deleted'
    fail(apiserver.kubectl("get", "-n", ns, "pod", "p1"))
    ok(apiserver.kubectl("apply", "-n", ns, "-f", write(tmp_path, "d.yaml", DEPLOY)))
    out = ok(apiserver.kubectl("delete", "-n", ns, "deploy", "web", "--cascade=orphan",
                               "--wait=false"))
    assert out.strip() == 'deployment.apps "web" deleted'
    d = json.loads(ok(apiserver.kubectl("get", "-n", ns, "deploy", "web", "-o", "json")))
    # Stored for the garbage collector, which removes the finalizer (not built yet).
    assert "orphan" in d["metadata"]["finalizers"]
    assert d["metadata"]["deletionTimestamp"]


def test_delete_bound_pod_is_graceful(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("create", "-n", ns, "-f", write(tmp_path, "p.yaml", POD)))
    status, body = apiserver.json("POST", f"/api/v1/namespaces/{ns}/pods/p1/binding",
                                  {"apiVersion": "v1", "kind": "Binding",
                                   "metadata": {"name": "p1"},
                                   "target": {"kind": "Node", "name": "node1"}})
    assert status == 201, body
    ok(apiserver.kubectl("delete", "-n", ns, "pod", "p1", "--wait=false"))
    p = json.loads(ok(apiserver.kubectl("get", "-n", ns, "pod", "p1", "-o", "json")))
    assert p["metadata"]["deletionGracePeriodSeconds"] == 30
    assert p["spec"]["nodeName"] == "node1"
    # No kubelet yet: --grace-period=0 --force removes it.
    ok(apiserver.kubectl("delete", "-n", ns, "pod", "p1", "--grace-period=0", "--force"))
    fail(apiserver.kubectl("get", "-n", ns, "pod", "p1"))


def test_delete_namespace_terminates(apiserver, tmp_path):
    ok(apiserver.kubectl("create", "-f", write(tmp_path, "ns.yaml",
                                               "apiVersion: v1\nkind: Namespace\nmetadata: "
                                               "{name: doomed}\n")))
    out = ok(apiserver.kubectl("delete", "ns", "doomed", "--wait=false"))
    assert out.strip() == 'namespace "doomed" deleted'
    assert ok(apiserver.kubectl("get", "ns", "doomed", "-o", "jsonpath={.status.phase}")) == \
        "Terminating"
    err = fail(apiserver.kubectl("create", "-n", "doomed", "-f",
                                 write(tmp_path, "p.yaml", POD)))
    assert "because it is being terminated" in err


def test_wait_for_jsonpath(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("apply", "-n", ns, "-f", write(tmp_path, "d.yaml", DEPLOY)))
    out = ok(apiserver.kubectl("wait", "-n", ns, "--for=jsonpath={.spec.replicas}=2",
                               "deploy/web", "--timeout=10s"))
    assert out.strip() == "deployment.apps/web condition met"
    err = fail(apiserver.kubectl("wait", "-n", ns, "--for=jsonpath={.spec.replicas}=5",
                                 "deploy/web", "--timeout=1s"))
    assert "timed out waiting for the condition" in err


def test_diff_shows_change(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("apply", "-n", ns, "-f", write(tmp_path, "d.yaml", DEPLOY)))
    same = apiserver.kubectl("diff", "-n", ns, "-f", str(tmp_path / "d.yaml"))
    assert same.returncode == 0 and same.stdout == ""
    r = apiserver.kubectl("diff", "-n", ns, "-f",
                          write(tmp_path, "d2.yaml", DEPLOY.replace("replicas: 2",
                                                                    "replicas: 8")))
    assert r.returncode == 1, r.stderr  # 1: differences found
    assert "-  replicas: 2" in r.stdout and "+  replicas: 8" in r.stdout


def test_apply_kustomize(apiserver, ns, tmp_path):
    k = tmp_path / "kust"
    k.mkdir()
    (k / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base}\n"
                               "data: {x: '1'}\n")
    (k / "kustomization.yaml").write_text(f"namespace: {ns}\nnamePrefix: k-\n"
                                          "resources: [cm.yaml]\n")
    out = ok(apiserver.kubectl("apply", "-k", str(k)))
    assert out.strip() == "configmap/k-base created"
    assert ok(apiserver.kubectl("get", "-n", ns, "cm", "k-base", "-o",
                                "jsonpath={.data.x}")) == "1"


def test_explain_pod_containers(apiserver):
    out = ok(apiserver.kubectl("explain", "pod.spec.containers"))
    assert "KIND:       Pod" in out
    assert "FIELD: containers <[]Container>" in out


def test_apply_server_side(apiserver, ns, tmp_path):
    f = write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\n"
              "data: {a: '1'}\n")
    out = ok(apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", f))
    assert out.strip() == "configmap/ssa serverside-applied"
    cm = json.loads(ok(apiserver.kubectl("get", "-n", ns, "cm", "ssa", "-o", "json")))
    assert cm["data"] == {"a": "1"}


def test_create_generators_send_protobuf(apiserver, ns):
    out = ok(apiserver.kubectl("create", "-n", ns, "configmap", "c1", "--from-literal=a=b"))
    assert out.strip() == "configmap/c1 created"
    assert ok(apiserver.kubectl("get", "-n", ns, "cm", "c1", "-o",
                                "jsonpath={.data.a}")) == "b"
    assert ok(apiserver.kubectl("create", "-n", ns, "secret", "generic", "s1",
                                "--from-literal=k=v")).strip() == "secret/s1 created"
    assert ok(apiserver.kubectl("create", "ns", f"{ns}-gen")).strip() == \
        f"namespace/{ns}-gen created"
    assert ok(apiserver.kubectl("create", "-n", ns, "deployment", "d1",
                                "--image=nginx")).strip() == "deployment.apps/d1 created"
    d = json.loads(ok(apiserver.kubectl("get", "-n", ns, "deploy", "d1", "-o", "json")))
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    assert ok(apiserver.kubectl("create", "-n", ns, "serviceaccount", "sa1")).strip() == \
        "serviceaccount/sa1 created"
    assert ok(apiserver.kubectl("create", "-n", ns, "job", "j1", "--image=busybox", "--",
                                "echo", "hi")).strip() == "job.batch/j1 created"
    assert ok(apiserver.kubectl("create", "-n", ns, "service", "clusterip", "s2",
                                "--tcp=80:8080")).strip() == "service/s2 created"
    job = json.loads(ok(apiserver.kubectl("get", "-n", ns, "job", "j1", "-o", "json")))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    err = fail(apiserver.kubectl("create", "-n", ns, "configmap", "c1", "--from-literal=a=b"))
    assert 'error: failed to create configmap: configmaps "c1" already exists' in err


def test_logs_and_exec_without_agent_say_why(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("create", "-n", ns, "-f", write(tmp_path, "p.yaml", POD)))
    err = fail(apiserver.kubectl("logs", "-n", ns, "p1"))
    assert "pod p1 does not have a host assigned" in err
    status, body = apiserver.json("POST", f"/api/v1/namespaces/{ns}/pods/p1/binding",
                                  {"apiVersion": "v1", "kind": "Binding",
                                   "metadata": {"name": "p1"},
                                   "target": {"kind": "Node", "name": "node1"}})
    assert status == 201, body
    err = fail(apiserver.kubectl("logs", "-n", ns, "p1"))
    assert 'node "node1" has no agent connected' in err


def test_services_get_cluster_ips_and_node_ports(apiserver, ns, tmp_path):
    out = ok(apiserver.kubectl("get", "-n", "default", "svc", "kubernetes", "-o",
                               "jsonpath={.spec.clusterIP} {.spec.ports[0].port}"))
    assert out == "10.43.0.1 443"
    eps = ok(apiserver.kubectl("get", "-n", "default", "endpoints", "kubernetes", "-o",
                               "jsonpath={.subsets[0].addresses[0].ip}:"
                               "{.subsets[0].ports[0].port}"))
    assert eps == f"127.0.0.1:{apiserver.port}"
    ok(apiserver.kubectl("create", "-n", ns, "-f", write(tmp_path, "p.yaml", POD)))
    assert ok(apiserver.kubectl("expose", "-n", ns, "pod", "p1", "--port=80",
                                "--type=NodePort")).strip() == "service/p1 exposed"
    svc = json.loads(ok(apiserver.kubectl("get", "-n", ns, "svc", "p1", "-o", "json")))
    ip = svc["spec"]["clusterIP"]
    a, b = (int(x) for x in ip.split(".")[:2])
    assert a == 10 and b == 43 and ip != "10.43.0.1"
    assert svc["spec"]["clusterIPs"] == [ip]
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    # An update that leaves them out keeps them; an explicit taken IP is refused.
    ok(apiserver.kubectl("label", "-n", ns, "svc", "p1", "x=y"))
    svc2 = json.loads(ok(apiserver.kubectl("get", "-n", ns, "svc", "p1", "-o", "json")))
    assert svc2["spec"]["clusterIP"] == ip and svc2["spec"]["ports"][0]["nodePort"] == node_port
    taken = write(tmp_path, "s.yaml", f"""\
        apiVersion: v1
        kind: Service
        metadata: {{name: clash}}
        spec:
          clusterIP: {ip}
          ports: [{{port: 80}}]
        """)
    err = fail(apiserver.kubectl("create", "-n", ns, "-f", taken))
    assert "provided IP is already allocated" in err


def test_auth_can_i(apiserver):
    assert ok(apiserver.kubectl("auth", "can-i", "create", "deployments")).strip() == "yes"


def test_create_token_authenticates_as_the_service_account(apiserver, ns):
    ok(apiserver.kubectl("create", "-n", ns, "serviceaccount", "robot"))
    token = ok(apiserver.kubectl("create", "-n", ns, "token", "robot",
                                 "--duration=20m")).strip()
    assert token.count(".") == 2
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["sub"] == f"system:serviceaccount:{ns}:robot"
    assert payload["exp"] - payload["iat"] == 1200
    status, _, _ = apiserver.request("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/robot",
                                     client_cert=False,
                                     headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    status, _, _ = apiserver.request("GET", "/api/v1/namespaces", client_cert=False,
                                     headers={"Authorization": f"Bearer {token[:-2]}xx"})
    assert status == 401
    err = fail(apiserver.kubectl("create", "-n", ns, "token", "nobody"))
    assert 'serviceaccounts "nobody" not found' in err


def test_drain_cordons_and_evicts(apiserver, ns, tmp_path):
    ok(apiserver.kubectl("create", "-f", write(tmp_path, "n.yaml",
                                               "apiVersion: v1\nkind: Node\nmetadata: "
                                               "{name: drain-me}\n")))
    ok(apiserver.kubectl("create", "-n", ns, "-f", write(tmp_path, "p.yaml", POD.replace(
        "spec:\n", "spec:\n  nodeName: drain-me\n"))))
    out = ok(apiserver.kubectl("drain", "drain-me", "--force", "--grace-period=0",
                               "--timeout=20s"))
    assert "node/drain-me cordoned" in out
    assert "pod/p1 evicted" in out and "node/drain-me drained" in out
    assert ok(apiserver.kubectl("get", "node", "drain-me", "-o",
                                "jsonpath={.spec.unschedulable}")) == "true"
    fail(apiserver.kubectl("get", "-n", ns, "pod", "p1"))
    assert ok(apiserver.kubectl("uncordon", "drain-me")).strip() == "node/drain-me uncordoned"


def test_k8c_kubectl_uses_the_admin_kubeconfig(apiserver, k8c):
    r = k8c("kubectl", "--data-dir", apiserver.data_dir, "get", "ns", "kube-system", "-o",
            "name", env={**os.environ, "HOME": apiserver.data_dir})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "namespace/kube-system"
