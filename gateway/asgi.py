"""ASGI entry point for multi-worker serving (`gateway serve --workers N`)."""

from gateway.main import create_app

app = create_app()
