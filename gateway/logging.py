"""structlog set-up: JSON outside dev, a request id on every line, no personal data.

Log calls pass facts (who, purpose, counts, durations). As a second line of defence a processor drops
any key that names an identifier and masks anything shaped like a UPN.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

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


def configure_logging(env: str = "dev", level: int = logging.INFO) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if env != "dev" else structlog.dev.ConsoleRenderer(colors=False)
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
        logger_factory=lambda *args: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Keep uvicorn's access log quiet about query strings by routing it through our own middleware.
    logging.getLogger("uvicorn.access").disabled = True
