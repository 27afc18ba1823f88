"""Where the machine's CPU went during a run, from /proc: the server under test, PostgreSQL, the load
generator, and everything else.

The benchmark host is shared (two cores; other jobs may run), so a throughput figure alone cannot tell a slow
server from a busy machine. CPU time per request of the server is robust to that; the "other" share says how
much of the machine something else took during the run.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _process_ticks() -> dict[int, tuple[str, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after its closing one.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return found


def database_backend_ticks(database: str) -> dict[int, int]:
    """utime + stime of the PostgreSQL backends connected to `database`, by pid.

    A backend's process title is `postgres: <user> <database> <client> <state>`, so the database's own
    backends can be told from those of other databases on the shared server.
    """
    marker = f" {database} ".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            if not title.startswith(b"postgres: ") or marker not in title:
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = int(fields[11]) + int(fields[12])
    return found


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    values = [int(part) for part in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _children_seconds() -> float:
    # The load generator (wrk or bench.loadgen) is a child the harness waits for: its CPU lands here when it
    # exits, which /proc can no longer show. The servers are children too, but are not waited for until the end.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Snapshot:
    processes: dict[int, tuple[str, int]]
    machine: tuple[int, int]
    children_seconds: float


def snapshot() -> Snapshot:
    return Snapshot(_process_ticks(), _machine_ticks(), _children_seconds())


def usage(before: Snapshot, after: Snapshot, server_pids: set[int]) -> dict[str, float]:
    """CPU seconds by consumer between two snapshots, and the machine's busy fraction."""
    seconds = {"server": 0.0, "postgres": 0.0, "loadgen": after.children_seconds - before.children_seconds}
    for pid, (name, ticks) in after.processes.items():
        spent = (ticks - before.processes[pid][1] if pid in before.processes else ticks) / TICKS
        if pid in server_pids:
            seconds["server"] += spent
        elif name == "postgres":
            seconds["postgres"] += spent
    busy = (after.machine[0] - before.machine[0]) / TICKS
    total = (after.machine[1] - before.machine[1]) / TICKS
    # Everything else, including processes that came and went during the run (they are in /proc/stat only).
    seconds["other"] = max(0.0, busy - sum(seconds.values()))
    seconds["machine_busy_fraction"] = busy / total if total else 0.0
    return seconds


def worker_shares(before: Snapshot, after: Snapshot, worker_pids: list[int]) -> list[float]:
    """Each worker's share of the workers' CPU between two snapshots, largest first: how evenly the kernel spread
    the connections (issue 13: within 60/40 at c=16 for two workers)."""
    spent = [
        after.processes[pid][1] - before.processes.get(pid, ("", 0))[1] for pid in worker_pids if pid in after.processes
    ]
    total = sum(spent)
    return sorted((ticks / total for ticks in spent), reverse=True) if total else []
