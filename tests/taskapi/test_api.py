"""The Task API over real HTTP semantics (FastAPI TestClient) on a temp SQLite file."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tooltune.taskapi import create_app


@pytest.fixture
def app(tmp_path):
    return create_app(f"sqlite:///{tmp_path / 'tasks.db'}")


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def test_crud_round_trip(client):
    r = client.post("/tasks", json={"title": "renew passport", "priority": "high", "due_date": "2026-03-06"})
    assert r.status_code == 201
    task = r.json()
    assert task["id"] == 1 and task["status"] == "open" and task["due_date"] == "2026-03-06"
    assert task["description"] is None and task["created_at"] and task["updated_at"]

    assert client.get("/tasks/1").json()["title"] == "renew passport"

    r = client.patch("/tasks/1", json={"title": "renew passport online", "description": "form DS-82"})
    assert r.status_code == 200
    assert r.json()["title"] == "renew passport online"
    assert r.json()["priority"] == "high"  # untouched fields keep their values
    assert r.json()["updated_at"] >= task["updated_at"]

    assert client.post("/tasks/1/complete").json()["status"] == "done"
    again = client.post("/tasks/1/complete")
    assert again.status_code == 409 and again.json() == {"detail": "task 1 is already done"}

    assert client.delete("/tasks/1").status_code == 204
    assert client.get("/tasks/1").status_code == 404
    assert client.get("/tasks").json() == {"data": [], "count": 0}


def test_create_defaults(client):
    task = client.post("/tasks", json={"title": "  call mom  "}).json()
    assert task["title"] == "call mom"  # surrounding whitespace stripped
    assert task["priority"] is None and task["status"] == "open" and task["due_date"] is None


def test_list_filters(client):
    for title, prio in [("a", "low"), ("b", "high"), ("c", "high"), ("d", "medium")]:
        client.post("/tasks", json={"title": title, "priority": prio})
    client.post("/tasks/2/complete")

    def titles(**params):
        return [t["title"] for t in client.get("/tasks", params=params).json()["data"]]

    assert titles() == ["a", "b", "c", "d"]
    assert titles(status="open") == ["a", "c", "d"]
    assert titles(status="done") == ["b"]
    assert titles(priority="high") == ["b", "c"]
    assert titles(status="open", priority="high") == ["c"]
    assert client.get("/tasks", params={"priority": "high"}).json()["count"] == 2


def test_patch_can_clear_optional_fields_but_not_title(client):
    client.post("/tasks", json={"title": "x", "due_date": "2026-01-02", "description": "d"})
    client.patch("/tasks/1", json={"priority": "high"})
    r = client.patch("/tasks/1", json={"due_date": None, "description": None, "title": None, "priority": None})
    assert r.status_code == 200
    assert r.json()["due_date"] is None and r.json()["description"] is None and r.json()["title"] == "x"
    assert r.json()["priority"] is None
    assert client.patch("/tasks/1", json={"status": "done"}).json()["status"] == "done"
    assert client.patch("/tasks/1", json={"status": "open"}).json()["status"] == "open"


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"title": ""}, "title", "at least 1 character"),
        ({"title": "   "}, "title", "at least 1 character"),
        ({}, "title", "required"),
        ({"title": "x", "priority": "urgent"}, "priority", "'low', 'medium' or 'high'"),
        ({"title": "x", "due_date": "2026-02-30"}, "due_date", "not a real calendar date"),
        ({"title": "x", "due_date": "tomorrow"}, "due_date", "YYYY-MM-DD"),
        ({"title": "x", "due_date": "06/03/2026"}, "due_date", "YYYY-MM-DD"),
        ({"title": "x", "due_date": 1772755200}, "due_date", "YYYY-MM-DD"),
        ({"title": "x", "colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"title": "x", "status": "done"}, "status", "Extra inputs"),  # create is always open
    ],
)
def test_create_validation_422(client, body, field, words):
    r = client.post("/tasks", json=body)
    assert r.status_code == 422
    payload = r.json()
    assert any(e["loc"][-1] == field for e in payload["detail"])
    assert f"{field}: " in payload["message"] and words in payload["message"]
    assert client.get("/tasks").json()["count"] == 0


def test_update_validation_422(client):
    client.post("/tasks", json={"title": "x"})
    assert client.patch("/tasks/1", json={"title": ""}).status_code == 422
    assert client.patch("/tasks/1", json={"priority": "asap"}).status_code == 422
    assert client.patch("/tasks/1", json={"status": "archived"}).status_code == 422
    assert client.patch("/tasks/1", json={"due_date": "2026-13-01"}).status_code == 422
    assert client.get("/tasks", params={"status": "pending"}).status_code == 422
    assert client.get("/tasks/abc").status_code == 422
    assert client.get("/tasks/1").json()["title"] == "x"


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/tasks/42", None),
        ("PATCH", "/tasks/42", {"title": "y"}),
        ("POST", "/tasks/42/complete", None),
        ("DELETE", "/tasks/42", None),
    ],
)
def test_unknown_id_404(client, method, path, body):
    r = client.request(method, path, json=body)
    assert r.status_code == 404
    assert r.json() == {"detail": "task 42 not found"}


def test_api_key(tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'k.db'}", api_key="s3cret")
    with TestClient(app) as c:
        assert c.get("/tasks").status_code == 401
        assert c.post("/tasks", json={"title": "x"}).status_code == 401
        assert c.get("/tasks", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/tasks", headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/tasks", json={"title": "x"}, headers={"Authorization": "Bearer s3cret"}).status_code == 201
        assert c.get("/tasks", headers={"X-API-Key": "s3cret"}).json()["count"] == 1
        assert c.get("/health").status_code == 200  # health needs no key


def test_wal_mode_and_persistence(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    app = create_app(url)
    with app.state.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    with TestClient(app) as c:
        c.post("/tasks", json={"title": "survives restarts"})
    with TestClient(create_app(url)) as c:
        assert [t["title"] for t in c.get("/tasks").json()["data"]] == ["survives restarts"]


def test_openapi_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/tasks", "/tasks/{task_id}", "/tasks/{task_id}/complete", "/health"} <= set(spec["paths"])
    assert {"TaskCreate", "TaskUpdate", "TaskPublic", "TasksPublic"} <= set(spec["components"]["schemas"])
    assert client.get("/docs").status_code == 200


def test_in_memory_sqlite_url_works():
    # Any SQLAlchemy URL is accepted; an in-memory DB lives as long as its pooled connection.
    with TestClient(create_app("sqlite://")) as c:
        assert c.get("/health").json() == {"status": "ok"}
