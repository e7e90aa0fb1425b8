"""The gateway's one typed settings class (environment variables, prefix GATEWAY_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Largest register body accepted: a 3,000-pupil school's day is about 600 KiB of JSON, so 10 MiB
#: leaves ample headroom while bounding memory per request.
MAX_BODY_BYTES = 10 * 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    database_url: str = "sqlite:///var/gateway.db"
    data_dir: Path = Path("./var")
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwt_issuer: str = "attendance-gateway-dev-idp"
    jwt_audience: str = "attendance-gateway"
    policy_file: Path | None = None

    # Beyond docs/design.md's table: operational knobs with safe defaults.
    env: Literal["dev", "production"] = "dev"
    master_key: SecretStr | None = Field(
        default=None,
        description=(
            "base64 master key (production); when unset the key ring file in the data directory is used"
        ),
    )
    max_body_bytes: int = MAX_BODY_BYTES
    jwks_cache_seconds: int = 300
    retention_first_run_seconds: float = 300
    retention_interval_seconds: float = 24 * 3600
    # Differentially private statistics (docs/differential-privacy.md 5.2). An academic year's one
    # cap, for every consumer together, is the zCDP rho whose (epsilon, delta) equivalent is this,
    # never above the catalogue's ceiling; it is fixed in the year's ledger when first spent from, and
    # then only a DPO's approval changes it. Each consumer's share is spread over releases x
    # statistics equal slots; a request is allotted one slot per noisy vector its measure needs.
    stats_epsilon_per_year: float = Field(default=10.0, gt=0)
    stats_delta: float = Field(default=1e-9, gt=0, lt=1)
    stats_releases_per_year: int = Field(default=26, ge=1)
    stats_statistics_per_release: int = Field(default=8, ge=1)
    stats_mechanism: Literal["gaussian", "laplace"] = "gaussian"
    # DfE's disclosure convention (docs/domain.md 2.4): an LA-level cell backed by fewer schools than this
    # in the public register of schools is published as "c" (and one backed by none as "z"). Counted
    # from GIAS, never from the attendance data; the noise is drawn and paid for either way. 0: off.
    stats_min_schools_per_la_cell: int = Field(default=2, ge=0)

    @property
    def effective_jwks_file(self) -> Path:
        return self.jwks_file if self.jwks_file is not None else self.data_dir / "dev-idp" / "jwks.json"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
