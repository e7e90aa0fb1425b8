"""The console's vendored browser libraries are exactly the files recorded in vendor.json: byte for
byte as published on the npm registry, each with its licence, and nothing else in the folder."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

import jinja2
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


def test_govuk_frontend_is_vendored_without_the_gov_uk_typeface_and_matches_its_macros() -> None:
    govuk = next(p for p in PACKAGES if p["name"] == "govuk-frontend")
    folder = VENDOR / govuk["folder"]
    css = (folder / "govuk-frontend.min.css").read_text(encoding="utf-8")
    assert f'--govuk-frontend-version:"{govuk["version"]}"' in css
    assert (folder / "govuk-frontend.min.js").read_text(encoding="utf-8").startswith(
        f'const version="{govuk["version"]}"'
    )
    # GDS Transport is licensed for gov.uk domains only: no font file is shipped or served.
    assert not any(f["path"].endswith((".woff", ".woff2")) for f in govuk["files"])
    # The Jinja port of the macros is released per govuk-frontend version; 3.10.0 ports 5.14.0.
    assert importlib.metadata.version("govuk-frontend-jinja") == "3.10.0"
    assert govuk["version"] == "5.14.0"
    font = (web.STATIC_DIR / "govuk-font.css").read_text(encoding="utf-8")
    assert font.count("@font-face") == 2 and "url(" not in font
    for name in ("govuk-frontend.min.css", "govuk-frontend.min.js", "assets/images/favicon.svg"):
        assert f"vendor/{govuk['folder']}/{name}" in web.STATIC_FILES


def test_govuk_macros_render_in_the_console_environment_whose_own_names_stay_strict() -> None:
    page = web.TEMPLATES.from_string(
        '{% from "govuk_frontend_jinja/components/tag/macro.html" import govukTag %}'
        '{{ govukTag({"text": "Active", "classes": "govuk-tag--green"}) }}'
    ).render()
    assert '<strong class="govuk-tag govuk-tag--green">' in page and "Active" in page
    with pytest.raises(jinja2.UndefinedError):
        web.TEMPLATES.from_string("{{ misspelt }}").render()
    with pytest.raises(jinja2.UndefinedError):
        web.TEMPLATES.from_string("{% if misspelt %}x{% endif %}").render()
