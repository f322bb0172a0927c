"""Sample replies saved next to a tuned model: chosen from the data, written and read back."""

from __future__ import annotations

from tooltune.core.replies import REPLIES_FILE, load_replies, sample_replies, save_replies
from tooltune.core.types import Conversation, Message, make_call


def _conv(i: int) -> Conversation:
    call = make_call("complete_task", {"task_id": i}, f"c{i}")
    return Conversation(messages=[
        Message(role="user", content=f"finish {i}"),
        Message(role="assistant", content=None, tool_calls=[call]),
        Message(role="tool", tool_call_id=f"c{i}", content='{"ok":true}'),
        Message(role="assistant", content=f"Done: task {i}."),
    ])


def test_sample_spreads_over_the_data_as_the_model_writes_it():
    convs = [_conv(i) for i in range(10)]
    every = sample_replies(convs, limit=100)
    assert len(every) == 20
    assert every[0] == '<tool_call>{"name":"complete_task","arguments":{"task_id":0}}</tool_call>'
    assert every[1] == "Done: task 0."
    some = sample_replies(convs, limit=5)
    assert len(some) == 5 and some[0] == every[0] and some[-1] in every[14:]  # from start to end, in order
    assert sample_replies([], limit=5) == []


def test_saved_replies_read_back_and_damage_is_skipped(tmp_path):
    replies = ['<tool_call>{"name":"x","arguments":{"s":"a\\nb"}}</tool_call>', "Hi \u2014 there"]
    save_replies(tmp_path, replies)
    assert load_replies(tmp_path) == replies
    with (tmp_path / REPLIES_FILE).open("a") as f:
        f.write('{"not": "a string"}\n"unterminated\n""\n')
    assert load_replies(tmp_path) == replies
    assert load_replies(tmp_path / "missing") == [] and load_replies(None) == []
