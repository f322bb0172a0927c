"""The README's copy-paste client code runs as written (against a live server on a scripted engine)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tooltune.engine.scripted import ScriptedEngine
from tooltune.serve.app import create_app
from tooltune.serve.background import serve_in_thread

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"<!-- readme-test -->\n```python\n(.*?)```", README.read_text(), flags=re.S)


def _answer(request) -> str:
    if request.messages[-1].role == "tool":
        return "Created task 1: renew my passport."
    return '<tool_call>{"name":"create_task","arguments":{"title":"renew my passport","priority":"high"}}</tool_call>'


def test_readme_has_the_client_examples():
    assert len(BLOCKS) == 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path):
    with serve_in_thread(create_app({"demo": ScriptedEngine(_answer)})) as url:
        code = BLOCKS[index].replace("http://127.0.0.1:8000/v1", url + "/v1")
        script = tmp_path / "snippet.py"
        script.write_text(code)
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert ("create_task" in out.stdout) if index == 0 else ("Created task 1" in out.stdout)
