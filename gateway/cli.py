"""The `gateway` command line."""

from __future__ import annotations

import dataclasses
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
    from gateway.logging import configure_logging

    # Logs go to stderr, so that a command's JSON on stdout stays parseable.
    configure_logging(_settings().env)


@main.command()
def init() -> None:
    """Create the data directory, keys, the dev identity provider, and the database schema."""
    from gateway.bootstrap import initialise

    summary = initialise(_settings())
    _echo_json(summary)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="worker processes [default: one per CPU on PostgreSQL, where the GIL holds a process to one "
    "core; one on SQLite, which has one writer at a time]",
)
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the HTTP API. Workers stop when this process does, even if it is killed (gateway.serving)."""
    import os

    from gateway.serving import serve as run_server

    settings = _settings()
    if workers is None:
        workers = 1 if settings.is_sqlite else (os.cpu_count() or 1)
    run_server(settings, host=host, port=port, workers=workers)


@main.command()
@click.option("--org-type", required=True, type=click.Choice(["school", "la", "trust", "dfe", "operator"]))
@click.option("--org-id", required=True)
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    type=click.Choice(
        ["feed_submitter", "attendance_officer", "case_officer", "trust_officer", "dpo", "statistician"]
    ),
)
@click.option("--sub", default=None, help="subject (user id); default derived from the organisation")
@click.option("--ttl-minutes", default=480, show_default=True, type=int)
def token(org_type: str, org_id: str, roles: tuple[str, ...], sub: str | None, ttl_minutes: int) -> None:
    """Mint a dev token with the dev identity provider (never in production)."""
    from gateway.keys.idp import mint_token

    settings = _settings()
    if settings.env != "dev":
        raise click.ClickException("dev tokens are refused outside GATEWAY_ENV=dev")
    if not (settings.data_dir / "dev-idp" / "private.pem").exists():
        raise click.ClickException("no dev identity provider: run `gateway init` first")
    click.echo(
        mint_token(
            settings.data_dir,
            org_type=org_type,
            org_id=org_id,
            roles=list(roles),
            sub=sub,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=dt.timedelta(minutes=ttl_minutes),
        )
    )


@main.group()
def schools() -> None:
    """The register of schools."""


@schools.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def schools_import(file: Path) -> None:
    """Import or refresh schools from a GIAS establishment CSV (latin-1)."""
    from gateway.db.session import make_engine, make_sessionmaker
    from gateway.progress import progress_bar
    from gateway.services.schools import import_gias
    from schemas.schools import GiasInvalid

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        with progress_bar(f"reading {file.name}", file.stat().st_size, count=False) as bar:

            def progress(done: int, total: int) -> None:
                bar.note(completed=done, total=total)

            summary = import_gias(make_sessionmaker(engine), file, progress=progress)
    except GiasInvalid as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    _echo_json(dataclasses.asdict(summary))


@main.command()
@click.option(
    "--scale", default=0.002, show_default=True, type=float, help="fraction of England's 21,292 schools"
)
@click.option("--days", default=None, type=int, help="school days of feeds (default: the term to date)")
@click.option("--prior-years", default=1, show_default=True, type=click.IntRange(min=0),
              help="previous academic years of registers, loaded first (last year's rosters, the ABIE)")
@click.option("--prior-days", default=None, type=click.IntRange(min=1),
              help="school days of each previous year, its last ones (default: the whole year)")
@click.option("--seed", default=2026, show_default=True, type=int)
@click.option("--serve/--no-serve", "then_serve", default=True, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def demo(scale: float, days: int | None, prior_years: int, prior_days: int | None, seed: int,
         then_serve: bool, host: str, port: int) -> None:
    """Initialise, import synthetic schools, send last year's and this term's daily feeds through the
    API, then serve."""
    from gateway.demo import run_demo

    settings = _settings()
    summary = run_demo(settings, scale=scale, days=days, seed=seed, prior_years=prior_years,
                       prior_days=prior_days)
    _echo_json(summary)
    if then_serve:
        from gateway.serving import serve as run_server

        click.echo(f"serving on http://{host}:{port} (tokens: gateway token --help)", err=True)
        run_server(settings, host=host, port=port, workers=1)


@main.group()
def audit() -> None:
    """The tamper-evident audit log: verify, export, rotate the signing key."""
    from gateway.logging import configure_logging

    # Log lines go to stderr, so that stdout carries only the JSON a script reads.
    configure_logging(_settings().env)


@audit.command("verify")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="verify an export (from `gateway audit export`) instead of the database",
)
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="trust these public keys (a JWKS, e.g. saved from GET /v1/audit/keys) rather than the data "
    "directory's",
)
@click.option(
    "--batch", default=10_000, show_default=True, type=click.IntRange(min=1), help="entries read per query"
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="processes that examine entries, beside the one that rebuilds the tree",
)
def audit_verify(export_dir: Path | None, keys_file: Path | None, batch: int, workers: int) -> None:
    """Re-hash every entry, rebuild the tree, check every signed head. Exit status 0 only if all holds."""
    from gateway.keys.signing import SigningKeyMissing, jwks_public_keys, signing_keys
    from gateway.services.audit.verify import ExportInvalid, verify_database, verify_export

    settings = _settings()
    try:
        if export_dir is not None:
            report = verify_export(export_dir, keys_file, batch=batch, workers=workers)
        else:
            keys = (
                jwks_public_keys(json.loads(keys_file.read_text()))
                if keys_file
                else signing_keys(settings.data_dir).public_keys()
            )
            report = verify_database(settings.database_url, keys, batch=batch, workers=workers)
    except (ExportInvalid, SigningKeyMissing, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _echo_json(report.as_json())
    if report.ok:
        click.echo(
            f"audit log verified: {report.tree_size} entries, {report.heads_checked} signed heads", err=True
        )
        return
    where = (
        f"first bad index {report.first_bad_index}"
        if report.first_bad_index is not None
        else "entries intact"
    )
    heads = f", first bad head at size {report.first_bad_head}" if report.first_bad_head is not None else ""
    click.echo(f"AUDIT LOG VERIFICATION FAILED: {where}{heads} ({report.problem_count} problems)", err=True)
    sys.exit(1)


@audit.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def audit_export(directory: Path) -> None:
    """Write every event, every signed head and the public keys to DIRECTORY, for offline checking."""
    from gateway.db.session import make_engine, make_sessionmaker
    from gateway.errors import GatewayError
    from gateway.services.audit.trail import export

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        _echo_json(export(make_sessionmaker(engine), settings.data_dir, directory).as_json())
    except GatewayError as exc:
        raise click.ClickException(str(exc.detail)) from None
    finally:
        engine.dispose()


@audit.command("rotate-key")
def audit_rotate_key() -> None:
    """Replace the tree-head signing key; the old public key stays published."""
    from gateway.db.session import make_engine, make_sessionmaker
    from gateway.errors import GatewayError
    from gateway.services.audit.trail import rotate_signing_key

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        _echo_json(rotate_signing_key(make_sessionmaker(engine), settings.data_dir).as_json())
    except GatewayError as exc:
        raise click.ClickException(str(exc.detail)) from None
    finally:
        engine.dispose()


@main.group()
def policy() -> None:
    """The purpose catalogue and the decision point."""


def _catalogue():  # type: ignore[no-untyped-def]
    from policies.loader import CatalogueInvalid, load_catalogue

    try:
        return load_catalogue(_settings().policy_file)
    except CatalogueInvalid as exc:
        raise click.ClickException(str(exc)) from None


@policy.command("show")
def policy_show() -> None:
    """Print the purpose catalogue."""
    from policies.explain import describe_catalogue

    click.echo(describe_catalogue(_catalogue()), nl=False)


@policy.command("explain")
@click.option("--org-type", required=True, type=click.Choice(["school", "la", "trust", "dfe", "operator"]))
@click.option("--org-id", required=True)
@click.option("--role", "roles", required=True, multiple=True)
@click.option("--purpose", required=True)
@click.option(
    "--school", "schools", multiple=True, type=int, help="a school URN named in the request (repeatable)"
)
@click.option(
    "--school-la",
    "school_las",
    multiple=True,
    help="URN=LA code of a named school, as the register of schools says",
)
@click.option("--phase", default=None, help="GIAS phase of a requesting school")
@click.option(
    "--upns/--no-upns", default=False, help="whether the request names pupils (no UPN is needed to explain)"
)
@click.option("--from", "from_", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--to", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--justification", default="Explaining the decision without touching data")
def policy_explain(
    org_type: str,
    org_id: str,
    roles: tuple[str, ...],
    purpose: str,
    schools: tuple[int, ...],
    school_las: tuple[str, ...],
    phase: str | None,
    upns: bool,
    from_: dt.datetime | None,
    to: dt.datetime | None,
    justification: str,
) -> None:
    """Print the decision for a request and why, without touching any data."""
    from policies.decide import decide
    from policies.explain import describe_decision
    from policies.model import ReleaseRequest, Requester, RequestFacts

    las = dict(item.split("=", 1) for item in school_las)
    request = ReleaseRequest(
        purpose=purpose,
        schools=schools or None,
        upns=("named",) if upns else None,
        from_date=from_.date() if from_ else None,
        to_date=to.date() if to else None,
        justification=justification,
    )
    facts = RequestFacts(school_la_codes={urn: las.get(str(urn)) for urn in schools}, requester_phase=phase)
    decision = decide(
        _catalogue(),
        Requester(org_type=org_type, org_id=org_id, roles=roles),
        request,
        facts,
        now=dt.datetime.now(dt.UTC),
    )
    click.echo(describe_decision(decision), nl=False)
    if not decision.allow:
        sys.exit(1)


@policy.command("ropa")
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown", show_default=True
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def policy_ropa(fmt: str, output: Path | None) -> None:
    """The Article 30 record of processing activities, generated from the live catalogue."""
    from policies.ropa import ropa_csv, ropa_markdown

    catalogue = _catalogue()
    text = ropa_markdown(catalogue) if fmt == "markdown" else ropa_csv(catalogue)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@main.group()
def reports() -> None:
    """The schools' attendance reports."""


@reports.command("snapshot")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="the day whose fortnight to snapshot (default: today); the rosters hold today's totals")
def reports_snapshot(day: dt.datetime | None) -> None:
    """Build this fortnight's benchmark snapshot (once: spends on the school-benchmarks share)."""
    from gateway.errors import GatewayError, NotFound
    from gateway.runtime import build_runtime
    from gateway.services import reports as report_service
    from gateway.services.reports.snapshots import CONSUMER, ensure
    from gateway.services.stats.ledger import rules

    runtime = build_runtime(_settings())
    try:
        policy = runtime.catalogue.school_reports
        if policy is None:
            raise NotFound("the catalogue has no [school_reports] rules")
        settings = runtime.settings
        snapshot, built = ensure(runtime.sessions, lambda cap: rules(settings, CONSUMER, ledger_cap=cap),
                                 policy, day.date() if day else report_service.today())
    except GatewayError as exc:  # a spent share: the refusal is in the audit log
        raise click.ClickException(str(exc.detail)) from None
    finally:
        runtime.engine.dispose()
    _echo_json({"academic_year": snapshot.academic_year, "schools": len(snapshot.data.urns), "built": built,
                "fortnight_start": snapshot.fortnight_start.isoformat(), "spend_id": snapshot.spend_id})


@main.group()
def retention() -> None:
    """Retention and crypto-shredding."""


@retention.command("run")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="the day to judge retention on (default: today)",
)
@click.option("--dry-run", is_flag=True, help="report what would be done and change nothing")
def retention_run(as_of: dt.datetime | None, dry_run: bool) -> None:
    """Shred academic years past retention, expire releases, prune consent history; prints a JSON summary."""
    from gateway.runtime import build_runtime
    from gateway.services.retention import run

    runtime = build_runtime(_settings())
    try:
        summary = run(
            runtime.sessions,
            runtime.keys,
            runtime.catalogue,
            as_of=as_of.date() if as_of else dt.date.today(),
            dry_run=dry_run,
        )
    finally:
        runtime.engine.dispose()
    _echo_json(summary.as_dict())


@main.group()
def stats() -> None:
    """Differentially private statistics."""


@stats.command("rebuild")
@click.option(
    "--year",
    "year",
    type=int,
    default=None,
    help="academic year (its first calendar year, e.g. 2025); default: every year",
)
@click.option(
    "--check",
    is_flag=True,
    help="compare the rollup and the rosters kept at ingest with recomputations; change nothing",
)
def stats_rebuild(year: int | None, check: bool) -> None:
    """Recompute the pupil-year rollup and statistics cells from the enrolments, and the rosters from the
    stored marks; prints a JSON summary. --check compares, and changes nothing."""
    from gateway.runtime import build_runtime
    from gateway.services.rollup import rebuild

    runtime = build_runtime(_settings())
    try:
        report = rebuild(runtime.sessions, year, check=check)
    finally:
        runtime.engine.dispose()
    # Each year shows the fields of its kind (rebuilt or checked) only.
    _echo_json(
        {
            str(year): {k: v for k, v in dataclasses.asdict(entry).items() if v is not None}
            for year, entry in report.items()
        }
    )
    if check and not all(entry.matches for entry in report.values()):
        raise SystemExit(1)


@stats.command("approve-cap")
@click.option("--year", required=True, type=int, help="academic year, 2025 for 2025/26")
@click.option("--epsilon", required=True, type=float, help="the new yearly cap, epsilon at the delta set")
@click.option("--dpo", required=True, help="subject (user id) of the data protection officer who approves")
@click.option("--reason", required=True, help="why the cap changes (kept in the audit log)")
def stats_approve_cap(year: int, epsilon: float, dpo: str, reason: str) -> None:
    """A DPO's approval of a new privacy cap for an academic year: audited, never above the catalogue's
    ceiling nor below what the year has spent. The only way a year's cap changes once spent from."""
    from gateway.errors import GatewayError
    from gateway.runtime import build_runtime
    from gateway.services.stats import approve_cap

    runtime = build_runtime(_settings())
    try:
        result = approve_cap(runtime.sessions, runtime.settings, year, epsilon, dpo, reason)
    except GatewayError as exc:
        raise click.ClickException(json.dumps(exc.detail)) from None
    finally:
        runtime.engine.dispose()
    _echo_json(result.as_dict())


@main.group()
def keys() -> None:
    """Key management."""


@keys.command("rotate-master")
def keys_rotate_master() -> None:
    """Rotate the master key: re-wrap the year keys under a new master key; no data is re-encrypted."""
    from gateway.runtime import build_runtime
    from gateway.services.keys import MasterKeyFromEnvironment, rotate_master

    settings = _settings()
    runtime = build_runtime(settings)
    try:
        result = rotate_master(settings, runtime.sessions, runtime.keys)
    except MasterKeyFromEnvironment as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.engine.dispose()
    _echo_json(dataclasses.asdict(result))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
