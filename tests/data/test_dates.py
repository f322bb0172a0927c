import random
from datetime import date, timedelta

import pytest

from tooltune.core.dates import due_date_iso
from tooltune.data.dates import date_phrase, invalid_phrase, resolve_date


def test_generated_phrases_always_resolve_forward():
    rng = random.Random(0)
    for _ in range(2000):
        today = date(2021, 1, 1) + timedelta(days=rng.randrange(3650))
        for ctx in ("bare", "due", "by", "on"):
            phrase, iso = date_phrase(rng, today, ctx)
            d = date.fromisoformat(iso)
            assert d == resolve_date(phrase, today)
            assert today <= d <= today + timedelta(days=366), (phrase, today, d)
            if ctx == "on":
                assert not phrase.startswith("in "), phrase


def test_invalid_phrases_never_resolve_and_the_tools_say_why():
    rng = random.Random(1)
    seen = set()
    for _ in range(2000):
        today = date(2021, 1, 1) + timedelta(days=rng.randrange(3650))
        phrase = invalid_phrase(rng, today)
        seen.add(phrase[:2].isdigit() and phrase[4:5] == "-")
        assert resolve_date(phrase, today) is None, (phrase, today)
        with pytest.raises(ValueError, match=f"^{phrase} is not a real calendar date$"):
            due_date_iso(phrase, today)
    assert seen == {True, False}  # ISO and words
