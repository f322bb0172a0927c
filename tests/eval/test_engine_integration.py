"""In-process eval through the real transformers engine on the tiny test model (random weights:
the numbers are meaningless, the plumbing is what is tested)."""

from tooltune.eval import run_eval, write_report


def test_run_eval_with_the_real_engine(tiny_model_dir, eval_file, tmp_path):
    report = run_eval([str(tiny_model_dir)], data=eval_file, limit=2, max_tokens=12, progress=False)
    res = report["models"][0]["results"]["data"]
    assert res["summary"]["n"] == 2 and len(res["cases"]) == 2
    for case in res["cases"]:
        assert case["total_s"] > 0 and case["completion_tokens"] >= 1
    assert res["summary"]["latency_p50_s"] > 0 and res["summary"]["tokens_per_s_p50"] > 0
    paths = write_report(report, tmp_path / "r")
    assert paths["html"].stat().st_size > 1000
