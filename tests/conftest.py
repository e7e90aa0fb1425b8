"""Shared fixtures: a migrated database per backend (SQLite always, PostgreSQL when
GATEWAY_TEST_POSTGRES_URL is set), a data directory with keys and the dev identity provider, and an
app driven over HTTP."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.bootstrap import initialise
from gateway.db.migrate import upgrade
from gateway.db.session import normalise_url
from gateway.keys.idp import mint_token
from gateway.main import create_app
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings

PG_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_report_header(config: pytest.Config) -> str:
    return f"gateway backends: {', '.join(BACKENDS)}"


class PostgresDatabases:
    """Creates a migrated template database once, then a fresh copy of it per test."""

    def __init__(self, admin_url: str):
        self.admin_url = normalise_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        # Fails loudly (never skips) when PostgreSQL is configured but unreachable.
        with self.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
        self.template = f"gw_tpl_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        upgrade(self.url_for(self.template))
        self.created: list[str] = [self.template]

    def url_for(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def fresh(self) -> str:
        name = f"gw_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.created.append(name)
        return self.url_for(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="session")
def sqlite_template(session_dir: Path) -> Path:
    path = session_dir / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PostgresDatabases]:
    if not PG_URL:
        raise RuntimeError("GATEWAY_TEST_POSTGRES_URL is not set")
    dbs = PostgresDatabases(PG_URL)
    yield dbs
    dbs.close()


@pytest.fixture(scope="session")
def data_dir(session_dir: Path) -> Path:
    folder = session_dir / "data"
    settings = Settings(data_dir=folder, database_url=f"sqlite:///{session_dir / 'init.db'}")
    initialise(settings)
    return folder


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
    else:
        dbs: PostgresDatabases = request.getfixturevalue("pg_databases")
        url = dbs.fresh()
        yield url
        dbs.drop(url)


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=data_dir, env="dev")


@dataclass
class Gateway:
    settings: Settings
    runtime: Runtime
    client: TestClient

    @property
    def backend(self) -> str:
        return "sqlite" if self.settings.is_sqlite else "postgresql"

    def token(self, org_type: str, org_id: str, *roles: str, **kwargs: Any) -> str:
        return mint_token(self.settings.data_dir, org_type=org_type, org_id=str(org_id), roles=list(roles),
                          issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience, **kwargs)

    def auth(self, org_type: str, org_id: str | int, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(org_type, str(org_id), *roles)}"}


@pytest.fixture
def gw(settings: Settings) -> Iterator[Gateway]:
    runtime = build_runtime(settings)
    app = create_app(settings, runtime=runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Gateway(settings=settings, runtime=runtime, client=client)
    runtime.engine.dispose()
