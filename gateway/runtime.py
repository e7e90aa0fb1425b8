"""What a running gateway holds: settings, database, keys and the identity provider's key source."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth import FileKeySource, KeySource, UrlKeySource
from gateway.db.session import make_engine, make_sessionmaker
from gateway.keystore import Keys, load_keys
from gateway.settings import Settings
from policies.loader import load_catalogue
from policies.model import Catalogue


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: Keys
    key_source: KeySource
    catalogue: Catalogue


def build_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.database_url)
    key_source: KeySource = (
        UrlKeySource(settings.jwks_url, ttl_seconds=settings.jwks_cache_seconds)
        if settings.jwks_url
        else FileKeySource(settings.effective_jwks_file)
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        keys=load_keys(settings),
        key_source=key_source,
        catalogue=load_catalogue(settings.policy_file),
    )
