"""``tooltune taskapi serve`` as a real process, and its one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from tooltune.taskapi.background import free_port
from tooltune.taskapi.cli import app

SERVE = [sys.executable, "-c", "from tooltune.taskapi.cli import app; app()", "serve"]


def test_serve_process(tmp_path):
    port = free_port()
    db = tmp_path / "served.db"
    proc = subprocess.Popen([*SERVE, "--port", str(port), "--database-url", f"sqlite:///{db}", "--api-key", "k"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        assert httpx.get(url + "/tasks").status_code == 401
        r = httpx.post(url + "/tasks", json={"title": "from the CLI"}, headers={"X-API-Key": "k"})
        assert r.status_code == 201
        assert httpx.get(url + "/docs").status_code == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert db.exists() and "Task API on http://127.0.0.1" in out


def test_bad_database_url_is_a_one_line_error():
    result = CliRunner().invoke(app, ["serve", "--database-url", "nosuchdb://x"])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot open database 'nosuchdb://x'") and "Traceback" not in result.output


def test_bad_port_is_a_one_line_error():
    result = CliRunner().invoke(app, ["serve", "--port", "70000"])
    assert result.exit_code == 2 and result.output.startswith("error: port:")
