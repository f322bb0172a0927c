"""OpenAI-compatible HTTP server: ``create_app(engines)`` and the ``tooltune serve`` command."""

from .app import create_app

__all__ = ["create_app"]
