"""Start an ASGI server as a subprocess on 127.0.0.1 with a free port, wait until it answers, measure its
memory, stop it.

Used for both the gateway (`dpor-gateway serve`, production settings) and the floor app (uvicorn on
bench.floor), so both run under the same server, worker count and event loop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for child in _children(pid):
        pids.extend(_tree(child))
    return pids


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _hwm_bytes(pid: int) -> int:
    # VmHWM: the process's peak resident set since it started (kernel-kept, so no sampling gaps).
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Server:
    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    port: int
    log_path: Path
    ready_path: str = "/healthz"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            list(self.command), env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base_url + self.ready_path, timeout=1) as answer:
                    if answer.status == 200 and self._all_workers_up():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready in {STARTUP_TIMEOUT_SECONDS:.0f} s; see {self.log_path}")

    def _all_workers_up(self) -> bool:
        # uvicorn's supervisor answers nothing itself; one worker may serve /healthz before the other has
        # started. Wait until the log shows as many "Application startup complete" lines as workers.
        expected = self.workers
        return self.log_path.read_bytes().count(b"Application startup complete") >= expected

    @property
    def workers(self) -> int:
        command = list(self.command)
        return int(command[command.index("--workers") + 1]) if "--workers" in command else 1

    def pids(self) -> list[int]:
        assert self.process is not None
        return _tree(self.process.pid)

    def rss_bytes(self) -> int:
        """Resident memory now, summed over the supervisor and its workers."""
        return sum(_rss_bytes(pid) for pid in self.pids())

    def peak_rss_bytes(self) -> int:
        """Peak resident memory (VmHWM) summed over the supervisor and its workers."""
        return sum(_hwm_bytes(pid) for pid in self.pids())

    def worker_pids(self) -> list[int]:
        """The processes serving requests: uvicorn's spawned workers (not multiprocessing's resource tracker),
        or the server process itself when it runs without workers."""
        assert self.process is not None
        workers = [pid for pid in _children(self.process.pid) if b"spawn_main" in _cmdline(pid)]
        return workers or [self.process.pid]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
