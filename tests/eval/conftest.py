import json

import pytest

from .helpers import assistant, call, conv, tool_result, user


@pytest.fixture
def eval_file(tmp_path):
    """A small hand-written eval set: one conversation of each kind."""
    c_multi_1 = call("create_task", title="buy milk")
    convs = [
        conv("single", user("add a task: buy milk"), assistant(calls=[call("create_task", title="buy milk")]), cid="s1"),
        conv("parallel", user("complete tasks 3 and 4"),
             assistant(calls=[call("complete_task", task_id=3), call("complete_task", task_id=4)]), cid="p1"),
        conv("no_call", user("hi there"), assistant("Hello! How can I help with your tasks?"), cid="n1"),
        conv("clarify", user("change the due date"), assistant("Which task, and what new due date?"), cid="c1"),
        conv("multi_turn", user("add a task: buy milk"), assistant(calls=[c_multi_1]),
             tool_result(c_multi_1, '{"id": 7, "title": "buy milk"}'), assistant("Created task 7."),
             user("mark it done"), assistant(calls=[call("complete_task", task_id=7)]), cid="m1"),
    ]
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(c.to_json()) + "\n" for c in convs))
    return path
