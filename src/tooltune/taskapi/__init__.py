"""The Task API: a small REST service for tasks (FastAPI + SQLAlchemy).

It is the backend the agent's tools call. It imports nothing of tooltune's ML code.
"""

from .app import create_app

__all__ = ["create_app"]
