"""structlog set-up: JSON outside dev, a request id on every line, no personal data.

Log calls pass facts (who, purpose, counts, durations). As a second line of defence a processor drops
any key that names an identifier and masks anything shaped like a UPN.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import structlog

IDENTIFIER_KEYS = frozenset({"upn", "upns", "forename", "surname", "date_of_birth", "dob", "name", "names"})
_UPN_SHAPE = re.compile(r"\b[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]\b")


def _scrub(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        if key.lower() in IDENTIFIER_KEYS:
            event_dict[key] = "[withheld]"
        else:
            value = event_dict[key]
            if isinstance(value, str) and _UPN_SHAPE.search(value):
                event_dict[key] = _UPN_SHAPE.sub("[upn withheld]", value)
    return event_dict


#: Where log lines go while `log_to` is in force; standard error otherwise.
_sink: IO[str] | None = None


@contextmanager
def log_to(path: Path) -> Iterator[Path]:
    """Send every log line to `path` (appended) while the block runs: a long command keeps its
    structured log in a file and its terminal for the progress display."""
    global _sink
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        previous, _sink = _sink, stream
        try:
            yield path
        finally:
            _sink = previous


def configure_logging(env: str = "dev", level: int = logging.INFO) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if env != "dev" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Looked up per logger, so that redirected stderr (tests, daemons) is honoured.
        logger_factory=lambda *args: structlog.PrintLogger(file=_sink or sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Keep uvicorn's access log quiet about query strings by routing it through our own middleware.
    logging.getLogger("uvicorn.access").disabled = True
