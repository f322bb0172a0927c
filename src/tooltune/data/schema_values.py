"""Argument values synthesised from a JSON Schema (types, enums, formats, bounds, names).

Each value comes with the words a user would say for it (a date value 2026-03-06 may be
said "next Friday"); the value always validates against its schema or generation fails.
"""

from __future__ import annotations

import random
import re
from datetime import date
from typing import Any

try:  # the regex parser of the standard library (``sre_parse`` before 3.11)
    from re import _constants as _sre_c, _parser as _sre_p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_p  # type: ignore[no-redef]

from . import dates

CITIES = ["Paris", "Berlin", "Tokyo", "New York", "Lagos", "São Paulo", "Mumbai", "Toronto", "Sydney", "Madrid",
          "Cairo", "Seoul", "Oslo", "Lima", "Nairobi", "Austin", "Lisbon", "Vienna", "Dublin", "Hanoi"]
COUNTRIES = ["France", "Japan", "Brazil", "Kenya", "Canada", "India", "Germany", "Mexico", "Norway", "Vietnam"]
NAMES = ["Alice", "Bob", "Priya", "Jonas", "Maria", "Kenji", "Fatima", "Omar", "Lena", "Sofia", "Liam", "Yuki"]
TOPICS = ["electric cars", "sourdough bread", "the Roman empire", "quantum computing", "marathon training",
          "jazz history", "climate policy", "machine learning", "houseplants", "budget travel", "chess openings"]
LANGUAGES = ["English", "French", "Spanish", "German", "Japanese", "Portuguese", "Hindi", "Swahili"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "INR", "BRL", "CAD", "CHF"]
TICKERS = ["AAPL", "MSFT", "GOOGL", "TSLA", "AMZN", "NVDA", "SAP", "TM"]
COLORS = ["red", "blue", "green", "black", "white", "yellow", "purple"]
SENTENCES = ["running late, start without me", "the meeting moved to room 4", "please review the attached draft",
             "happy birthday!", "the package arrived today", "can we talk tomorrow?", "thanks for the help",
             "the report is ready", "lunch at noon?", "see you at the station"]
NOUNS = ["apple", "notebook", "river", "garden", "violin", "bicycle", "lantern", "harbor", "meadow", "rocket",
         "pencil", "mountain", "window", "compass", "teapot"]
PRODUCTS = ["wireless headphones", "running shoes", "a coffee grinder", "a desk lamp", "a yoga mat", "a backpack"]


class UnsupportedSchema(ValueError):
    """No value can be synthesised for a schema (e.g. a regex pattern too complex to sample)."""


_CATEGORY_CHARS = {
    _sre_c.CATEGORY_DIGIT: "0123456789",
    _sre_c.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    _sre_c.CATEGORY_SPACE: " ",
}


def sample_regex(rng: random.Random, pattern: str) -> str:
    """A string matching a simple regex (classes, ranges, repeats, groups, alternation)."""
    try:
        parsed = _sre_p.parse(pattern)
    except re.error as e:
        raise UnsupportedSchema(f"invalid pattern {pattern!r}: {e}") from None

    def chars_in(items: Any) -> list[str]:
        out: list[str] = []
        negate = False
        for op, av in items:
            if op == _sre_c.NEGATE:
                negate = True
            elif op == _sre_c.LITERAL:
                out.append(chr(av))
            elif op == _sre_c.RANGE:
                out += [chr(c) for c in range(av[0], min(av[1], av[0] + 200) + 1)]
            elif op == _sre_c.CATEGORY and av in _CATEGORY_CHARS:
                out += list(_CATEGORY_CHARS[av])
            else:
                raise UnsupportedSchema(f"pattern {pattern!r} is too complex to sample")
        if negate:
            out = [c for c in "abcdefghijklmnopqrstuvwxyz0123456789" if c not in out]
        return out

    def gen(seq: Any) -> str:
        out = []
        for op, av in seq:
            if op == _sre_c.LITERAL:
                out.append(chr(av))
            elif op == _sre_c.ANY:
                out.append(rng.choice("abcdefghijklmnopqrstuvwxyz"))
            elif op == _sre_c.IN:
                out.append(rng.choice(chars_in(av)))
            elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT):
                lo, hi, sub = av
                hi = min(hi, lo + 8) if hi != _sre_c.MAXREPEAT else lo + rng.randint(1, 8)
                out += [gen(sub) for _ in range(rng.randint(lo, max(lo, hi)))]
            elif op == _sre_c.SUBPATTERN:
                out.append(gen(av[-1]))
            elif op == _sre_c.BRANCH:
                out.append(gen(rng.choice(av[1])))
            elif op == _sre_c.AT:
                continue
            elif op == _sre_c.CATEGORY and av in _CATEGORY_CHARS:
                out.append(rng.choice(_CATEGORY_CHARS[av]))
            else:
                raise UnsupportedSchema(f"pattern {pattern!r} is too complex to sample")
        return "".join(out)

    return gen(parsed)


def _words(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ").lower()


def is_date_schema(name: str, schema: dict[str, Any]) -> bool:
    pattern = schema.get("pattern", "")
    return (schema.get("format") == "date" or r"\d{4}-\d{2}-\d{2}" in pattern
            or "YYYY-MM-DD" in schema.get("description", "") or
            (schema.get("type") == "string" and not pattern and re.search(r"(^|_)date$", name) is not None))


def _string(rng: random.Random, name: str, schema: dict[str, Any], today: date) -> tuple[Any, str]:
    n = name.lower()
    fmt = schema.get("format")
    if is_date_schema(name, schema):
        phrase, iso = dates.date_phrase(rng, today, "due")
        return iso, phrase
    if schema.get("pattern"):
        v = sample_regex(rng, schema["pattern"])
        return v, v
    if fmt == "date-time":
        d = today.replace(day=min(today.day, 28))
        v = f"{d.isoformat()}T{rng.randint(7, 20):02d}:{rng.choice(['00', '15', '30', '45'])}:00"
        return v, v
    if fmt == "time" or n.endswith("time"):
        v = f"{rng.randint(7, 20):02d}:{rng.choice(['00', '30'])}"
        return v, v
    if fmt == "email" or "email" in n:
        v = f"{rng.choice(NAMES).lower()}@example.com"
        return v, v
    if fmt in ("uri", "url") or "url" in n or "link" in n:
        v = f"https://example.com/{rng.choice(NOUNS)}"
        return v, v
    for keys, bank in ((("city", "location", "place", "destination", "origin"), CITIES),
                       (("country",), COUNTRIES), (("language", "lang", "locale"), LANGUAGES),
                       (("currency",), CURRENCIES), (("symbol", "ticker", "stock"), TICKERS),
                       (("color", "colour"), COLORS),
                       (("name", "person", "user", "author", "recipient", "contact"), NAMES),
                       (("query", "search", "keyword", "topic", "term", "subject"), TOPICS),
                       (("message", "text", "body", "content", "note", "comment", "description", "prompt"), SENTENCES),
                       (("product", "item"), PRODUCTS)):
        if any(k == n or n.endswith(k) or n.startswith(k) for k in keys):
            v = rng.choice(bank)
            return v, v
    if n.endswith("id") or n.endswith("_id"):
        v = f"{rng.choice('ABCDEFGHJK')}{rng.randint(100, 9999)}"
        return v, v
    v = rng.choice(NOUNS) if rng.random() < 0.6 else f"{rng.choice(COLORS)} {rng.choice(NOUNS)}"
    return v, v


def _bounds(schema: dict[str, Any], lo: float, hi: float) -> tuple[float, float]:
    if "minimum" in schema:
        lo = schema["minimum"]
    if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], (int, float)):
        lo = schema["exclusiveMinimum"] + 1
    if "maximum" in schema:
        hi = schema["maximum"]
    if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], (int, float)):
        hi = schema["exclusiveMaximum"] - 1
    if hi < lo:
        hi = lo + 10
    return lo, hi


def _default_range(name: str) -> tuple[int, int]:
    n = name.lower()
    if "year" in n:
        return 1990, 2030
    if "age" in n:
        return 18, 90
    if any(k in n for k in ("limit", "count", "num", "max", "size", "top", "page")):
        return 1, 20
    if n.endswith("id"):
        return 1, 999
    return 1, 100


def value_for(rng: random.Random, name: str, schema: Any, today: date, depth: int = 0) -> tuple[Any, str]:
    """(value, how a user says it) for one argument."""
    if not isinstance(schema, dict):
        schema = {}
    if "const" in schema:
        return schema["const"], str(schema["const"])
    if "enum" in schema and schema["enum"]:
        v = rng.choice(schema["enum"])
        return v, str(v)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if isinstance(s, dict) and s.get("type") != "null"] or [{}]
            return value_for(rng, name, rng.choice(options), today, depth)
    t = schema.get("type", "string")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    if t == "string":
        return _string(rng, name, schema, today)
    if t == "integer":
        lo, hi = _bounds(schema, *_default_range(name))
        v = rng.randint(int(lo), int(hi))
        return v, str(v)
    if t == "number":
        lo, hi = _bounds(schema, *_default_range(name))
        v = round(rng.uniform(lo, hi), rng.choice([0, 1, 2]))
        v = min(max(v, lo), hi)
        return v, str(v)
    if t == "boolean":
        v = rng.random() < 0.5
        return v, ("yes" if v else "no") if rng.random() < 0.5 else str(v).lower()
    if t == "array":
        lo = schema.get("minItems", 1)
        hi = max(lo, min(schema.get("maxItems", 3), 3))
        singular = name[:-1] if name.endswith("s") else name
        items = [value_for(rng, singular, schema.get("items", {}), today, depth + 1) for _ in range(rng.randint(lo, hi))]
        if schema.get("uniqueItems"):
            seen, uniq = set(), []
            for v, p in items:
                key = repr(v)
                if key not in seen:
                    seen.add(key)
                    uniq.append((v, p))
            items = uniq
        return [v for v, _ in items], " and ".join(p for _, p in items) if items else "none"
    if t == "object":
        if depth > 3:
            return {}, "{}"
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        out, said = {}, []
        for pname, pschema in props.items():
            if pname in required or rng.random() < 0.5:
                v, p = value_for(rng, pname, pschema, today, depth + 1)
                out[pname] = v
                said.append(f"{_words(pname)} {p}")
        return out, ", ".join(said) if said else "nothing"
    if t == "null":
        return None, "none"
    return _string(rng, name, schema, today)


def words_for(name: str) -> str:
    """``due_date`` -> "due date"; ``maxResults`` -> "max results"."""
    return _words(name)
