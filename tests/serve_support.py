"""`dpor-gateway serve` as a real subprocess on a free loopback port, and raw sockets to talk to it: for the
tests of what only a real server shows (worker processes, connection handling)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from gateway.settings import Settings, load_settings
from gateway.wiring import auth_config

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    settings: Settings
    log: Path

    def token(self) -> str:
        return mint_dev_token(auth_config(self.settings), roles=[Role.PLATFORM_ADMIN], subject="serve-test")

    def workers(self) -> list[int]:
        """The pids of the processes serving requests: the children of `serve` (or `serve` itself)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children] or [self.process.pid]


@contextmanager
def serving(tmp_path: Path, *args: str, **env: str) -> Iterator[Served]:
    port = free_port()
    values = {
        "DPOR_VAR_DIR": str(tmp_path / "var"),
        "DPOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.sqlite3'}",
        **env,
    }
    settings = load_settings(var_dir=Path(values["DPOR_VAR_DIR"]), database_url=values["DPOR_DATABASE_URL"])
    settings = settings.model_copy(update={"port": port})
    # The dev key exists before the workers look for it.
    mint_dev_token(auth_config(settings), roles=[Role.PLATFORM_ADMIN])
    base = {name: value for name, value in os.environ.items() if not name.startswith(("DPOR_", "PROMETHEUS_"))}
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--host", HOST, "--port", str(port), *args],
            env=base | {"PYTHONPATH": str(REPO)} | values,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, port, settings, log)
    try:
        _wait_until_healthy(served)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(served: Served, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"serve exited with {served.process.returncode}: {served.log.read_text()}")
        try:
            status, _headers, _body = request(served.port, "GET", "/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"serve did not become healthy: {served.log.read_text()}")


def request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection."""
    with socket.create_connection((HOST, port), timeout=10) as connection:
        return exchange(connection, method, path, body, headers)


def exchange(
    connection: socket.socket, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on an open connection, read up to the end of its (Content-Length delimited) response."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return read_response(connection)


def read_response(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(status_line.split()[1]), headers, rest


def serving_pid(served: Served, connection: socket.socket) -> int:
    """Which worker process holds the server side of this (open) connection: its socket's inode, found in
    /proc/net/tcp by the pair of ports, then among the workers' file descriptors."""
    client_port = connection.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == served.port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    assert inode is not None, "the server side of the connection was not found"
    for pid in served.workers():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds the connection")
