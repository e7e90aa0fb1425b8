"""What a running gateway holds: settings, database, keys and the identity provider's key source."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth import FileKeySource, KeySource, UrlKeySource
from gateway.db.session import make_engine, make_sessionmaker
from gateway.keys.store import Keys, load_keys
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


#: Collections of the youngest generation wait for this many more container objects allocated than
#: freed (CPython's default is 700). A release of 10,000 records or a 1,000-pupil register allocates
#: hundreds of thousands of short-lived objects that reference counting frees anyway; at 700 the
#: collector ran hundreds of times per release and, every few releases, went through every object of
#: the process, a large share of the release's time.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc_for_serving() -> None:
    """For a serving process, once its app is built: what start-up allocated (modules, settings, the
    catalogue, OpenDP) is moved out of the collector's sight for good (`gc.freeze`), and the youngest
    generation is collected less often. Only the serving entry points call it: a test process builds
    and drops many apps, whose garbage must stay collectable."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
