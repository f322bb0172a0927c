"""ValueEnds: where tool-call argument values end, and the runs that followed them."""

from __future__ import annotations

from tooltune.engine.value_ends import NAME, ValueEnds, argument_values

CALL = ['<tool_call>', '{"', 'name', '":"', 'update', '_task', '","', 'arguments', '":{"', 'task', '_id', '":',
        '3', '8', '2', ',"', 'title', '":"', 'go', ' home', '"}}', '</tool_call>']


def test_argument_values_finds_each_value_and_the_open_one():
    text = ('<tool_call>{"name":"t","arguments":{"s":"a \\"q\\" b","n":-1.5,"o":{"x":[1,"}"]},"b":true}}</tool_call>'
            '\n<tool_call>{"name":"u","arguments":{"id":47')
    got = [(tool, key, text[s:e] if e is not None else text[s:]) for tool, key, s, e in argument_values(text)]
    assert got == [("t", "s", '"a \\"q\\" b"'), ("t", "n", "-1.5"), ("t", "o", '{"x":[1,"}"]}'), ("t", "b", "true"),
                   ("u", "id", "47")]
    assert [e for *_, e in argument_values(text)][-1] is None  # still open
    assert argument_values("no call here") == [] and argument_values('<tool_call>{"name":"x","argu') == []


def test_counts_the_run_after_each_value_up_to_the_next_value_or_the_calls_end():
    ends = ValueEnds()
    for _ in range(2):
        ends.add(list(range(len(CALL))), CALL)
    assert ends.follow("update_task", "task_id") == [15, 16, 17]  # ,"  title  ":"
    assert ends.follow("update_task", "title") == [20, 21]  # "}}  </tool_call>
    assert ends.follow("create_task", "title") == []
    # after the name: up to the first value (its first token holds the value's first digit)
    assert ends.follow("update_task", NAME) == [6, 7, 8, 9, 10, 11]  # ","  arguments  ":{"  task  _id  ":


def test_needs_evidence_and_a_share():
    ends = ValueEnds(min_count=2, min_share=0.5)
    ends.add(list(range(len(CALL))), CALL)
    assert ends.follow("update_task", "title") == []  # seen once
    ends.add(list(range(len(CALL))), CALL)
    assert ends.follow("update_task", "title") == [20, 21]
    other = CALL[:18] + ['go', '","', 'priority', '":"', 'high', '"}}', '</tool_call>']
    for _ in range(3):
        ends.add(list(range(100, 100 + len(other))), other)
    assert ends.follow("update_task", "title") == [119, 120, 121]  # 3 of 5
    ends2 = ValueEnds(max_entries=2, min_count=1)
    ends2.add(list(range(len(CALL))), CALL)  # three entries (task_id, title, the name): two kept
    ends2.add(list(range(100, 100 + len(other))), other)  # four more: the first call's are forgotten
    assert ends2.follow("update_task", "task_id") == []
    assert len(ends2._texts) <= 2  # a forgotten run's text goes with it


def test_after_a_copy_that_stops_inside_or_runs_past_a_value():
    ends = ValueEnds(min_count=1)
    ends.add(list(range(len(CALL))), CALL)
    # '3' chosen, '8' '2' copied, then the message went on with a word the call refused
    assert ends.after_copy(CALL[:15], 2, stopped=True) == (0, [15, 16, 17])
    assert ends.after_copy(CALL[:15], 2, stopped=False) == (0, [])  # the copy was cut short, not ended
    # the copy took the comma after 382 from the message: cut back to the value, then the run
    assert ends.after_copy(CALL[:15] + [','], 3, stopped=True) == (1, [15, 16, 17])
    # a value that closed before the copy is not the copy's business
    assert ends.after_copy(CALL[:17], 1, stopped=True) == (0, [])
    # a closing quote merged with value text cannot be cut at
    assert ends.after_copy(CALL[:18] + ['go', ' home"'], 2, stopped=True) == (0, [])


def test_resume_finishes_a_run_the_model_began_its_own_way():
    """After a value (or a call's name) the model took a turn the draft did not: the rest of the
    usual run that begins with the text since the value's end, matched by text (the model may
    split the run into other tokens than the runs counted)."""
    ends = ValueEnds(min_count=1, min_share=0.3)
    other = CALL[:18] + ['go', '","', 'priority', '":"', 'high', '"}}', '</tool_call>']
    ends.add(list(range(len(CALL))), CALL)  # title, then "}}</tool_call>
    for _ in range(2):
        ends.add(list(range(100, 100 + len(other))), other)  # title, then ","priority":"
    title = CALL[:18] + ['go', ' home']
    assert ends.resume(title + ['",', '"']) == 'priority":"'  # "," as two tokens, not the run's one
    assert ends.resume(title + ['"']) == ',"priority":"'  # the majority of the runs that start with "
    assert ends.resume(title + ['"}}']) == "</tool_call>"
    assert ends.resume(title + ['"}', '}', '</tool_call>']) == ""  # the call is closed
    assert ends.resume(title) == ""  # the value is still open
    assert ends.resume(CALL[:7]) == 'arguments":{"task_id":'  # after the name: its arguments' opening
    assert ends.resume(CALL[:6]) == ""  # inside the name
    assert ValueEnds().resume(title + ['"']) == ""  # nothing counted
