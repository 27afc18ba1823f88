"""Throwaway PostgreSQL clusters (a primary and its streaming replica) and a PgBouncer, on loopback and free ports.

PostgreSQL and PgBouncer refuse to run as root. When the tests run as root (CI does), every server command runs as
the `postgres` OS user (`runuser -u postgres`), and the directories it needs are handed to that user.

Why a primary of our own (initdb) rather than the machine's server on 127.0.0.1:5432: that server's pg_hba.conf has
no `replication` line (a `host all ...` line does not match replication connections), so pg_basebackup is refused.
Adding one would mean editing the machine's pg_hba.conf and reloading the server every other suite on the machine
is using; a test should not change a shared server's authentication. A primary of our own costs about a second
(initdb's default pg_hba.conf allows replication from loopback; wal_level is `replica` by default).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("DPOR_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _root() -> bool:
    return os.geteuid() == 0


def server_command(*command: str) -> list[str]:
    """`command` as the servers' OS user (root: via runuser; anyone else: as themselves)."""
    return ["runuser", "-u", SERVER_USER, "--", *command] if _root() else list(command)


def cannot_run_clusters() -> str | None:
    """Why the cluster tests cannot run here (None: they can)."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_basebackup").exists():
        return f"no PostgreSQL server binaries in {PG_BIN} (set DPOR_TEST_PG_BIN)"
    if _root():
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} OS user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


def owned_directory(path: Path) -> Path:
    """A directory the servers' user owns (0700, as PostgreSQL requires of a data directory)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _root():
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def run(*command: str, timeout: float = 60) -> None:
    result = subprocess.run(server_command(*command), capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr or result.stdout}")


@dataclass
class Cluster:
    directory: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        # Socket in the data directory (the default, /var/run/postgresql, may belong to the machine's server).
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        log = self.directory / "server.log"
        run(str(PG_BIN / "pg_ctl"), "-D", str(self.directory), "-o", options, "-l", str(log), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        run(str(PG_BIN / "pg_ctl"), "-D", str(self.directory), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            server_command(str(PG_BIN / "pg_ctl"), "-D", str(self.directory), "status"),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0


def new_primary(directory: Path) -> Cluster:
    owned_directory(directory)
    # trust on loopback only, as the machine's server; --no-sync and fsync off: a throwaway cluster need not survive
    # a crash. synchronous_commit stays on: a commit returns once its WAL is written, which is where the replicas'
    # lag is measured from (pg_current_wal_lsn(), db/replicas.py).
    run(str(PG_BIN / "initdb"), "-D", str(directory), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
    with (directory / "postgresql.conf").open("a") as conf:
        conf.write("\nfsync = off\nfull_page_writes = off\nmax_wal_senders = 4\n")
    cluster = Cluster(directory, free_port())
    cluster.start()
    return cluster


def new_replica(primary: Cluster, directory: Path) -> Cluster:
    """A streaming replica of `primary` (pg_basebackup -R: standby.signal and primary_conninfo), started.

    `-c fast`: the backup starts with an immediate checkpoint; the default (spread) made it wait about 20 s."""
    owned_directory(directory.parent)
    args = ["-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D", str(directory), "-R", "-X", "stream"]
    args += ["-c", "fast"]
    run(str(PG_BIN / "pg_basebackup"), *args)
    replica = Cluster(directory, free_port())
    replica.start()
    return replica


def remove(*clusters: Cluster | None) -> None:
    """Stop (immediately) and delete: whatever happened before, nothing is left running."""
    for cluster in clusters:
        if cluster is None:
            continue
        if cluster.running():
            with contextlib.suppress(RuntimeError):
                cluster.stop("immediate")
        shutil.rmtree(cluster.directory, ignore_errors=True)


def wait_for_port(port: int, *, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
