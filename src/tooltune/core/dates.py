"""Due-date phrases ("tomorrow", "in 3 days", "next Monday", "March 6") and the one resolver
that turns them into dates.

Why it lives in core: the catalog's ``due_date`` takes the user's own words, and the tools
resolve them here (the model copies a phrase; it never does calendar arithmetic). The data
generator uses the same resolver for the results it simulates, so data and tools cannot drift.

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
    s = _normalized(text)
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
    if parts := _month_and_day(s):
        return _month_day(today, *parts)
    return None


def _normalized(text: str) -> str:
    s = re.sub(r"[,!?]", " ", text.lower()).strip().rstrip(".")
    s = re.sub(r"\s+", " ", s)
    return re.sub(r"^(on|by|for|due|until|before) ", "", s)


def _month_and_day(s: str) -> tuple[int, int] | None:
    """(month, day) of "March 6", "6 March", "the 6th of March", "Mar 6th" (the day unchecked)."""
    if m := re.fullmatch(r"(?:the )?(\w+)\.? (\d{1,2})(?:st|nd|rd|th)?", s):
        if month := _month(m[1]):
            return month, int(m[2])
    if m := re.fullmatch(r"(?:the )?(\d{1,2})(?:st|nd|rd|th)? (?:of )?(\w+)\.?", s):
        if month := _month(m[2]):
            return month, int(m[1])
    return None


DUE_DATE_HELP = "use YYYY-MM-DD or words like 'tomorrow', 'next Friday', 'in 3 days' or 'March 6'"


def due_date_iso(value: str, today: date) -> str:
    """The ISO date a ``due_date`` argument names; ``ValueError`` with a message a model can
    act on (tools return it as the call's error result)."""
    resolved = resolve_date(value, today)
    if resolved is not None:
        return resolved.isoformat()
    if re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value) or _month_and_day(_normalized(value)):
        # "2026-02-30", "April 31": the model can ask which day was meant instead of rephrasing.
        raise ValueError(f"{value.strip()} is not a real calendar date")
    raise ValueError(f"could not understand the due date {value!r}: {DUE_DATE_HELP}")
