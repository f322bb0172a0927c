"""The ``tooltune`` command: one sub-command per pipeline stage.

Stage modules import torch lazily (inside commands), so ``tooltune --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="tooltune: make a small open LLM a reliable tool-caller and serve it behind the OpenAI API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Stage registrations (each stage owns its own cli module).
from tooltune.data.cli import app as _data_app  # noqa: E402

app.add_typer(_data_app, name="data", help="Synthesize, validate, inspect and import tool-calling datasets.")

from tooltune.taskapi.cli import app as _taskapi_app  # noqa: E402

app.add_typer(_taskapi_app, name="taskapi", help="The Task API: the REST service the agent's tools call.")

from tooltune.export.cli import export as _export_cmd  # noqa: E402

app.command("export")(_export_cmd)

from tooltune.serve.cli import serve as _serve_cmd  # noqa: E402

app.command("serve")(_serve_cmd)

from tooltune.agent.cli import app as _agent_app  # noqa: E402

app.add_typer(_agent_app, name="agent", help="The task agent (Agents SDK) on a tooltune server; `agent e2e` runs the scenarios.")

from tooltune.eval.cli import eval_command as _eval_cmd  # noqa: E402

app.command("eval", help="Evaluate models side by side (accuracy, validity, latency, BFCL) and write a report.")(_eval_cmd)

from tooltune.train.cli import merge as _merge_cmd, train as _train_cmd  # noqa: E402

app.command("train")(_train_cmd)
app.command("merge")(_merge_cmd)


@app.command("demo")
def demo(
    out: str = typer.Option("runs/demo", help="Run directory (reused: a second run only redoes what is missing)."),
    n: int = typer.Option(2000, help="Conversations to generate (train + eval)."),
    eval_limit: int = typer.Option(40, help="Held-out conversations the tuned model is evaluated on."),
    base_limit: int = typer.Option(10, help="How many of those the base model is evaluated on (it rambles: slow)."),
    base_max_tokens: int = typer.Option(64, help="Completion tokens per turn for the base model (the tuned one gets 128)."),
    quantize: str = typer.Option("auto", help="Serving/eval weights, as `tooltune serve --quantize`: auto (bf16-linear where the CPU runs bfloat16 products fast), none (float32), bf16-linear, int8, w8a8 or bf16."),
) -> None:
    """The main job on the embedded model: data -> train -> eval base vs tuned -> serve + Task API
    -> end-to-end agent scenarios -> RUN/report.html and report.json."""
    from pathlib import Path

    from tooltune.demo import run_demo

    run_demo(Path(out), n=n, eval_limit=eval_limit, base_limit=base_limit, base_max_tokens=base_max_tokens, quantize=None if quantize == "none" else quantize)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
