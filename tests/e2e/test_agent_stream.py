"""The agent's streaming endpoint end to end: runs tests/e2e/agent_stream_scenarios.py inside
private network, mount and PID namespaces (as test_agent.py runs agent_scenarios.py)."""
import os

import pytest

from test_agent import run_scenarios_in_namespaces


# crun passes too (K8C_STREAM_CRUN=1 adds it; left out of the default run for time)
@pytest.mark.parametrize("runtime", ["builtin", "runc"] + (
    ["crun"] if os.environ.get("K8C_STREAM_CRUN") else []))
def test_agent_stream_scenarios(runtime):
    run_scenarios_in_namespaces("agent_stream_scenarios.py", runtime)
