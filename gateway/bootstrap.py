"""`gateway init`: data directory, keys, dev identity provider, schema. Idempotent.

Everything under the data directory is the gateway's alone: the directory and its key folders are
0700, key files and the SQLite database (with its -wal and -shm, which SQLite creates with the
database's own mode) 0600; init also narrows the modes of a directory made by an earlier version."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from gateway.db.migrate import upgrade
from gateway.db.session import normalise_url
from gateway.keys.idp import idp_dir, init_dev_idp
from gateway.keys.signing import ensure_signing_key
from gateway.keys.signing import keys_dir as audit_keys_dir
from gateway.keys.store import DIR_MODE, FILE_MODE, init_keys, make_private_dir
from gateway.settings import Settings


def _sqlite_file(settings: Settings) -> Path | None:
    url = make_url(normalise_url(settings.database_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _restrict(folder: Path) -> None:
    """Folders 0700 and files 0600 under `folder` (which holds keys)."""
    if not folder.is_dir():
        return
    make_private_dir(folder)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            Path(root, name).chmod(DIR_MODE)
        for name in files:
            Path(root, name).chmod(FILE_MODE)


def _restrict_database(db_file: Path) -> None:
    # Created before the migrations open it, so that it is never readable by others, even briefly.
    os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for path in (db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
        if path.exists():
            path.chmod(FILE_MODE)


def initialise(settings: Settings) -> dict[str, Any]:
    make_private_dir(settings.data_dir)
    db_file = _sqlite_file(settings)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        _restrict_database(db_file)
    keys_created = init_keys(settings)
    # The audit log's first Ed25519 tree-head signing key (rotated by `gateway audit rotate-key`).
    keys_created = ensure_signing_key(settings.data_dir) or keys_created
    idp_created = (
        init_dev_idp(settings.data_dir) if settings.env == "dev" and settings.jwks_url is None else False
    )
    data = settings.data_dir
    for folder in (data / "keys", data / "master", audit_keys_dir(data), idp_dir(data)):
        _restrict(folder)
    upgrade(settings.database_url)
    if db_file is not None:
        _restrict_database(db_file)
    return {
        "data_dir": str(settings.data_dir),
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        "keys_created": keys_created,
        "dev_identity_provider_created": idp_created,
        "schema": "up to date",
    }
