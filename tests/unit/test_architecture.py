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
    "gateway/services/reports/snapshots.py": 1,  # the school-benchmarks share exhausted (audited)
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


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, in full ('gateway.db.models'), including `from gateway import db`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("layer", ["gateway/api", "gateway/console"])
def test_the_api_and_the_console_reach_storage_only_through_services(layer: str) -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in _imported_modules(p) if m.startswith("gateway.db"))
        for p in _modules(layer)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


#: What every use case may call: who may do what (access), the record of it (audit), and the small
#: module of pieces several services share (common). Anything else a service needs from another
#: belongs in the core or in common.
SHARED_SERVICES = ("gateway.services.access", "gateway.services.audit", "gateway.services.common")


def _service_name(path: Path) -> str:
    relative = path.relative_to(ROOT / "gateway" / "services").with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return "gateway.services." + parts[0] if parts else "gateway.services"


def _is_shared(module: str) -> bool:
    return any(module == s or module.startswith(s + ".") for s in SHARED_SERVICES)


@pytest.mark.parametrize("path", _modules("gateway/services"), ids=lambda p: str(p.relative_to(ROOT)))
def test_services_import_neither_orm_models_nor_each_other(path: Path) -> None:
    own = _service_name(path)
    imported = _imported_modules(path)
    models = sorted(m for m in imported if m.startswith("gateway.db.models"))
    others = sorted(
        m for m in imported
        if m.startswith("gateway.services.") and not _is_shared(m) and not m.startswith(own)
        and _is_module(m)
    )
    assert (models, others) == ([], [])
    source = path.read_text()
    assert "import sqlalchemy as sa" not in source, "services call repositories, not SQLAlchemy"


def _is_module(name: str) -> bool:
    """'gateway.services.pupils' is a module; 'gateway.services.pupils.decrypt' a name in one."""
    relative = Path(*name.split(".")[1:])
    base = ROOT / "gateway" / relative
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()
