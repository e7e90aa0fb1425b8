"""The shape of the code: a pure core that never reaches into the I/O shell."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ("policies", "anonymisation", "consent", "audit", "schemas", "synthetic")
SHELL_ONLY = ("gateway", "fastapi", "starlette", "sqlalchemy", "alembic", "pydantic_settings", "uvicorn", "httpx", "psycopg", "migrations")
PACKAGES = (*CORE, "gateway", "migrations")


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", CORE)
def test_the_core_never_imports_the_shell_or_io_frameworks(package: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & set(SHELL_ONLY)) for p in _modules(package)}
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_reads_the_environment_except_settings(package: str) -> None:
    for path in _modules(package):
        if path == ROOT / "gateway" / "settings.py":
            continue
        source = path.read_text()
        assert "os.environ" not in source and "getenv(" not in source, path


@pytest.mark.parametrize("package", PACKAGES)
def test_print_is_never_called_in_package_code(package: str) -> None:
    for path in _modules(package):
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
        assert not calls, path


def test_services_never_build_sql_themselves() -> None:
    """All SQL lives in gateway/db/repositories/: services call repositories, never sqlalchemy's builders."""
    builders = {"select", "insert", "update", "delete", "text", "func", "and_", "or_"}
    for path in _modules("gateway/services"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlalchemy"):
                assert not builders & {a.name for a in node.names}, path


#: Refusals raised outside gateway/services/access.py, each recorded where it is decided: a release by
#: policies.decide (release.decided), the statistics' budget (stats.denied) and a DPO's cap change
#: past the catalogue's ceiling (budget.cap_refused), subject access (recorded with the answer, in its
#: transaction).
OWN_REFUSALS = {
    "gateway/services/releases.py": 1,
    "gateway/services/stats/answers.py": 1,
    "gateway/services/stats/ledger.py": 1,
    "gateway/services/stats/reservations.py": 1,
    "gateway/services/audit/trail.py": 1,
}
ACCESS_CHECKED = (*_modules("gateway/services"), ROOT / "gateway/console/dpo.py",
                  ROOT / "gateway/console/statistics.py", ROOT / "gateway/console/school.py")


def _calls(path: Path, name: str) -> int:
    tree = ast.parse(path.read_text())
    return sum(
        1
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and (getattr(n.func, "attr", None) == name or getattr(n.func, "id", None) == name)
    )


@pytest.mark.parametrize("path", ACCESS_CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_who_may_do_what_is_asked_of_the_access_policy_not_decided_in_place(path: Path) -> None:
    """Role and organisation checks live in policies/access.py, asked through
    gateway.services.access.authorise, which records the refusal; a use case that checked a role
    itself could forget to record it."""
    relative = str(path.relative_to(ROOT))
    assert _calls(path, "has_role") == 0, relative
    if relative != "gateway/services/access.py":
        assert _calls(path, "Forbidden") == OWN_REFUSALS.get(relative, 0), relative
