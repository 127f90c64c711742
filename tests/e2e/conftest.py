"""Shared fixtures for k8c's end-to-end tests: they run the real `build/k8c` binary."""
import os
import shutil
import subprocess
import tempfile

import pytest

K8C = os.environ.get("K8C_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "k8c")


@pytest.fixture
def k8c():
    """Runs `k8c ARGS...`; returns the CompletedProcess (text mode, never raises on rc)."""
    if not os.access(K8C, os.X_OK):
        pytest.fail(f"k8c binary not built at {K8C}")

    def run(*args, timeout=60, env=None):
        return subprocess.run([K8C, *args], capture_output=True, text=True,
                              timeout=timeout, env=env)
    return run


@pytest.fixture
def data_dir():
    """A fresh data directory, removed afterwards whatever happened."""
    d = tempfile.mkdtemp(prefix="k8c-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
