"""A tooltune server on a scripted engine and a Task API, both in threads on 127.0.0.1."""

from __future__ import annotations

import pytest

from tooltune.taskapi import create_app as taskapi_app
from tooltune.taskapi.background import BackgroundServer


@pytest.fixture
def taskapi(tmp_path):
    with BackgroundServer(taskapi_app(f"sqlite:///{tmp_path / 'tasks.db'}")) as server:
        yield server


@pytest.fixture
def model_server():
    """``model_server(engine)`` -> base URL (ending in /v1) of our OpenAI-compatible server."""
    from tooltune.serve.app import create_app

    servers = []

    def start(engine) -> str:
        server = BackgroundServer(create_app({engine.name: engine})).start()
        servers.append(server)
        return server.url + "/v1"

    yield start
    for server in servers:
        server.stop()
