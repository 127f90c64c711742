"""Crash safety of the store: writers are killed with SIGKILL at random moments, restarted, and
every write that had been acknowledged must still be there with its revision and value;
revisions keep increasing across restarts (tests/e2e, driving `k8c store stress`)."""
import os
import random
import select
import signal
import subprocess
import time

from conftest import K8C

ROUNDS = 22


def run_until_killed(data_dir, acks_wanted, compact=False, deadline_s=30):
    """Starts the stress driver (compacting continually if `compact`), lets it acknowledge
    `acks_wanted` writes, kills it with SIGKILL and returns (the revision it opened at, every
    complete acknowledgement line)."""
    p = subprocess.Popen([K8C, "store", "stress", "--data-dir", data_dir, "--writers", "8",
                          "--keys", "64", "--seconds", "60", "--watchers", "2"]
                         + (["--compact"] if compact else []),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    data = b""
    deadline = time.monotonic() + deadline_s
    try:
        while data.count(b"\nA ") < acks_wanted:
            left = deadline - time.monotonic()
            assert left > 0, f"stress made too little progress: {data[-200:]!r}"
            ready, _, _ = select.select([p.stdout], [], [], left)
            if ready:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    err = p.stderr.read().decode(errors="replace")
                    raise AssertionError(f"stress exited early ({p.wait()}): {err}")
                data += chunk
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    # What was written to the pipe before the kill was acknowledged; keep complete lines only.
    rest = p.stdout.read()
    p.stdout.close()
    p.stderr.close()
    assert p.returncode == -signal.SIGKILL
    text = (data + rest).decode()
    lines = text.split("\n")[:-1]
    assert lines and lines[0].startswith("R "), text[:200]
    return int(lines[0].split()[1]), [ln for ln in lines[1:] if ln.startswith("A ")]


def test_sigkill_loses_no_acknowledged_write(k8c, data_dir):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    acks_path = os.path.join(data_dir, "acks.txt")
    newest = 0
    total = 0
    for rnd in range(ROUNDS):
        # Odd rounds compact while writing, so kills also land inside compactions; even rounds
        # keep every revision, so each of their writes is checked at its own revision.
        opened_at, acks = run_until_killed(data_dir, rng.randint(1, 2000), compact=rnd % 2 == 1)
        assert opened_at >= newest, \
            f"seed {seed} round {rnd}: reopened at {opened_at}, acknowledged up to {newest}"
        revs = [int(a.split()[3]) for a in acks]
        assert revs, f"seed {seed} round {rnd}: nothing acknowledged"
        assert min(revs) > newest, \
            f"seed {seed} round {rnd}: revision {min(revs)} after {newest} (not increasing)"
        newest = max(revs)
        total += len(acks)
        with open(acks_path, "a") as f:
            f.write("\n".join(acks) + "\n")
        r = k8c("store", "stress-verify", "--data-dir", data_dir, acks_path)
        assert r.returncode == 0, f"seed {seed} round {rnd}: {r.stderr}"
        assert f"verified {total} acknowledged writes" in r.stdout
    r = k8c("store", "check", "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    assert " is ok: " in r.stdout
