"""The agent's volumes, env, securityContext and QoS end to end: runs
tests/e2e/agent_volume_scenarios.py (server, scheduler, agent, real kubectl, a busybox image
built here) inside private network, mount and PID namespaces, then checks that none of its
pods' cgroups was left behind."""
import os

from test_agent import HERE, run_scenarios


def test_agent_volume_scenarios_in_private_namespaces():
    # K8C_VOLUMES_RUNTIME=runc|crun runs the same scenarios with runc or crun (by hand: time
    # budget; both passed on 2026-11-23)
    run_scenarios(os.path.join(HERE, "agent_volume_scenarios.py"),
                  os.environ.get("K8C_VOLUMES_RUNTIME", "builtin"))
