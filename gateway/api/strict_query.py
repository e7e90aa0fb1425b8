"""Refuse query parameters an operation does not take, as the strict JSON bodies refuse unknown keys.

A misspelt parameter (``?form=2025-09-01`` for ``from``) would otherwise be ignored, and the caller
would get the default window and believe it had asked for another. Operations that take no query
parameter at all keep ignoring them (they document no 422). The answer names the parameter only when
it looks like one of ours, so that a value a client put in the name never comes back in an error.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from gateway.errors import InvalidInput

_NAME = re.compile(r"^[a-z][a-z_]{0,39}$")
#: Kept on the route object itself (routes are not hashable, and an id could be reused by another
#: app's route once the first is collected).
_CACHED = "_gateway_query_names"


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _allowed(route: APIRoute) -> frozenset[str]:
    allowed: frozenset[str] | None = getattr(route, _CACHED, None)
    if allowed is None:
        allowed = frozenset(_query_names(route.dependant))
        setattr(route, _CACHED, allowed)
    return allowed


async def reject_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    allowed = _allowed(route)
    if not allowed:
        return
    unknown = sorted({k for k in request.query_params if k not in allowed})
    if unknown:
        raise InvalidInput([_error(name) for name in unknown[:10]])


def _error(name: str) -> dict[str, str | None]:
    if _NAME.match(name):
        return {"row": None, "field": name, "message": "this operation takes no such query parameter"}
    return {"row": None, "field": None, "message": "a query parameter this operation does not take"}
