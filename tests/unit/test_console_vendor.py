"""The console's vendored browser libraries are exactly the files recorded in vendor.json: byte for
byte as published on the npm registry, each with its licence, and nothing else in the folder."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.console import routes, statistics, web

VENDOR = web.STATIC_DIR / "vendor"
RECORD = json.loads((VENDOR / "vendor.json").read_text(encoding="utf-8"))
PACKAGES: list[dict[str, Any]] = RECORD["packages"]
#: The licences we accept for browser code shipped in the package, and a line each licence text has.
LICENCE_TEXT = {"MIT": "MIT License", "Apache-2.0": "Apache License\n                           Version 2.0"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: f"{p['name']}@{p['version']}")
def test_every_vendored_file_has_the_sha256_recorded_for_it(package: dict[str, Any]) -> None:
    assert package["files"]
    for entry in package["files"]:
        path = VENDOR / entry["path"]
        assert path.is_file(), entry["path"]
        assert sha256(path) == entry["sha256"], f"{entry['path']} is not the file recorded in vendor.json"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: f"{p['name']}@{p['version']}")
def test_every_vendored_library_ships_its_licence_and_says_where_it_came_from(
    package: dict[str, Any],
) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"]), "an exact version, never a range"
    assert package["folder"] == f"{package['name']}-{package['version']}"
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", package["tarball_integrity"])
    assert re.fullmatch(r"[0-9a-f]{64}", package["tarball_sha256"])
    assert package["tarball"] == (
        f"https://registry.npmjs.org/{package['name']}/-/{package['name']}-{package['version']}.tgz"
    )
    licence = VENDOR / package["license_file"]
    assert licence.is_file() and licence.stat().st_size > 0
    assert package["license_file"] in [f["path"] for f in package["files"]], "the licence is hashed too"
    assert LICENCE_TEXT[package["license"]] in licence.read_text(encoding="utf-8")


def test_the_vendor_folder_holds_only_recorded_files() -> None:
    recorded = {f["path"] for p in PACKAGES for f in p["files"]} | {"vendor.json", "README.md"}
    present = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert present == recorded


def test_the_chart_library_is_the_version_recorded_and_is_served_from_our_own_files() -> None:
    chart_js = next(p for p in PACKAGES if p["name"] == "chart.js")
    header = (VENDOR / chart_js["folder"] / "chart.umd.min.js").read_text(encoding="utf-8")[:200]
    assert f"Chart.js v{chart_js['version']}" in header
    vendored = {f"vendor/{f['path']}" for p in PACKAGES for f in p["files"]}
    for script in statistics.CHART_SCRIPTS:
        assert script in web.STATIC_FILES, script
        assert script.startswith("vendor/") is (script in vendored)
    # Licences, the README and the record are kept in the package but not served.
    assert not any(name.endswith(("LICENSE", ".md", ".json")) for name in web.STATIC_FILES)


def test_swagger_ui_is_vendored_with_its_notice_and_is_served_from_our_own_files() -> None:
    swagger = next(p for p in PACKAGES if p["name"] == "swagger-ui-dist")
    assert routes.SWAGGER_UI == f"vendor/{swagger['folder']}/"
    assert (VENDOR / swagger["folder"] / "NOTICE").is_file()  # Apache-2.0 section 4(d)
    bundle = (VENDOR / swagger["folder"] / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert "SwaggerUIBundle" in bundle and "sourceMappingURL" not in bundle[-300:]
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert routes.SWAGGER_UI + name in web.STATIC_FILES
