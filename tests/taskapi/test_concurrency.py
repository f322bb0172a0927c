"""Concurrent writers over real HTTP: nothing lost, nothing duplicated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tooltune.taskapi import create_app
from tooltune.taskapi.background import BackgroundServer


def test_concurrent_creates_and_updates_lose_nothing(tmp_path):
    n_threads, per_thread = 16, 15
    with BackgroundServer(create_app(f"sqlite:///{tmp_path / 'c.db'}")) as server:

        def worker(w: int) -> list[int]:
            ids = []
            with httpx.Client(base_url=server.url, timeout=60) as c:
                for i in range(per_thread):
                    r = c.post("/tasks", json={"title": f"w{w}-{i}", "priority": "low"})
                    assert r.status_code == 201, r.text
                    ids.append(r.json()["id"])
                    # Interleave reads and updates with other threads' writes.
                    assert c.patch(f"/tasks/{ids[-1]}", json={"priority": "high"}).status_code == 200
            return ids

        with ThreadPoolExecutor(n_threads) as pool:
            returned = [i for ids in pool.map(worker, range(n_threads)) for i in ids]

        tasks = httpx.get(server.url + "/tasks", timeout=60).json()["data"]
    total = n_threads * per_thread
    assert len(returned) == len(set(returned)) == total  # every create got its own id
    assert len(tasks) == total
    assert sorted(t["id"] for t in tasks) == sorted(returned)
    assert sorted(t["title"] for t in tasks) == sorted(f"w{w}-{i}" for w in range(n_threads) for i in range(per_thread))
    assert all(t["priority"] == "high" for t in tasks)
