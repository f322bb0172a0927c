"""The full e2e suite on the tuned embedded model, through our server (slow)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tuned_run() -> Path | None:
    """TOOLTUNE_E2E_MODEL, else the first tuned run that exists (default recipe, then the demo)."""
    if os.environ.get("TOOLTUNE_E2E_MODEL"):
        return Path(os.environ["TOOLTUNE_E2E_MODEL"])
    for path in (ROOT / "runs" / "default", ROOT / "runs" / "demo", ROOT.parent / "runs" / "default"):
        if (path / "model").is_dir():
            return path
    return None


@pytest.mark.slow
def test_tuned_model_passes_the_e2e_suite(tmp_path):
    run = _tuned_run()
    if run is None:
        pytest.skip("no tuned model: train one (tooltune train / make demo) or set TOOLTUNE_E2E_MODEL")
    from tooltune.agent.e2e import SCENARIOS, run_suite
    from tooltune.engine import load_engine
    from tooltune.serve.app import create_app
    from tooltune.taskapi.background import BackgroundServer

    engine = load_engine(run, name="tuned")
    with BackgroundServer(create_app({"tuned": engine})) as server:
        result = run_suite(server.url + "/v1", "tuned")
    (tmp_path / "e2e.json").write_text(json.dumps(result, indent=2))
    failed = [f"{r['name']}: {r['reason']}\n  " + "\n  ".join(r["trace"]) for r in result["scenarios"] if not r["passed"]]
    print(f"\ne2e on {run}: {result['passed']}/{result['total']} ({result['success_rate']:.1%}) "
          f"in {result['seconds']:.0f} s")
    assert result["total"] == len(SCENARIOS)
    assert result["success_rate"] >= 0.95, "\n".join(failed)
