"""The API server with Debian's python3-kubernetes client (run by /usr/bin/python3):
list, watch, create, patch, delete through the admin kubeconfig the server wrote."""
import threading

import pytest

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402


@pytest.fixture
def api(apiserver):
    cfg = client.Configuration()
    config.load_kube_config(config_file=apiserver.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as c:
        yield c


@pytest.fixture
def pyns(api):
    core = client.CoreV1Api(api)
    ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py-e2e")))
    assert ns.metadata.name == "py-e2e" and ns.status.phase == "Active"
    return "py-e2e"


def test_python_client_crud_and_watch(api, pyns):
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    created = core.create_namespaced_config_map(
        pyns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg", labels={"a": "b"}),
                                 data={"k": "v"}))
    assert created.metadata.uid and created.metadata.resource_version
    names = [c.metadata.name for c in
             core.list_namespaced_config_map(pyns, label_selector="a=b").items]
    assert names == ["cfg"]
    patched = core.patch_namespaced_config_map("cfg", pyns, {"data": {"k": "v2"}})
    assert patched.data == {"k": "v2"}

    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web",
                                                                     image="nginx:1.27")]))))
    d = apps.create_namespaced_deployment(pyns, dep)
    assert d.spec.strategy.type == "RollingUpdate"  # defaulted by the server
    scale = apps.patch_namespaced_deployment_scale("web", pyns, {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4
    assert apps.read_namespaced_deployment("web", pyns).spec.replicas == 4

    # Watch from the list's resourceVersion: sees a later ADDED and DELETED.
    rv = core.list_namespaced_config_map(pyns).metadata.resource_version
    seen = []
    w = watch.Watch()

    def run():
        for ev in w.stream(core.list_namespaced_config_map, pyns, resource_version=rv,
                           timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=run)
    t.start()
    core.create_namespaced_config_map(
        pyns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="later")))
    core.delete_namespaced_config_map("later", pyns)
    t.join(timeout=20)
    assert not t.is_alive()
    assert ("ADDED", "later") in seen and ("DELETED", "later") in seen

    core.delete_namespaced_config_map("cfg", pyns)
    with pytest.raises(client.exceptions.ApiException) as e:
        core.read_namespaced_config_map("cfg", pyns)
    assert e.value.status == 404
    with pytest.raises(client.exceptions.ApiException) as e:
        core.create_namespaced_config_map(
            "no-such-ns", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    assert e.value.status == 404
