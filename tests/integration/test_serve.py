"""`gateway serve` as operators run it: a real server on a loopback port, driven over a socket.

Every test starts the server in its own process group and kills that group when it ends, pass or
fail, so that no server or worker outlives the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.keys.idp import mint_token
from gateway.settings import Settings

GATEWAY = str(Path(sys.executable).with_name("gateway"))
STARTUP_SECONDS = 60  # two workers each import the app (OpenDP, the catalogue) on a busy machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _can_bind(port: int) -> bool:
    # As uvicorn binds (SO_REUSEADDR): a closed server's TIME_WAIT connections do not count.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    environment = {**os.environ, "GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_ENV": "dev",
                   "GATEWAY_DATABASE_URL": f"sqlite:///{data_dir / 'gateway.db'}"}
    subprocess.run([GATEWAY, "init"], env=environment, check=True, capture_output=True, timeout=120)  # noqa: S603
    return environment


@pytest.fixture
def start(env: dict[str, str], tmp_path: Path) -> Iterator:
    started: list[Server] = []

    def _start(*args: str) -> Server:
        port = _free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as out:
            # Its own session and process group (pgid = its pid), so that the workers can be found
            # and killed with it even after the parent is gone.
            process = subprocess.Popen([GATEWAY, "serve", "--port", str(port), *args],  # noqa: S603
                                       env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        server = Server(process, port, log)
        started.append(server)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            assert process.poll() is None, server.output()
            time.sleep(0.2)
        raise AssertionError(f"the server did not answer in {STARTUP_SECONDS} s:\n{server.output()}")

    yield _start
    for server in started:
        try:
            os.killpg(server.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is empty: every process of it has exited
        server.process.wait(timeout=10)


def _token(env: dict[str, str]) -> str:
    return mint_token(Path(env["GATEWAY_DATA_DIR"]), org_type="la", org_id="202", roles=["case_officer"],
                      issuer=Settings().jwt_issuer, audience=Settings().jwt_audience)


def _raw_get(port: int, headers: bytes) -> bytes:
    """One request over a plain socket (httpx refuses to send some of what a client could), its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /v1/purposes HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


# --- tokens over a real socket -------------------------------------------------------------------

def test_a_non_string_key_id_is_a_401_and_the_keep_alive_connection_keeps_serving(start, env) -> None:
    server = start()
    hostile = "eyJhbGciOiJFZERTQSIsImtpZCI6MTIzfQ.e30.AAAA"  # {"alg":"EdDSA","kid":123}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        refused = client.get("/v1/purposes", headers={"Authorization": f"Bearer {hostile}"})
        assert refused.status_code == 401 and "kid" in refused.json()["detail"]
        assert refused.headers["www-authenticate"] == "Bearer"
        # The same connection: a 500 used to reset it.
        accepted = client.get("/v1/purposes", headers={"Authorization": f"Bearer {_token(env)}"})
        assert accepted.status_code == 200


def test_a_133_kb_token_is_a_401_that_says_it_is_too_long(start) -> None:
    server = start()
    answer = _raw_get(server.port, b"Authorization: Bearer " + b"a" * 133_000 + b"\r\n")
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b"bearer token too long" in rest


def test_request_headers_over_the_limit_are_a_431_that_says_why(start) -> None:
    server = start()
    answer = _raw_get(server.port, b"Authorization: Bearer " + b"a" * 1_000_000 + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:300]
    assert b"request headers too large" in answer and b"application/json" in answer
    # The server carries on.
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


# --- worker supervision --------------------------------------------------------------------------

def _workers(pid: int) -> list[int]:
    """Live worker processes whose parent is pid, from /proc (not multiprocessing's resource tracker,
    which the parent also starts)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _alive(int(entry.name)):
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == pid and b"spawn_main" in command:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_killing_the_parent_of_two_workers_stops_them_and_frees_the_port(start) -> None:
    server = start("--workers", "2")
    deadline = time.monotonic() + STARTUP_SECONDS
    while len(workers := _workers(server.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers) == 2, server.output()
    assert not _can_bind(server.port)

    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), f"workers still running:\n{server.output()}"
    assert _can_bind(server.port)
    assert "serving_parent_gone" in server.output()


def _stubborn_worker(ready: str) -> None:
    """A spawned process that ignores SIGTERM, as a worker stuck in a request would fail to stop."""
    from gateway.serving import exit_with_parent

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    exit_with_parent(grace_seconds=1.0)
    Path(ready).touch()
    time.sleep(600)


PARENT = """
import multiprocessing, sys, time
from tests.integration.test_serve import _stubborn_worker
child = multiprocessing.get_context("spawn").Process(target=_stubborn_worker, args=(sys.argv[1],))
child.start()
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker through /proc")
def test_a_worker_that_cannot_shut_down_still_exits_soon_after_its_parent_dies(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(ready)],  # noqa: S603
                              stdout=subprocess.PIPE, cwd=Path(__file__).parents[2], start_new_session=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + STARTUP_SECONDS
        while not ready.exists() and time.monotonic() < deadline:
            assert parent.poll() is None
            time.sleep(0.1)
        assert ready.exists() and _alive(child)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()
