"""A throwaway PostgreSQL cluster of Debian's packages for the shared layout's tests (issue 30), gone with the run.

Each pytest process (each xdist worker) makes one cluster under ``$TMPDIR/deletedcalls-pg/<pid>-<random>/``:
initdb in that folder, a free port of 127.0.0.1, trust authentication for its superuser ``deletedcalls``, run as
the ``postgres`` user when the tests run as root (PostgreSQL refuses root; ``.ci/run`` runs as root).

The cluster is stopped however the run ends:

- a normal end: the session fixture's teardown stops it and removes its folder;
- a killed run (kill -9, a CI timeout, Ctrl-C of the process group): a watchdog process, in a session of its own
  so that a signal to pytest's process group does not reach it, polls the pytest process and stops the cluster
  and removes its folder within a second of its death;
- if the watchdog died too (the machine rebooted, a kill of everything): the next run's fixture removes every
  cluster folder whose owner process (``owner`` file: pid and start time, so a reused pid is not mistaken for
  it) is gone, stopping its server first.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

INITDB = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
NO_SERVER = ("needs Debian's PostgreSQL server (/usr/lib/postgresql/*/bin/initdb): apt-get install postgresql; "
             ".ci/run installs it and runs make test-postgres")
CLUSTERS = Path(tempfile.gettempdir()) / "deletedcalls-pg"
OWNER = "owner"  # "<pid> <start time in clock ticks>" of the pytest process the cluster belongs to

# The watchdog: argv = owner pid, owner start time, cluster folder, then the pg_ctl command to stop it.
WATCHDOG = """
import shutil, subprocess, sys, time
pid, start, root, stop = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19] == start
    except OSError:
        return False
while alive():
    time.sleep(0.5)
subprocess.run(stop, capture_output=True, timeout=60)
shutil.rmtree(root, ignore_errors=True)
"""


def start_time(pid: int) -> str | None:
    """A process's start time (field 22 of /proc/<pid>/stat), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def run_as() -> list[str]:
    """The prefix that runs PostgreSQL's tools as a user other than root (``postgres``), or nothing."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def stop_command(data: Path) -> list[str]:
    return [*run_as(), str(Path(INITDB[-1]).parent / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]


def remove_stale_clusters() -> list[Path]:
    """Stop and remove the clusters whose pytest process is gone (a killed run whose watchdog died too)."""
    removed = []
    for root in sorted(CLUSTERS.glob("*")) if CLUSTERS.is_dir() else []:
        try:
            pid, start = (root / OWNER).read_text().split()
        except (OSError, ValueError):
            # no owner file: a run killed before it wrote one, or a run that made its folder a moment ago and is
            # writing it now (another worker's, another engineer's): only the first is old
            with contextlib.suppress(OSError):
                if time.time() - root.stat().st_mtime < 120:
                    continue
            pid, start = "0", ""
        if start and start_time(int(pid)) == start:
            continue  # its run is still going (another xdist worker, another engineer's run)
        if (root / "data" / "postmaster.pid").exists():
            subprocess.run(stop_command(root / "data"), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


class PostgresServer:
    """A running throwaway cluster: trust authentication for its superuser on 127.0.0.1."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data = root / "data"
        self.bin = Path(INITDB[-1]).parent
        self.watchdog = 0  # the pid of the process that stops the cluster if this one dies

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*run_as(), str(self.bin / tool), *args], check=True, capture_output=True, text=True,
                              timeout=120)

    def psql(self, database: str, statement: str, *, user: str = "deletedcalls") -> subprocess.CompletedProcess[str]:
        """One statement through psql (outside any transaction block, as VACUUM and CHECKPOINT need); not checked."""
        return subprocess.run([*run_as(), str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", user,
                               "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement],
                              capture_output=True, text=True, timeout=120)

    def database(self) -> str:
        """A new, empty database; its URL (no password: trust on 127.0.0.1)."""
        name = f"wh_{uuid.uuid4().hex[:10]}"
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "deletedcalls", name)
        return f"postgresql://deletedcalls@127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def cluster(port: int) -> Iterator[PostgresServer]:
    """Start a cluster owned by this process, with its watchdog; stop it and remove it at the end."""
    remove_stale_clusters()
    CLUSTERS.mkdir(mode=0o755, exist_ok=True)
    me = os.getpid()
    root = Path(tempfile.mkdtemp(prefix=f"{me}-", dir=CLUSTERS))
    (root / OWNER).write_text(f"{me} {start_time(me)}\n")
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own user owns the cluster
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    server = PostgresServer(root, port)
    watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(me), str(start_time(me)), str(root),
                                 *stop_command(server.data)],
                                start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    server.watchdog = watchdog.pid
    try:
        server.run("initdb", "-D", str(server.data), "-A", "trust", "-U", "deletedcalls", "--no-sync")
        server.run("pg_ctl", "-D", str(server.data), "-l", str(root / "log"), "-w", "-t", "60",
                   "-o", f"-p {port} -h 127.0.0.1 -k {root} -F", "start")
        yield server
    finally:
        subprocess.run(stop_command(server.data), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
        watchdog.kill()  # the process started above, by its handle
        watchdog.wait()


def server_fixture() -> Iterator[PostgresServer]:
    """The body of the session fixture ``postgres_server`` (skips with the reason where PostgreSQL is missing)."""
    if not INITDB:
        pytest.skip(NO_SERVER)
    from conftest import free_port

    with cluster(free_port()) as server:
        yield server
