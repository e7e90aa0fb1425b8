"""The route class of every API router: JSON request bodies are read by the strict decoder.

FastAPI reads a JSON body with `Request.json()`; this route hands each endpoint a request whose
`json()` is `schemas.json_strict.loads`, so that a name used twice or an unpaired surrogate is a 422
naming the field, before any dependency or endpoint runs and so before anything is stored. Set once
per router (`APIRouter(route_class=StrictJsonRoute)`), it covers every body route that router has.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from schemas.json_strict import JsonRefused, loads


def refusal_errors(exc: JsonRefused) -> list[dict[str, Any]]:
    """The gateway's {row, field, message} list, fields spelt as for pydantic's errors ("body.x")."""
    return [{"row": None, "field": ".".join(str(p) for p in ("body", *path)), "message": message}
            for path, message in exc.problems]


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = loads(await self.body())
            except JsonRefused as exc:
                # An HTTPException: FastAPI passes it on from reading the body, where it would turn any
                # other error into a 400 (a body that is not JSON stays its own 422, json_invalid).
                raise HTTPException(422, detail={"errors": refusal_errors(exc)}) from None
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return route
