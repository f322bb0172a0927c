"""Berkeley Function Calling Leaderboard (BFCL) suites, read from the ``bfcl-eval`` wheel's data.

The wheel (``pip install --no-deps bfcl-eval==2026.3.23``) is used as a data package only: its
files are located with ``importlib.util.find_spec`` and never imported (its modules pull a large
pinned dependency set).

Function docs are turned into OpenAI tools the way BFCL does for function-calling models
(``bfcl_eval/model_handler/utils.py``: ``convert_to_tool`` with ``GORILLA_TO_OPENAPI`` from
``bfcl_eval/constants/type_mappings.py``; the Python language hint from ``bfcl_eval/utils.py``:
``_func_doc_language_specific_pre_processing``), and answers are scored by a re-implementation
of ``bfcl_eval/eval_checker/ast_eval/ast_checker.py`` (Python rules; dots in function names
become underscores as for OpenAI-style models, ``underscore_to_dot``), with irrelevance scored as
in ``bfcl_eval/eval_checker/eval_runner.py`` (right when no call is made).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from tooltune.core.tools import parse_tools
from tooltune.core.types import Message

from .cases import EvalCase

BFCL_VERSION = "2026.3.23"
INSTALL_HINT = f"pip install --no-deps bfcl-eval=={BFCL_VERSION}"

CATEGORIES = {
    "simple": "simple_python",
    "multiple": "multiple",
    "parallel": "parallel",
    "parallel_multiple": "parallel_multiple",
    "irrelevance": "irrelevance",
}
"""Suite name -> BFCL v4 file stem (non-live categories)."""

PUBLISHED = {
    "simple": [
        {"model": "FunctionGemma 270M", "score": 61.6, "source": "published, BFCL leaderboard / model cards (FunctionGemma model card, BFCL non-live simple)"},
        {"model": "Qwen3-0.6B", "score": 64.17, "source": "published, BFCL leaderboard / model cards (non-live simple)"},
        {"model": "Hammer2.1-0.5b", "score": 62.42, "source": "published, BFCL leaderboard / model cards (non-live simple)"},
    ],
}
"""Reference numbers (accuracy %) shown next to ours; not measured here."""


class BFCLError(ValueError):
    """BFCL data missing or a suite name we do not know."""


# ---------------------------------------------------------------- data

def data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise BFCLError(f"BFCL data not installed; run: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not path.is_dir():
        raise BFCLError(f"bfcl_eval has no data directory at {path}; run: {INSTALL_HINT}")
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def suite_category(suite: str) -> str:
    """``bfcl:simple`` -> ``simple``; raises BFCLError for unknown names."""
    name = suite.split(":", 1)[1] if suite.startswith("bfcl:") else suite
    if name not in CATEGORIES:
        raise BFCLError(f"unknown BFCL category {name!r} (choose from: {', '.join(CATEGORIES)})")
    return name


def load_suite(suite: str, limit: int | None = None, root: Path | None = None) -> list[EvalCase]:
    """Cases of one BFCL category (first ``limit`` entries, in file order)."""
    category = suite_category(suite)
    root = root or data_dir()
    stem = f"BFCL_v4_{CATEGORIES[category]}.json"
    entries = _read_jsonl(root / stem)
    answers: dict[str, Any] = {}
    answer_file = root / "possible_answer" / stem
    if answer_file.is_file():
        answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(answer_file)}
    elif category != "irrelevance":
        raise BFCLError(f"missing possible answers: {answer_file}")
    if limit is not None:
        entries = entries[:limit]
    cases = []
    for e in entries:
        functions = add_python_hint(e["function"])
        tools = parse_tools(functions_to_tools(functions))
        messages = [Message.model_validate(m) for m in e["question"][0]]
        cases.append(EvalCase(
            id=e["id"], conversation_id=e["id"], turn=0, category=f"bfcl:{category}", messages=messages,
            tools=tools, bfcl={"functions": functions, "possible_answer": answers.get(e["id"], []), "category": category},
        ))
    return cases


# ---------------------------------------------------------------- function docs -> tools

GORILLA_TO_OPENAPI = {
    "integer": "integer", "number": "number", "float": "number", "string": "string", "boolean": "boolean",
    "bool": "boolean", "array": "array", "list": "array", "dict": "object", "object": "object", "tuple": "array",
    "any": "string", "byte": "integer", "short": "integer", "long": "integer", "double": "number", "char": "string",
    "ArrayList": "array", "Array": "array", "HashMap": "object", "Hashtable": "object", "Queue": "array",
    "Stack": "array", "Any": "string", "String": "string", "Bigint": "integer",
}
"""Copied from bfcl_eval/constants/type_mappings.py."""


def add_python_hint(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BFCL appends a language hint to every description before prompting (bfcl_eval/utils.py)."""
    out = copy.deepcopy(functions)
    for f in out:
        f["description"] = f.get("description", "") + " Note that the provided function is in Python 3 syntax."
    return out


def _cast_types(properties: dict[str, Any]) -> dict[str, Any]:
    # bfcl_eval/model_handler/utils.py: _cast_to_openai_type
    for key, value in properties.items():
        if "type" not in value:
            value["type"] = "string"
        else:
            t = value["type"]
            if t == "float":
                value["format"] = "float"
                value["description"] = value.get("description", "") + " This is a float type value."
            value["type"] = GORILLA_TO_OPENAPI.get(t, "string")
        if value["type"] in ("array", "object"):
            if "properties" in value:
                value["properties"] = _cast_types(value["properties"])
            elif "items" in value:
                items = value["items"]
                items["type"] = GORILLA_TO_OPENAPI.get(items.get("type", "string"), "string")
                if items["type"] == "array" and "items" in items:
                    items["items"]["type"] = GORILLA_TO_OPENAPI.get(items["items"].get("type", "string"), "string")
                elif items["type"] == "object" and "properties" in items:
                    items["properties"] = _cast_types(items["properties"])
    return properties


def functions_to_tools(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BFCL function docs -> OpenAI tools (``convert_to_tool`` for OpenAI-style models)."""
    tools = []
    for item in copy.deepcopy(functions):
        item["name"] = re.sub(r"\.", "_", item["name"])
        params = item.setdefault("parameters", {})
        params["type"] = "object"
        params["properties"] = _cast_types(params.get("properties", {}))
        tools.append({"type": "function", "function": item})
    return tools


# ---------------------------------------------------------------- AST checker (Python rules)

PYTHON_TYPE_MAPPING = {"string": str, "integer": int, "float": float, "boolean": bool, "array": list,
                       "tuple": list, "dict": dict, "any": str}
NESTED_TYPES = ("array", "tuple")


def _ok() -> dict[str, Any]:
    return {"valid": True, "error": []}


def _bad(error: str, error_type: str) -> dict[str, Any]:
    return {"valid": False, "error": [error], "error_type": error_type}


def convert_func_name(name: str) -> str:
    return re.sub(r"\.", "_", name)


def standardize_string(s: str) -> str:
    """Drop spaces and ``,./-_*^``, lowercase, single -> double quotes (so 'April 1, 2024' matches 'April 1 2024')."""
    return re.sub(r"[ \,\.\/\-\_\*\^]", "", s).lower().replace("'", '"')


def _answer_type(possible: list) -> type | None:
    for answer in possible:
        if answer != "":
            return type(answer)
    return None


def type_check(param: str, value: Any, possible: list, expected_desc: str, expected: type, nested: type | None) -> dict[str, Any]:
    """Value has the declared type (one level of nesting), or the answer's type ('variable' use)."""
    answer_type = _answer_type(possible)
    is_variable = answer_type is not None and answer_type != expected
    if type(value) == expected:
        if nested is None:
            return {"valid": True, "error": [], "is_variable": is_variable}
        for item in possible:
            flag = True
            if type(item) == list:
                for v in value:
                    if not type_check(param, v, item, str(nested), nested, None)["valid"]:
                        flag = False
                        break
            if flag:
                return {"valid": True, "error": [], "is_variable": is_variable}
        nested_error = f"Nested type checking failed for parameter {param!r}."
    else:
        nested_error = None
    if answer_type is not None and type(value) == answer_type:
        if nested_error:  # BFCL returns its already-failed result here
            return {"valid": False, "error": [nested_error], "error_type": "type_error:nested", "is_variable": True}
        return {"valid": True, "error": [], "is_variable": True}
    errors = ([nested_error] if nested_error else []) + [
        f"Incorrect type for parameter {param!r}. Expected type {expected_desc}, got {type(value).__name__}. Parameter value: {value!r}."]
    return {"valid": False, "error": errors, "error_type": "type_error:simple", "is_variable": False}


def string_check(param: str, value: str, possible: list) -> dict[str, Any]:
    options = [standardize_string(p) for p in possible if type(p) == str]
    if standardize_string(value) not in options:
        return _bad(f"Invalid value for parameter {param!r}: {value!r}. Expected one of {possible}. Case insensitive.", "value_error:string")
    return _ok()


def list_check(param: str, value: list, possible: list) -> dict[str, Any]:
    norm = [standardize_string(v) if type(v) == str else v for v in value]
    options = [[standardize_string(x) if type(x) == str else x for x in p] for p in possible if isinstance(p, list)]
    if norm not in options:
        return _bad(f"Invalid value for parameter {param!r}: {value!r}. Expected one of {possible}.", "value_error:list/tuple")
    return _ok()


def dict_check(param: str, value: dict, possible: list) -> dict[str, Any]:
    result = _bad("no possible answer", "dict_checker:unclear")
    for answer in possible:
        if answer == "":
            continue
        flag = True
        for key, v in value.items():
            if key not in answer:
                result, flag = _bad(f"Unexpected dict key parameter: {key!r}.", "value_error:dict_key"), False
                break
            sv = standardize_string(v) if type(v) == str else v
            options = [standardize_string(x) if type(x) == str else x for x in answer[key]]
            if sv not in options:
                result, flag = _bad(f"Invalid value for parameter {key!r}: {v!r}. Expected one of {options}.", "value_error:dict_value"), False
                break
        if flag:
            for key, options in answer.items():
                if key not in value and "" not in options:
                    result, flag = _bad(f"Missing dict key parameter: {key!r}.", "value_error:dict_key"), False
                    break
        if flag:
            return _ok()
    return result


def list_dict_check(param: str, value: list, possible: list) -> dict[str, Any]:
    result = _bad("no possible answer", "list_dict_checker:unclear")
    for answer in possible:
        if not isinstance(answer, list) or len(value) != len(answer):
            result = _bad("Wrong number of dictionaries in the list.", "value_error:list_dict_count")
            continue
        flag = True
        for got, want in zip(value, answer):
            result = dict_check(param, got, [want]) if isinstance(got, dict) else _bad("not a dict", "value_error:list_dict")
            if not result["valid"]:
                flag = False
                break
        if flag:
            return _ok()
    return result


def find_description(functions: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((f for f in functions if f["name"] == name), None)


def simple_check(description: dict[str, Any], call: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """One call ``{name: args}`` against one possible answer ``{name: {param: [options]}}``."""
    possible = list(answer.values())[0]
    name = convert_func_name(description["name"])
    properties = description["parameters"]["properties"]
    required = description["parameters"].get("required", [])
    if name not in call:
        return _bad(f"Function name {name!r} not found in model output.", "simple_function_checker:wrong_func_name")
    params = call[name]
    if not isinstance(params, dict):
        return _bad("Arguments are not an object.", "simple_function_checker:bad_args")
    for p in required:
        if p not in params:
            return _bad(f"Missing required parameter: {p!r}.", "simple_function_checker:missing_required")
    for p, value in params.items():
        if p not in properties or p not in possible:
            return _bad(f"Unexpected parameter: {p!r}.", "simple_function_checker:unexpected_param")
        desc = properties[p].get("type", "string")
        expected = PYTHON_TYPE_MAPPING.get(desc, str)
        nested = None
        if desc in NESTED_TYPES:
            nested = PYTHON_TYPE_MAPPING.get(properties[p].get("items", {}).get("type", "string"), str)
        if desc == "float" and type(value) == int:  # Python's int -> float promotion is accepted
            value = float(value)
        tc = type_check(p, value, possible[p], desc, expected, nested)
        if not tc["valid"]:
            return tc
        if not tc["is_variable"]:
            if expected == dict:
                r = dict_check(p, value, possible[p])
            elif expected == list and nested == dict:
                r = list_dict_check(p, value, possible[p])
            elif expected == str:
                r = string_check(p, value, possible[p])
            elif expected == list:
                r = list_check(p, value, possible[p])
            else:
                r = None
            if r is not None:
                if not r["valid"]:
                    return r
                continue
        if value not in possible[p]:
            return _bad(f"Invalid value for parameter {p!r}: {value!r}. Expected one of {possible[p]}.", "value_error:others")
    for p in possible:
        if p not in params and "" not in possible[p]:
            return _bad(f"Optional parameter {p!r} not provided and not marked as optional.", "simple_function_checker:missing_optional")
    return _ok()


def parallel_check_no_order(functions: list[dict[str, Any]], calls: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Every possible answer is matched by a different call, in any order."""
    if len(calls) != len(answers):
        return _bad("Wrong number of functions.", "parallel_function_checker_no_order:wrong_count")
    matched: set[int] = set()
    for i, answer in enumerate(answers):
        description = find_description(functions, list(answer)[0])
        if description is None:
            return _bad(f"no function doc for {list(answer)[0]!r}", "checker:missing_doc")
        for j, call in enumerate(calls):
            if j in matched:
                continue
            if simple_check(description, call, answer)["valid"]:
                matched.add(j)
                break
        else:
            return _bad(f"Could not find a matching function for index {i} of possible answers.",
                        "parallel_function_checker_no_order:cannot_find_match")
    return _ok()


def check(functions: list[dict[str, Any]], calls: list[dict[str, Any]] | None, answers: list[dict[str, Any]], category: str) -> dict[str, Any]:
    """BFCL verdict for one entry. ``calls`` is the decoded model output (``[{name: args}, ...]``),
    None when the output holds no decodable call."""
    if category == "irrelevance":
        has_call = bool(calls) and not (len(calls) == 1 and not calls[0])
        if has_call:
            return _bad("Valid syntax. Successfully decode AST when it should not.", "irrelevance_error:decoder_success")
        return _ok()
    if not calls:
        return _bad("Failed to decode a function call.", "ast_decoder:decoder_failed")
    if "parallel" in category:
        return parallel_check_no_order(functions, calls, answers)
    if len(calls) != len(answers):
        return _bad("Wrong number of functions.", f"{'multiple' if 'multiple' in category else 'simple'}_function_checker:wrong_count")
    description = find_description(functions, list(answers[0])[0]) if "multiple" in category else functions[0]
    if description is None:
        return _bad(f"no function doc for {list(answers[0])[0]!r}", "checker:missing_doc")
    return simple_check(description, calls[0], answers[0])
