"""The `gateway` command line."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from gateway.settings import Settings


def _settings() -> Settings:
    return Settings()


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
def main() -> None:
    """Attendance data gateway: purpose-limited, audited sharing of school attendance data."""


@main.command()
def init() -> None:
    """Create the data directory, keys, the dev identity provider, and the database schema."""
    from gateway.bootstrap import initialise

    summary = initialise(_settings())
    _echo_json(summary)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API."""
    import uvicorn

    if workers > 1:
        uvicorn.run("gateway.asgi:app", host=host, port=port, workers=workers, access_log=False, log_config=None)
    else:
        from gateway.main import create_app

        uvicorn.run(create_app(_settings()), host=host, port=port, access_log=False, log_config=None)


@main.command()
@click.option("--org-type", required=True, type=click.Choice(["school", "la", "dfe", "operator"]))
@click.option("--org-id", required=True)
@click.option("--role", "roles", required=True, multiple=True,
              type=click.Choice(["feed_submitter", "attendance_officer", "case_officer", "dpo", "statistician"]))
@click.option("--sub", default=None, help="subject (user id); default derived from the organisation")
@click.option("--ttl-minutes", default=480, show_default=True, type=int)
def token(org_type: str, org_id: str, roles: tuple[str, ...], sub: str | None, ttl_minutes: int) -> None:
    """Mint a dev token with the dev identity provider (never in production)."""
    from gateway.devidp import mint_token

    settings = _settings()
    if settings.env != "dev":
        raise click.ClickException("dev tokens are refused outside GATEWAY_ENV=dev")
    if not (settings.data_dir / "dev-idp" / "private.pem").exists():
        raise click.ClickException("no dev identity provider: run `gateway init` first")
    click.echo(mint_token(settings.data_dir, org_type=org_type, org_id=org_id, roles=list(roles), sub=sub,
                          issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl=dt.timedelta(minutes=ttl_minutes)))


@main.group()
def schools() -> None:
    """The register of schools."""


@schools.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def schools_import(file: Path) -> None:
    """Import or refresh schools from a GIAS establishment CSV (latin-1)."""
    from gateway.db.session import make_engine, make_sessionmaker
    from gateway.services.schools import import_gias
    from schemas.schools import GiasInvalid

    settings = _settings()
    engine = make_engine(settings.database_url)
    last = [-1]

    def progress(done: int, total: int) -> None:
        pct = int(done * 100 / total) if total else 100
        if pct != last[0]:
            last[0] = pct
            click.echo(f"\rreading {file.name}: {pct:3d}%", nl=False, err=True)

    try:
        summary = import_gias(make_sessionmaker(engine), file, progress=progress)
    except GiasInvalid as exc:
        click.echo("", err=True)
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo("", err=True)
    _echo_json(summary)


@main.command()
@click.option("--scale", default=0.002, show_default=True, type=float, help="fraction of England's 21,292 schools")
@click.option("--days", default=None, type=int, help="school days of feeds (default: the term to date)")
@click.option("--seed", default=2026, show_default=True, type=int)
@click.option("--serve/--no-serve", "then_serve", default=True, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def demo(scale: float, days: int | None, seed: int, then_serve: bool, host: str, port: int) -> None:
    """Initialise, import synthetic schools, send a term of daily feeds through the API, then serve."""
    from gateway.demo import run_demo

    settings = _settings()
    summary = run_demo(settings, scale=scale, days=days, seed=seed, progress=lambda msg: click.echo(msg, err=True))
    _echo_json(summary)
    if then_serve:
        import uvicorn

        from gateway.main import create_app

        click.echo(f"serving on http://{host}:{port} (tokens: gateway token --help)", err=True)
        uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_config=None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
