"""Date phrases ("tomorrow", "in 3 days", "next Monday", "March 6") and their resolution.

One resolver (``resolve_date``) is the single source of truth: the generator writes a
phrase, then asks the resolver for the date the call must carry, so the data and the
documented rules below cannot drift apart.

Rules (``today`` is the date in the system message):
- "today"/"tonight" -> today; "tomorrow" -> +1; "the day after tomorrow" -> +2;
- "in N days" -> +N; "in a week"/"in N weeks" -> +7N; "a week from today" -> +7;
- "Friday"/"on Friday"/"this Friday" -> the next Friday strictly after today (1-7 days);
- "next Friday" -> the Friday of next week (weeks start on Monday);
- "next week" -> Monday of next week; "end of the month" -> last day of this month;
- "the first of next month" -> day 1 of next month;
- "March 6"/"6 March"/"Mar 6th" -> that day this year, or next year once it has passed;
- "2026-03-06" -> itself.
"""

from __future__ import annotations

import calendar
import random
import re
from datetime import date, timedelta

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
_MONTH_ABBR = {m[:3]: i + 1 for i, m in enumerate(MONTHS)} | {"sept": 9}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "a": 1, "an": 1}


def system_today(today: date) -> str:
    """The system message every Task API sample starts with."""
    return f"Today is {today.isoformat()} ({WEEKDAYS[today.weekday()].capitalize()})."


def _num(tok: str) -> int | None:
    if tok.isdigit():
        return int(tok)
    return _NUMBER_WORDS.get(tok)


def _month(tok: str) -> int | None:
    tok = tok.rstrip(".")
    if tok in MONTHS:
        return MONTHS.index(tok) + 1
    return _MONTH_ABBR.get(tok)


def _month_day(today: date, month: int, day: int) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            d = date(year, month, day)
        except ValueError:
            continue
        if d >= today:
            return d
    return None


def next_weekday(today: date, weekday: int) -> date:
    """The first ``weekday`` strictly after ``today``."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def weekday_next_week(today: date, weekday: int) -> date:
    """``weekday`` in the week after today's (weeks start on Monday)."""
    monday_next = today + timedelta(days=7 - today.weekday())
    return monday_next + timedelta(days=weekday)


def end_of_month(today: date) -> date:
    return date(today.year, today.month, calendar.monthrange(today.year, today.month)[1])


def first_of_next_month(today: date) -> date:
    return end_of_month(today) + timedelta(days=1)


def resolve_date(text: str, today: date) -> date | None:
    """The date a phrase names, relative to ``today``; None when the phrase is not understood."""
    s = re.sub(r"[,!?]", " ", text.lower()).strip().rstrip(".")
    s = re.sub(r"\s+", " ", s)
    s = re.sub(r"^(on|by|for|due|until|before) ", "", s)
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s):
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    if s in ("today", "tonight", "later today", "this evening", "end of day", "end of today"):
        return today
    if s in ("tomorrow", "tmrw", "tmr", "tomorow", "tomorrow morning", "tomorrow evening"):
        return today + timedelta(days=1)
    if s in ("the day after tomorrow", "day after tomorrow", "the day after tmrw"):
        return today + timedelta(days=2)
    if s in ("next week", "the start of next week", "early next week"):
        return weekday_next_week(today, 0)
    if s in ("end of the month", "the end of the month", "end of month", "month end", "the end of this month",
             "end of this month", "eom"):
        return end_of_month(today)
    if s in ("the first of next month", "first of next month", "the 1st of next month", "start of next month",
             "the start of next month", "beginning of next month"):
        return first_of_next_month(today)
    if m := re.fullmatch(r"in (\w+) (day|days|week|weeks)( from now| time)?", s):
        n = _num(m[1])
        if n is None:
            return None
        return today + timedelta(days=n * (7 if m[2].startswith("week") else 1))
    if m := re.fullmatch(r"(a|one|\w+) (week|weeks|day|days) from (today|now|tomorrow)", s):
        n = _num(m[1])
        if n is None:
            return None
        base = today + timedelta(days=1 if m[3] == "tomorrow" else 0)
        return base + timedelta(days=n * (7 if m[2].startswith("week") else 1))
    if m := re.fullmatch(r"(this |coming |this coming )?(\w+)", s):
        for i, name in enumerate(WEEKDAYS):
            if m[2] in (name, name[:3], name + "s") or (len(m[2]) >= 3 and name.startswith(m[2])):
                return next_weekday(today, i)
    if m := re.fullmatch(r"next (\w+)", s):
        for i, name in enumerate(WEEKDAYS):
            if m[1] in (name, name[:3]):
                return weekday_next_week(today, i)
    if m := re.fullmatch(r"(?:the )?(\w+)\.? (\d{1,2})(?:st|nd|rd|th)?", s):
        month = _month(m[1])
        if month:
            return _month_day(today, month, int(m[2]))
    if m := re.fullmatch(r"(?:the )?(\d{1,2})(?:st|nd|rd|th)? (?:of )?(\w+)\.?", s):
        month = _month(m[2])
        if month:
            return _month_day(today, month, int(m[1]))
    return None


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
