"""`gateway init`: data directory, keys, dev identity provider, schema. Idempotent."""

from __future__ import annotations

from typing import Any

from gateway.audit_keys import ensure_signing_key
from gateway.db.migrate import upgrade
from gateway.db.session import normalise_url
from gateway.devidp import init_dev_idp
from gateway.keystore import init_keys
from gateway.settings import Settings


def initialise(settings: Settings) -> dict[str, Any]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = normalise_url(settings.database_url)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # A relative SQLite path: make sure its folder exists.
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    keys_created = init_keys(settings)
    # The audit log's first Ed25519 tree-head signing key (rotated by `gateway audit rotate-key`).
    keys_created = ensure_signing_key(settings.data_dir) or keys_created
    idp_created = init_dev_idp(settings.data_dir) if settings.env == "dev" and settings.jwks_url is None else False
    upgrade(settings.database_url)
    return {
        "data_dir": str(settings.data_dir),
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        "keys_created": keys_created,
        "dev_identity_provider_created": idp_created,
        "schema": "up to date",
    }
