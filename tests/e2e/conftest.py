"""End-to-end fixtures: a real gateway served by uvicorn on a free loopback port, over a temporary
database seeded through the API (SQLite, and PostgreSQL too when GATEWAY_TEST_POSTGRES_URL is set),
and Debian's Chromium driven headless by Playwright.

Without Chromium or Playwright the tests are skipped with the reason, except under CI (the `CI`
environment variable set), where they fail: CI must install both (`apt-get install -y chromium`, and
`playwright` from the test extra). Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from gateway.bootstrap import initialise
from gateway.main import create_app
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from tests.conftest import BACKENDS, Gateway, PostgresDatabases
from tests.e2e.seed import World, seed

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=en-GB",
]


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(
            f"{reason} (CI must install it; the end-to-end tests are not optional there)", pytrace=False
        )
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    for candidate in (*CHROMIUM_CANDIDATES, shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
    raise AssertionError("unreachable")


# Module-scoped: Playwright's sync API holds an event loop open; close it before other modules run.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright Python package is not installed (pip install playwright)")
        raise AssertionError("unreachable") from None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Served:
    """The running gateway, its world, and every address the browsers asked for."""

    base_url: str
    gateway: Gateway
    world: World
    requested: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)

    def token(self, *who: str) -> str:
        return self.gateway.token(*who)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("e2e")
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'gateway.db'}"
    else:
        databases: PostgresDatabases = request.getfixturevalue("pg_databases")
        database_url = databases.fresh()
        request.addfinalizer(lambda: databases.drop(database_url))
    settings = Settings(data_dir=folder / "data", database_url=database_url, env="dev")
    initialise(settings)
    runtime: Runtime = build_runtime(settings)
    with TestClient(create_app(settings, runtime=runtime), raise_server_exceptions=False) as client:
        gateway = Gateway(settings=settings, runtime=runtime, client=client)
        world = seed(gateway, folder)
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime=runtime),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield Served(base_url=f"http://127.0.0.1:{port}", gateway=gateway, world=world)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        runtime.engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def screenshots_folder() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
