"""Load and validate the purpose catalogue.

A catalogue that does not validate stops start-up: releasing under a half-understood policy is worse
than not starting. The message names the file, the purpose and the field so that whoever edited the
file can fix it without reading a traceback.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from policies.model import Catalogue, CatalogueDocument

DEFAULT_CATALOGUE = Path(__file__).parent / "catalogue" / "purposes.toml"


class CatalogueInvalid(Exception):
    """The catalogue file is missing, is not TOML, or breaks a rule of the catalogue schema."""


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read, validate and fingerprint a catalogue file (the shipped one when `path` is None)."""
    source = path if path is not None else DEFAULT_CATALOGUE
    try:
        raw = source.read_bytes()
    except OSError as error:
        raise CatalogueInvalid(f"{source}: cannot read the purpose catalogue ({error.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CatalogueInvalid(f"{source}: not a valid TOML file: {error}") from None
    try:
        document = CatalogueDocument.model_validate(data)
    except ValidationError as error:
        problems = "\n".join(f"  {_describe(source, data, e)}" for e in error.errors())
        raise CatalogueInvalid(f"{source}: invalid purpose catalogue\n{problems}") from None
    return Catalogue.model_validate(
        {
            **dict(document),
            "content_hash": hashlib.sha256(raw).hexdigest(),
            "source": source.name,
        }
    )


def _describe(source: Path, data: dict[str, Any], error: Any) -> str:
    """One problem as 'file: purpose 'id', field 'a.b': message'."""
    location = list(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    where = f"{source.name}:"
    if len(location) >= 2 and location[0] == "purposes" and isinstance(location[1], int):
        index = location[1]
        purposes = data.get("purposes")
        purpose_id = None
        if isinstance(purposes, list) and index < len(purposes) and isinstance(purposes[index], dict):
            purpose_id = purposes[index].get("id")
        where += f" purpose '{purpose_id}'" if isinstance(purpose_id, str) else f" purposes[{index}]"
        location = location[2:]
    if location:
        where += f" field '{_path(location)}'"
    return f"{where}: {message}"


def _path(location: list[Any]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
