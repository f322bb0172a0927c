"""The written files load with ``datasets.load_dataset("json")`` and round-trip exactly,
including heterogeneous tool schemas (imports mix many differently shaped parameter schemas)."""

import json
from pathlib import Path

from tooltune.core.tools import load_tools
from tooltune.core.types import Conversation
from tooltune.data.generate import generate, write_jsonl
from tooltune.data.importers import import_file

FIXTURES = Path(__file__).parent / "fixtures"


def _load(path, cache):
    import datasets

    datasets.disable_progress_bars()
    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))


def _same(path, ds):
    rows = [json.loads(l) for l in path.read_text().splitlines()]
    assert len(ds) == len(rows)
    for a, b in zip(rows, ds):
        assert Conversation.model_validate(b).to_json() == Conversation.model_validate(a).to_json()


def test_generated_taskapi_loads(tmp_path):
    splits = generate(load_tools("taskapi"), 120, seed=0)
    path = tmp_path / "train.jsonl"
    write_jsonl(splits["train"].rows, path)
    ds = _load(path, tmp_path / "cache")
    assert set(ds.column_names) == {"messages", "tools", "meta"}
    _same(path, ds)


def test_imported_heterogeneous_schemas_load(tmp_path):
    parts = []
    for fmt, name in (("glaive", "glaive.jsonl"), ("hermes", "hermes.jsonl"), ("xlam", "xlam.json"),
                      ("sharegpt", "sharegpt.jsonl")):
        out = tmp_path / f"{fmt}.jsonl"
        import_file(fmt, FIXTURES / name, out)
        parts.append(out.read_text())
    # conflicting types at the same schema paths, too
    odd = [{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
            "meta": {"kind": "no_call", "source": "test"},
            "tools": [{"type": "function", "function": {"name": f"t{i}", "description": "", "parameters": {
                "type": "object", "properties": {"p": schema}}}}]}
           for i, schema in enumerate([{"type": "integer", "default": 5, "enum": [1, 5]},
                                       {"type": ["string", "null"], "default": "x", "enum": ["x", "y"]},
                                       {"type": "array", "items": {"type": "object", "properties": {"q": {}}}}])]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(parts) + "".join(json.dumps(o) + "\n" for o in odd))
    _same(path, _load(path, tmp_path / "cache"))
