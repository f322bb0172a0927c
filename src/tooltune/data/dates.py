"""Due-date phrases for the generator: relative ("tomorrow", "next Friday") and absolute
("March 6", ISO). What they mean is ``tooltune.core.dates.resolve_date``'s business."""

from __future__ import annotations

import random
from datetime import date, timedelta

from tooltune.core.dates import MONTHS, WEEKDAYS, resolve_date, system_today

__all__ = ["MONTHS", "WEEKDAYS", "absolute_phrase", "date_phrase", "random_today", "relative_phrase",
           "resolve_date", "system_today"]

_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _cap(rng: random.Random, word: str) -> str:
    r = rng.random()
    return word.capitalize() if r < 0.6 else (word[:3].capitalize() if r < 0.7 else word)


def relative_phrase(rng: random.Random, context: str = "bare") -> str:
    """A relative date phrase usable after ``context``: "bare"/"due" (anything), "by" (no
    "in N days"), "on" (weekdays only)."""
    kinds = ["weekday", "next_weekday"]
    if context in ("bare", "due", "by"):
        kinds += ["tomorrow", "tomorrow", "day_after", "end_month", "first_next", "next_week", "today"]
    if context in ("bare", "due"):
        kinds += ["in_days", "in_days", "in_weeks", "week_from"]
    kind = rng.choice(kinds)
    if kind == "weekday":
        wd = _cap(rng, rng.choice(WEEKDAYS))
        return rng.choice(["", "", "this "]) + wd if context != "on" else wd
    if kind == "next_weekday":
        return rng.choice(["next ", "next ", "Next "]) + _cap(rng, rng.choice(WEEKDAYS))
    if kind == "tomorrow":
        return rng.choice(["tomorrow", "tomorrow", "tomorrow", "tmrw", "tomorrow morning"])
    if kind == "day_after":
        return rng.choice(["the day after tomorrow", "the day after tomorrow", "day after tomorrow"])
    if kind == "end_month":
        return rng.choice(["the end of the month", "end of the month", "end of month", "the end of this month"])
    if kind == "first_next":
        return rng.choice(["the first of next month", "the 1st of next month", "the start of next month"])
    if kind == "next_week":
        return rng.choice(["next week", "early next week"])
    if kind == "today":
        return rng.choice(["today", "tonight", "later today"])
    if kind == "in_days":
        n = rng.randint(2, 14)
        word = _DIGIT_WORDS[n] if n <= 10 and rng.random() < 0.4 else str(n)
        return f"in {word} days" + rng.choice(["", "", " from now"])
    if kind == "in_weeks":
        n = rng.randint(1, 4)
        word = rng.choice(["a", "one"]) if n == 1 else (_DIGIT_WORDS[n] if rng.random() < 0.5 else str(n))
        return f"in {word} week{'s' if n > 1 else ''}"
    return rng.choice(["a week from today", "a week from tomorrow", "two weeks from today"])


def absolute_phrase(rng: random.Random, today: date, context: str = "bare") -> str:
    """An absolute date phrase within the next ~10 months: ISO, "March 6", "6 March", "Mar 6th"."""
    d = today + timedelta(days=rng.randint(1, 300))
    month = MONTHS[d.month - 1]
    style = rng.randrange(6)
    if style == 0 or style == 1:
        return d.isoformat()
    if style == 2:
        return f"{month.capitalize()} {d.day}"
    if style == 3:
        return f"{d.day} {month.capitalize()}"
    if style == 4:
        return f"{month[:3].capitalize()} {_ordinal(d.day)}"
    return f"the {_ordinal(d.day)} of {month.capitalize()}"


def date_phrase(rng: random.Random, today: date, context: str = "bare", relative_share: float = 0.6,
                relative_only: bool = False) -> tuple[str, str]:
    """(phrase, ISO date) for a due date; the date comes from ``resolve_date``."""
    if relative_only or rng.random() < relative_share:
        phrase = relative_phrase(rng, context)
    else:
        phrase = absolute_phrase(rng, today, context)
    resolved = resolve_date(phrase, today)
    if resolved is None:  # a bug in this module, never user input: fail loudly
        raise AssertionError(f"date phrase {phrase!r} does not resolve")
    return phrase, resolved.isoformat()


def random_today(rng: random.Random) -> date:
    """A 'today' spread over 2021-2031."""
    return date(2021, 1, 1) + timedelta(days=rng.randrange(3650))
