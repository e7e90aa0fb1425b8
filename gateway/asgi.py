"""ASGI entry point for multi-worker serving (`gateway serve --workers N`)."""

from gateway.main import create_app
from gateway.runtime import tune_gc_for_serving

app = create_app()
tune_gc_for_serving()
