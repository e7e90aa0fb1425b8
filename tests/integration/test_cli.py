"""The command line: init, token, schools import."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
from click.testing import CliRunner

from gateway.cli import main
from tests.factories import SCHOOLS, write_gias


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_DATABASE_URL": database_url}


def test_init_creates_keys_identity_provider_and_schema_and_is_idempotent(tmp_path: Path) -> None:
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'data' / 'gateway.db'}")
    runner = CliRunner()
    first = runner.invoke(main, ["init"], env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["keys_created"] is True
    assert (tmp_path / "data" / "master" / "master-keys.json").stat().st_mode & 0o077 == 0
    assert (tmp_path / "data" / "dev-idp" / "jwks.json").exists()
    second = runner.invoke(main, ["init"], env=env)
    assert second.exit_code == 0 and json.loads(second.output)["keys_created"] is False


def test_token_mints_a_verifiable_dev_token(tmp_path: Path) -> None:
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'g.db'}")
    runner = CliRunner()
    runner.invoke(main, ["init"], env=env)
    result = runner.invoke(main, ["token", "--org-type", "la", "--org-id", "202", "--role", "case_officer"], env=env)
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), options={"verify_signature": False})
    assert (claims["org_type"], claims["org_id"], claims["roles"]) == ("la", "202", ["case_officer"])
    assert claims["iss"] == "attendance-gateway-dev-idp" and claims["aud"] == "attendance-gateway"


def test_token_refuses_an_unknown_role(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["token", "--org-type", "la", "--org-id", "202", "--role", "admin"], env=_env(tmp_path, "sqlite://"))
    assert result.exit_code != 0


def test_schools_import_reads_gias_latin1_and_a_reimport_updates(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    schools = list(SCHOOLS) + [(100005, "202", "Camden", "2004", "École Sainte-Thérèse Primary", "Voluntary aided school", "Open", "Primary")]
    result = runner.invoke(main, ["schools", "import", str(write_gias(tmp_path / "gias.csv", schools))], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == {"read": 5, "stored": 5, "new": 5, "updated": 0, "pupil_years_moved": 0}
    assert "100%" in result.stderr
    renamed = [s if s[0] != 100001 else (100001, "202", "Camden", "2001", "Renamed Primary", "Academy converter", "Closed", "Primary") for s in schools]
    again = runner.invoke(main, ["schools", "import", str(write_gias(tmp_path / "gias2.csv", renamed))], env=env)
    assert json.loads(again.stdout) == {"read": 5, "stored": 5, "new": 0, "updated": 5, "pupil_years_moved": 0}
    from sqlalchemy import create_engine, text

    from gateway.db.session import normalise_url

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        row = conn.execute(text("SELECT name, status FROM schools WHERE urn = 100001")).one()
        accented = conn.execute(text("SELECT name FROM schools WHERE urn = 100005")).scalar_one()
    engine.dispose()
    assert tuple(row) == ("Renamed Primary", "Closed")
    assert accented == "École Sainte-Thérèse Primary"


def test_schools_import_names_the_bad_row_and_stores_nothing(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    runner = CliRunner()
    runner.invoke(main, ["init"], env=env)
    bad = list(SCHOOLS) + [("12345", "202", "Camden", "2009", "Bad URN School", "Community school", "Open", "Primary")]
    result = runner.invoke(main, ["schools", "import", str(write_gias(tmp_path / "bad.csv", bad))], env=env)
    assert result.exit_code != 0
    assert "row 5" in result.output and "URN" in result.output
    from sqlalchemy import create_engine, text

    from gateway.db.session import normalise_url

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schools")).scalar_one() == 0
    engine.dispose()


def test_token_mints_a_trust_officers_token_that_the_gateway_accepts(tmp_path: Path) -> None:
    from gateway.auth import FileKeySource, verify_token

    env = _env(tmp_path, f"sqlite:///{tmp_path / 'g.db'}")
    runner = CliRunner()
    runner.invoke(main, ["init"], env=env)
    result = runner.invoke(main, ["token", "--org-type", "trust", "--org-id", "16776", "--role", "trust_officer"],
                           env=env)
    assert result.exit_code == 0, result.output
    keys = FileKeySource(tmp_path / "data" / "dev-idp" / "jwks.json")
    principal = verify_token(result.output.strip(), keys, issuer="attendance-gateway-dev-idp",
                             audience="attendance-gateway")
    assert (principal.org_type, principal.org_id, principal.roles) == ("trust", "16776", ("trust_officer",))


def test_schools_import_stores_the_characteristics_and_trust_and_a_reimport_replaces_them(
    tmp_path: Path, database_url: str
) -> None:
    import csv

    from sqlalchemy import create_engine, text

    from gateway.db.session import normalise_url

    env = _env(tmp_path, database_url)
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0

    def gias(path: Path, trust: str, pupils: str) -> Path:
        with path.open("w", encoding="cp1252", newline="") as fh:
            writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
            writer.writerow(["URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName",
                             "PhaseOfEducation (name)", "EstablishmentStatus (name)", "GOR (name)",
                             "NumberOfPupils", "Trusts (code)", "Trusts (name)", "ReligiousCharacter (name)"])
            writer.writerow(["100001", "202", "Camden", "2001", "Camden Primary", "Primary", "Open", "London",
                             pupils, trust, f"Trust {trust}" if trust else "", "Does not apply"])
        return path

    first = runner.invoke(main, ["schools", "import", str(gias(tmp_path / "a.csv", "4021", "412"))], env=env)
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["schools", "import", str(gias(tmp_path / "b.csv", "", "430"))], env=env)
    assert again.exit_code == 0, again.output
    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT region, number_of_pupils, trust_uid, trust_name, religious_character FROM schools"
            " WHERE urn = 100001"
        )).one()
    engine.dispose()
    # The school left its trust: the second import clears what the first stored.
    assert tuple(row) == ("London", 430, None, None, None)
