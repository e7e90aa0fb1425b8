"""Refuse query parameters an operation does not take, as the strict JSON bodies refuse unknown keys.

A misspelt parameter (``?form=2025-09-01`` for ``from``) would otherwise be ignored, and the caller
would get the default window and believe it had asked for another. A parameter of one value given
twice is refused too: the framework would keep the last and drop the first without a word.
Operations that take no query parameter at all keep ignoring them (they document no 422). The answer
names the parameter only when it looks like one of ours, so that a value a client put in the name
never comes back in an error.
"""

from __future__ import annotations

import re
import types
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from gateway.errors import InvalidInput

_NAME = re.compile(r"^[a-z][a-z_]{0,39}$")
#: Kept on the route object itself (routes are not hashable, and an id could be reused by another
#: app's route once the first is collected).
_CACHED = "_gateway_query_names"


def _is_list(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_list(arg) for arg in get_args(annotation) if arg is not type(None))
    return origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset)


def _query_names(dependant: Dependant) -> dict[str, bool]:
    """Each query parameter's name, and whether it takes several values."""
    names = {p.alias: _is_list(p.field_info.annotation) for p in dependant.query_params}
    for sub in dependant.dependencies:
        names.update(_query_names(sub))
    return names


def _allowed(route: APIRoute) -> dict[str, bool]:
    allowed: dict[str, bool] | None = getattr(route, _CACHED, None)
    if allowed is None:
        allowed = _query_names(route.dependant)
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
    params = request.query_params
    repeated = sorted({k for k in params if not allowed[k] and len(params.getlist(k)) > 1})
    if repeated:
        once = "given more than once; it takes one value"
        raise InvalidInput([{"row": None, "field": name, "message": once} for name in repeated])


def _error(name: str) -> dict[str, str | None]:
    if _NAME.match(name):
        return {"row": None, "field": name, "message": "this operation takes no such query parameter"}
    return {"row": None, "field": None, "message": "a query parameter this operation does not take"}
