import json
from pathlib import Path

import pytest

from tooltune.core.types import Conversation
from tooltune.core.validate import conversation_errors
from tooltune.data.importers import import_file, xlam_type_schema

FIXTURES = Path(__file__).parent / "fixtures"


def _run(fmt, name, tmp_path):
    out = tmp_path / f"{fmt}.jsonl"
    report = import_file(fmt, FIXTURES / name, out)
    convs = [Conversation.model_validate(json.loads(l)) for l in out.read_text().splitlines()] if out.exists() else []
    for c in convs:
        assert conversation_errors(c.messages, c.tools) == []
        assert c.meta["source"] == fmt
    return report, convs


def _calls(conv):
    return [(c.function.name, json.loads(c.function.arguments)) for m in conv.messages for c in m.tool_calls or []]


def test_glaive(tmp_path):
    report, convs = _run("glaive", "glaive.jsonl", tmp_path)
    assert (report.total, report.written) == (4, 2)
    assert [w for w, _ in report.skipped] == ["line 3", "line 4"]
    first = convs[0]
    assert [t.name for t in first.tools] == ["get_exchange_rate", "calculate_tip"]
    assert [m.role for m in first.messages] == ["user", "assistant", "tool", "assistant"] * 2
    assert _calls(first) == [("get_exchange_rate", {"base_currency": "USD", "target_currency": "EUR"}),
                             ("calculate_tip", {"bill_amount": 42.5, "tip_percentage": 15})]
    assert first.messages[2].content == '{"exchange_rate": 0.85}'
    assert first.messages[3].content == "The current exchange rate from USD to EUR is 0.85."
    assert first.meta["kind"] == "multi_turn"
    no_tools = convs[1]
    assert no_tools.tools == [] and no_tools.messages[0].role == "system"
    assert no_tools.messages[-1].content == "HTTP stands for HyperText Transfer Protocol."


def test_hermes(tmp_path):
    report, convs = _run("hermes", "hermes.jsonl", tmp_path)
    assert report.written == 1
    assert report.skipped == [("line 2", "a tool result without an earlier call")]
    conv = convs[0]
    assert [t.name for t in conv.tools] == ["get_stock_price", "get_company_news"]
    assert conv.messages[0].role == "user"  # the tools boilerplate system prompt is dropped
    assert _calls(conv) == [("get_stock_price", {"symbol": "TSLA"}),
                            ("get_company_news", {"symbol": "TSLA", "limit": 2})]
    tool_msgs = [m for m in conv.messages if m.role == "tool"]
    assert [m.content for m in tool_msgs] == ['{"price":191.97}', '{"headlines":["A","B"]}']
    assert [m.tool_call_id for m in tool_msgs] == [c.id for c in conv.messages[1].tool_calls]
    assert conv.meta["kind"] == "parallel"


def test_xlam(tmp_path):
    report, convs = _run("xlam", "xlam.json", tmp_path)
    assert report.written == 1
    assert report.skipped[0][0] == "record 1" and "'ten' is not of type 'integer'" in report.skipped[0][1]
    conv = convs[0]
    tools = {t.name: t.function.parameters for t in conv.tools}
    assert tools["factorial"] == {"type": "object", "properties": {
        "n": {"type": "integer", "description": "The number."},
        "cache": {"type": "boolean", "description": "Use a cache."}}, "required": ["n"]}
    assert "required" not in tools["live_giveaways_by_type"]  # has a default
    assert tools["sum_list"]["properties"]["numbers"]["items"] == {"type": "number"}
    assert _calls(conv) == [("live_giveaways_by_type", {"type": "beta"}), ("live_giveaways_by_type", {"type": "game"}),
                            ("factorial", {"n": 5})]


@pytest.mark.parametrize("text, schema, optional", [
    ("str", {"type": "string"}, False),
    ("int, optional", {"type": "integer"}, True),
    ("float, default=0.5", {"type": "number"}, True),
    ("List[str]", {"type": "array", "items": {"type": "string"}}, False),
    ("Optional[int]", {"type": "integer"}, True),
    ("Dict[str, Any]", {"type": "object"}, False),
    ("Union[int, str]", {}, False),
    ("Any", {}, False),
])
def test_xlam_types(text, schema, optional):
    assert xlam_type_schema(text) == (schema, optional)


def test_sharegpt(tmp_path):
    report, convs = _run("sharegpt", "sharegpt.jsonl", tmp_path)
    assert report.written == 1
    assert "'kelvin' is not one of" in report.skipped[0][1]
    conv = convs[0]
    assert conv.messages[0].role == "system" and conv.messages[0].content == "You are a weather bot."
    assert _calls(conv) == [("get_weather", {"city": "Oslo", "unit": "celsius"})]
    assert conv.messages[-1].content == "It's -3°C and snowing in Oslo."


def test_unreadable_json_list(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"query\": ")
    with pytest.raises(ValueError, match="not valid JSON"):
        import_file("xlam", bad, tmp_path / "o.jsonl")
