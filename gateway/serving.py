"""Serving the HTTP API with uvicorn: a request head's size limit that answers why, and worker processes
that stop when their parent does.

`gateway serve --workers N` runs uvicorn's supervisor, which spawns N workers sharing one listening
socket. Killed with SIGKILL, the supervisor cannot stop them: they would go on serving the port, so that
a restart could not bind it. Each worker therefore watches its parent from the moment it starts.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

import h11
import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.auth import MAX_TOKEN_CHARS

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gateway.settings import Settings

log = structlog.get_logger("gateway.serving")

#: Largest request line and headers read. h11's default (16 KiB) refused an over-long bearer token with
#: a bare 400 before the gateway saw it; at 256 KiB the token check answers 401 and says why, and a
#: head larger still is a 431 that says why (the buffer is per connection, so it stays bounded).
MAX_REQUEST_HEAD_BYTES = 256 * 1024
#: How long a worker whose parent died may take to finish its requests before it exits regardless.
PARENT_GONE_GRACE_SECONDS = 10.0
#: How long a connection refused for an over-long head is read (and dropped) before it is closed.
LINGER_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class GatewayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, but a request head over the limit is answered 431 with the reason as
    JSON, as every other refusal is, rather than a plain-text 400 "Invalid HTTP request received"."""

    _draining = False

    def send_400_response(self, msg: str) -> None:
        buffered, _ = self.conn.trailing_data
        if len(buffered) <= MAX_REQUEST_HEAD_BYTES:
            super().send_400_response(msg)
            return
        body = json.dumps({"detail": (
            f"request headers too large: at most {MAX_REQUEST_HEAD_BYTES} bytes "
            f"(a bearer token at most {MAX_TOKEN_CHARS} characters)")}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        response = h11.Response(status_code=431, headers=headers, reason=b"Request Header Fields Too Large")
        for event in (response, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        # A lingering close: closing with the rest of the head unread would make the kernel reset the
        # connection, and a client still sending would lose the answer. Send end-of-file, read and drop
        # what still comes, and close when the client does or after a few seconds.
        self._draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._draining:
            super().data_received(data)


def uvicorn_options(host: str, port: int) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "access_log": False,  # the gateway logs one line per request itself (gateway.main)
        "log_config": None,
        "http": GatewayH11Protocol,
        "h11_max_incomplete_event_size": MAX_REQUEST_HEAD_BYTES,
    }


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers > 1:
        # An import string: each worker builds its own app, and starts watching its parent, in its process.
        uvicorn.run("gateway.serving:worker_app", factory=True, workers=workers,
                    **uvicorn_options(host, port))
        return
    from gateway.main import create_app
    from gateway.runtime import tune_gc_for_serving

    app = create_app(settings)
    tune_gc_for_serving()
    uvicorn.run(app, **uvicorn_options(host, port))


def worker_app() -> FastAPI:
    """The app of one worker of `gateway serve --workers N` (uvicorn calls it in the worker)."""
    exit_with_parent()
    from gateway.main import create_app
    from gateway.runtime import tune_gc_for_serving

    app = create_app()
    tune_gc_for_serving()
    return app


def exit_with_parent(grace_seconds: float = PARENT_GONE_GRACE_SECONDS) -> None:
    """In a process started by multiprocessing (as uvicorn's workers are): stop when the parent dies.

    Two mechanisms, either sufficient: on Linux the kernel sends SIGTERM on the parent's death
    (prctl PR_SET_PDEATHSIG), which uvicorn takes as a graceful shutdown; everywhere, a thread waits on
    multiprocessing's parent sentinel (a pipe only the parent holds open, so it reaches end-of-file
    however the parent ends), sends the same SIGTERM, and exits the process outright if the shutdown
    has not finished within the grace period. The thread also covers a parent that died before the
    prctl call, which the kernel would never signal."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return  # not a spawned worker: nothing supervises this process
    _ask_kernel_for_sigterm_on_parent_death()
    watch = threading.Thread(target=_stop_when_gone, args=(parent, grace_seconds), name="parent-watch",
                             daemon=True)
    watch.start()


def _ask_kernel_for_sigterm_on_parent_death() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False  # no prctl in this C library: the watch thread alone stands guard


def _stop_when_gone(parent: BaseProcess, grace_seconds: float) -> None:
    parent.join()  # returns once the parent's end of the sentinel pipe is closed: it has exited
    log.warning("serving_parent_gone", parent_pid=parent.pid, grace_seconds=grace_seconds)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_seconds)
    log.error("serving_parent_gone_exit", parent_pid=parent.pid)
    os._exit(1)
