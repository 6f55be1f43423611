"""The tests' throwaway PostgreSQL cluster does not outlive a killed test run (tests/postgres_cluster.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, free_port
from postgres_cluster import INITDB, NO_SERVER, remove_stale_clusters, start_time

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not INITDB, reason=NO_SERVER)]

# a stand-in for a pytest process: it starts a cluster, prints its folder, postmaster pid and watchdog pid, then waits
HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import postgres_cluster
with postgres_cluster.cluster(int(sys.argv[2])) as server:
    pid = (server.data / "postmaster.pid").read_text().split()[0]
    print(server.root, pid, server.watchdog, flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    return start_time(pid) is not None and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def holder() -> tuple[subprocess.Popen[str], Path, int, int]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(REPO / "tests"), str(free_port())],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    root, postmaster, watchdog = proc.stdout.readline().split()
    assert alive(int(postmaster)), "control: the cluster runs"
    return proc, Path(root), int(postmaster), int(watchdog)


def gone_within(seconds: float, *checks: object) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(c() for c in checks):  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_a_killed_test_process_leaves_no_cluster_running():
    proc, root, postmaster, _ = holder()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert gone_within(30, lambda: alive(postmaster), root.exists), "the killed run's cluster is still there"


def test_the_next_run_stops_and_removes_a_cluster_whose_run_and_watchdog_were_both_killed():
    proc, root, postmaster, watchdog = holder()
    os.kill(watchdog, signal.SIGKILL)  # a kill of everything: the watchdog first
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    assert alive(postmaster) and root.exists(), "control: nothing stopped the orphaned cluster"
    assert root in remove_stale_clusters()
    assert gone_within(30, lambda: alive(postmaster), root.exists)


def test_a_running_clusters_folder_is_left_alone_by_the_stale_cleanup():
    proc, root, postmaster, _ = holder()
    try:
        assert root not in remove_stale_clusters()
        assert alive(postmaster) and root.exists()
    finally:
        proc.kill()
        proc.wait()
    assert gone_within(30, lambda: alive(postmaster), root.exists)
