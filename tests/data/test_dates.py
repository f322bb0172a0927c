import random
from datetime import date, timedelta

from tooltune.data.dates import date_phrase, resolve_date


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
