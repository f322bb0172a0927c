from datetime import date

import pytest

from tooltune.core.dates import due_date_iso, resolve_date, system_today

WED = date(2026, 3, 4)  # a Wednesday


@pytest.mark.parametrize(
    "phrase, expected",
    [
        ("today", WED),
        ("tonight", WED),
        ("tomorrow", date(2026, 3, 5)),
        ("tmrw", date(2026, 3, 5)),
        ("the day after tomorrow", date(2026, 3, 6)),
        ("in 3 days", date(2026, 3, 7)),
        ("in three days", date(2026, 3, 7)),
        ("in 10 days from now", date(2026, 3, 14)),
        ("in a week", date(2026, 3, 11)),
        ("in 2 weeks", date(2026, 3, 18)),
        ("a week from tomorrow", date(2026, 3, 12)),
        ("Friday", date(2026, 3, 6)),
        ("on Friday", date(2026, 3, 6)),
        ("this friday", date(2026, 3, 6)),
        ("Wednesday", date(2026, 3, 11)),  # same weekday as today: the next one, not today
        ("Monday", date(2026, 3, 9)),
        ("next Monday", date(2026, 3, 9)),  # Monday of next week
        ("next Friday", date(2026, 3, 13)),  # Friday of next week, not the day after tomorrow
        ("next week", date(2026, 3, 9)),
        ("end of the month", date(2026, 3, 31)),
        ("the first of next month", date(2026, 4, 1)),
        ("March 20", date(2026, 3, 20)),
        ("Mar 2nd", date(2027, 3, 2)),  # already passed this year
        ("6 June", date(2026, 6, 6)),
        ("the 6th of June", date(2026, 6, 6)),
        ("2026-12-24", date(2026, 12, 24)),
    ],
)
def test_resolve_date(phrase, expected):
    assert resolve_date(phrase, WED) == expected


def test_month_ends_and_leap_years():
    assert resolve_date("end of the month", date(2028, 2, 10)) == date(2028, 2, 29)
    assert resolve_date("end of month", date(2027, 2, 10)) == date(2027, 2, 28)
    assert resolve_date("the first of next month", date(2026, 12, 31)) == date(2027, 1, 1)
    assert resolve_date("next Sunday", date(2026, 3, 8)) == date(2026, 3, 15)  # today is Sunday


def test_unknown_phrases_give_none():
    for phrase in ("someday", "next blursday", "in many days", "2026-13-01"):
        assert resolve_date(phrase, WED) is None


def test_due_date_arguments_resolve_or_explain():
    assert due_date_iso("next Friday", WED) == "2026-03-13"
    assert due_date_iso("by tomorrow", WED) == "2026-03-05"
    assert due_date_iso("2026-04-15", WED) == "2026-04-15"
    with pytest.raises(ValueError, match="2026-02-30 is not a real calendar date"):
        due_date_iso("2026-02-30", WED)
    with pytest.raises(ValueError, match="could not understand the due date 'someday': use YYYY-MM-DD"):
        due_date_iso("someday", WED)
    # A named day that does not exist says so (the model can ask which day was meant).
    for phrase in ("February 30", "the 31st of April", "31 June", "by Nov 31"):
        with pytest.raises(ValueError, match=f"^{phrase} is not a real calendar date$"):
            due_date_iso(phrase, WED)
    with pytest.raises(ValueError, match="could not understand"):
        due_date_iso("Blursday 30", WED)


def test_system_message():
    assert system_today(WED) == "Today is 2026-03-04 (Wednesday)."
