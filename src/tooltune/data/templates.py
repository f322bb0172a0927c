"""Phrasing templates tagged by id, split per pool into train and eval templates.

A pool is a list of phrasings of one intent (or one argument modifier). Each pool is split
~75/25 with a fixed, seed-independent shuffle, so the eval split always uses phrasings the
train split never sees, whatever ``--seed`` is.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable, Mapping

SPLITS = ("train", "eval")
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Template:
    id: str
    text: str

    def slots(self) -> set[str]:
        return set(_SLOT.findall(self.text))


class Bank:
    """Pools of templates with a stable train/eval split."""

    def __init__(self, pools: Mapping[str, list[str]], eval_share: float = 0.25):
        self.pools: dict[str, list[Template]] = {}
        self._split: dict[tuple[str, str], list[Template]] = {}
        for name, texts in pools.items():
            if len(texts) < 2:
                raise ValueError(f"template pool {name!r} needs at least 2 templates to split train/eval")
            if len(set(texts)) != len(texts):
                dup = next(t for t in texts if texts.count(t) > 1)
                raise ValueError(f"template pool {name!r} repeats {dup!r}")
            tpls = [Template(f"{name}.{i:03d}", t) for i, t in enumerate(texts)]
            self.pools[name] = tpls
            order = list(range(len(tpls)))
            random.Random("split:" + name).shuffle(order)  # str seeds are stable across runs
            n_eval = max(1, round(len(tpls) * eval_share))
            eval_idx = set(order[:n_eval])
            self._split[(name, "eval")] = [t for i, t in enumerate(tpls) if i in eval_idx]
            self._split[(name, "train")] = [t for i, t in enumerate(tpls) if i not in eval_idx]

    def templates(self, pool: str, split: str) -> list[Template]:
        return self._split[(pool, split)]

    def pick(self, rng: random.Random, pool: str, split: str,
             accept: Callable[[Template], bool] | None = None) -> Template:
        choices = self.templates(pool, split)
        if accept is not None:
            choices = [t for t in choices if accept(t)] or choices
        return rng.choice(choices)


def fill(text: str, values: Mapping[str, object]) -> str:
    """Replace ``{slot}`` markers; a slot without a value is a bug in the caller."""
    def sub(m: re.Match) -> str:
        if m[1] not in values:
            raise KeyError(f"template slot {{{m[1]}}} has no value in {text!r}")
        return str(values[m[1]])
    return _SLOT.sub(sub, text)


# --- surface noise: applied to a template's literal words only, never to slot values ---

_KEYBOARD_NEAR = {"a": "s", "s": "a", "e": "r", "r": "e", "t": "r", "i": "o", "o": "i", "n": "m", "m": "n",
                  "k": "l", "l": "k", "d": "f", "h": "j", "u": "y", "c": "v"}


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:  # swap neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1:]
    if kind == 2:  # double a letter
        return word[:i] + word[i] + word[i:]
    return word[:i] + _KEYBOARD_NEAR.get(word[i], word[i]) + word[i + 1:]


def _noisy_literal(rng: random.Random, text: str, typo_rate: float) -> str:
    return re.sub(r"[A-Za-z]+", lambda m: _typo(rng, m[0]) if rng.random() < typo_rate else m[0], text)


def realize(rng: random.Random, text: str, values: Mapping[str, object], style: str, fragment: bool = False) -> str:
    """Fill a template in a surface style: "plain", "casual" (lowercase, no final punctuation),
    "terse" (casual, fewer filler words) or "misspelt" (typos in the template's own words).
    A ``fragment`` (a phrase that goes inside another message) is never re-capitalised or cut."""
    parts = _SLOT.split(text)  # literal, slot, literal, slot, ...
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 1:
            if part not in values:
                raise KeyError(f"template slot {{{part}}} has no value in {text!r}")
            out.append(str(values[part]))
            continue
        lit = part
        if style in ("casual", "terse", "misspelt"):
            lit = lit.lower()
        if style == "terse":
            lit = re.sub(r"\b(please|pls|plz|kindly)\b ?", "", lit)
            if i == 0:
                lit = re.sub(r"^\s*(could you|can you|would you) ", "", lit)
        if style == "misspelt":
            lit = _noisy_literal(rng, lit, 0.18)
        out.append(lit)
    s = "".join(out).strip()
    s = re.sub(r"\s{2,}", " ", s)
    s = re.sub(r"\s+([,.?!])", r"\1", s)
    if parts[0] == "" and len(parts) > 1 and str(values[parts[1]]) == "":
        s = s.lstrip(",:;- ")  # the template began with a slot left empty
    if fragment:
        return s
    ends_literal = bool(parts[-1].strip())  # never cut a slot value's own punctuation
    if style in ("casual", "terse") and ends_literal and s and s[-1] in ".!" and rng.random() < 0.7:
        s = s[:-1]
    starts_literal = bool(parts[0].strip())  # never re-case a slot value (a title must stay verbatim)
    if style == "plain" and starts_literal and s and s[0].islower() and rng.random() < 0.6:
        s = s[0].upper() + s[1:]
    return s


def pick_style(rng: random.Random) -> str:
    return rng.choices(["plain", "casual", "terse", "misspelt"], weights=[45, 30, 10, 15])[0]
