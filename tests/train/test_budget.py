import json
import shutil
import types

import pytest

import tooltune.train.trainer as trainer_mod
from tooltune.train.budget import CALIBRATION_STEPS, REPLAN_SHARE, TimeBudget
from tooltune.train.checkpoint import checkpoint_total_steps, last_checkpoint
from tooltune.train.config import make_config
from tooltune.train.trainer import train


def test_budget_fits_the_steps_whose_tokens_fit_at_the_measured_speed():
    b = TimeBudget(100.0, [10] * 50)
    for step in range(1, CALIBRATION_STEPS):
        assert b.observe(step, elapsed=2.0 * step) is None  # 0.2 s per token once the first step is out
    # At step 5, 10 s have passed; 90 s left hold 45 steps of 2 s: 50 planned, 50 fit -> no change.
    assert b.observe(CALIBRATION_STEPS, elapsed=10.0) is None
    b = TimeBudget(60.0, [10] * 50)
    for step in range(1, CALIBRATION_STEPS):
        b.observe(step, elapsed=2.0 * step)
    assert b.observe(CALIBRATION_STEPS, elapsed=10.0) == CALIBRATION_STEPS + 25  # 50 s left / 2 s per step
    assert b.observe(CALIBRATION_STEPS + 1, elapsed=12.0) is None  # decided once
    assert not b.exceeded(59.9) and b.exceeded(60.0)


def test_budget_weighs_steps_by_their_tokens():
    """The run stays a prefix of the plan: the first step that does not fit ends it."""
    tokens = [10] * CALIBRATION_STEPS + [40, 5, 5, 5, 5]
    for seconds, total in [(7.5, CALIBRATION_STEPS), (9.6, CALIBRATION_STEPS + 2), (20.0, None)]:
        b = TimeBudget(seconds, tokens)
        for step in range(1, CALIBRATION_STEPS + 1):
            out = b.observe(step, elapsed=1.0 * step)  # 0.1 s per token: 5 s at step 5
        assert out == total, seconds


def test_the_length_is_fitted_again_once_a_third_of_the_budget_has_passed():
    # A slow start (4 s per step during calibration) cuts the run; at normal speed (2 s) it grows back.
    b = TimeBudget(100.0, [10] * 50)
    t = 0.0
    fits = {}
    for step in range(1, 40):
        t += 4.0 if step <= CALIBRATION_STEPS else 2.0
        out = b.observe(step, elapsed=t)
        if out is not None:
            fits[step] = out
    replan_step = next(s for s in fits if s > CALIBRATION_STEPS)
    assert fits[CALIBRATION_STEPS] == CALIBRATION_STEPS + 20  # 80 s left at 4 s per step
    at = 20 + 2 * (replan_step - CALIBRATION_STEPS)
    assert at >= REPLAN_SHARE * 100 > at - 2  # at the first step past a third of the budget
    assert fits[replan_step] == replan_step + (100 - at) // 2 == 45 and len(fits) == 2  # at 2 s per step; once
    # Faster still after the slow start: the second fit gives the whole plan back.
    b = TimeBudget(100.0, [10] * 50)
    t, fits = 0.0, {}
    for step in range(1, 50):
        t += 4.0 if step <= CALIBRATION_STEPS else 1.0
        if (out := b.observe(step, elapsed=t)) is not None:
            fits[step] = out
    assert list(fits.values()) == [CALIBRATION_STEPS + 20, 50]
    # A first fit that keeps 85% of the plan or more changes nothing: the second fit decides.
    b = TimeBudget(100.0, [10] * 50)
    t, fits = 0.0, {}
    for step in range(1, 50):
        t += 2.2
        if (out := b.observe(step, elapsed=t)) is not None:
            fits[step] = out
    ((step, total),) = fits.items()  # 45 of 50 fit at the first fit: left alone
    assert step > CALIBRATION_STEPS and total == 45
    # The other way: a machine that slows down after calibration is cut at the second fit.
    b = TimeBudget(100.0, [10] * 50)
    t, fits = 0.0, {}
    for step in range(1, 40):
        t += 1.0 if step <= CALIBRATION_STEPS else 3.0
        out = b.observe(step, elapsed=t)
        if out is not None:
            fits[step] = out
    ((step, total),) = fits.items()
    assert total == step + int((100 - (5 + 3 * (step - 5))) // 3)


class VirtualClock:
    """Loop time that advances with the tokens each micro-batch computes (``cost`` s per token),
    so a budgeted run is deterministic."""

    def __init__(self, monkeypatch, cost=0.01):
        self.now, self.cost = 0.0, cost
        real_collate = trainer_mod.collate

        def collate(batch, pad_id, *weighting):
            ids, mask, n = real_collate(batch, pad_id, *weighting)
            self.now += n * self.cost
            return ids, mask, n

        monkeypatch.setattr(trainer_mod, "collate", collate)
        monkeypatch.setattr(trainer_mod, "time", types.SimpleNamespace(perf_counter=lambda: self.now))


def _cfg(base, **kw):
    settings = dict(base=str(base), max_steps=60, batch_tokens=512, lr=5e-3, checkpoint_every=0)
    settings.update(kw)
    return make_config(None, settings)


def test_budget_cuts_the_run_and_its_schedule_ends_there(tiny_model_dir, train_jsonl, tmp_path, monkeypatch):
    VirtualClock(monkeypatch)
    logs = []
    res = train(_cfg(tiny_model_dir, max_minutes=2), train_jsonl, tmp_path / "r", log=logs.append)
    s = res.summary
    assert s["planned_steps"] == 60 and CALIBRATION_STEPS < s["steps"] < 60 and not s["stopped_by_time_budget"]
    assert any(f"{s['steps']} of 60 steps fit" in m for m in logs)
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert [r["step"] for r in rows] == list(range(1, s["steps"] + 1))
    assert rows[-1]["lr"] == 0.0  # the cosine schedule was rebuilt to end at the cut
    assert max(r["elapsed_s"] for r in rows) <= 120.0


def test_budgeted_run_resumes_to_the_same_end(tiny_model_dir, train_jsonl, tmp_path, monkeypatch):
    cfg = _cfg(tiny_model_dir, max_minutes=2, checkpoint_every=3, keep_checkpoints=100)
    VirtualClock(monkeypatch)
    a = train(cfg, train_jsonl, tmp_path / "a", log=lambda m: None)
    cut = a.summary["steps"]
    assert cut < 60
    # Stop the run after step 6 (past calibration), then resume it on a machine twice as slow:
    # it keeps the saved length instead of fitting a new one, and ends in the same state.
    for ck in (tmp_path / "a" / "checkpoints").glob("step-*"):
        if int(ck.name.split("-")[1]) > 6:
            shutil.rmtree(ck)
    assert checkpoint_total_steps(last_checkpoint(tmp_path / "a")) == cut
    shutil.rmtree(tmp_path / "a" / "model")
    VirtualClock(monkeypatch, cost=0.02)
    b = train(cfg, train_jsonl, tmp_path / "a", resume=True, log=lambda m: None)
    assert b.summary["resumed_from"] == 6 and b.summary["steps"] == cut
    assert b.summary["replica_digests"] == a.summary["replica_digests"]


def test_slowdown_after_calibration_stops_at_the_budget(tiny_model_dir, train_jsonl, tmp_path, monkeypatch):
    clock = VirtualClock(monkeypatch)
    real_observe = TimeBudget.observe

    def observe(self, step, elapsed):
        was = self.replanned
        out = real_observe(self, step, elapsed)
        if self.replanned and not was:
            clock.cost *= 10  # the machine gets busy right after the run's length was fitted again
        return out

    monkeypatch.setattr(TimeBudget, "observe", observe)
    logs = []
    res = train(_cfg(tiny_model_dir, max_minutes=2), train_jsonl, tmp_path / "r", log=logs.append)
    fitted = int([m for m in logs if "steps fit" in m][-1].split("min: ")[1].split(" of")[0])
    assert res.summary["stopped_by_time_budget"] and CALIBRATION_STEPS < res.summary["steps"] < fitted
    assert any("spent at step" in m for m in logs)


def test_a_slow_start_does_not_cut_the_whole_run(tiny_model_dir, train_jsonl, tmp_path, monkeypatch):
    clock = VirtualClock(monkeypatch, cost=0.02)  # busy while calibrating ...
    real_observe = TimeBudget.observe

    def observe(self, step, elapsed):
        out = real_observe(self, step, elapsed)
        if self.fixed:
            clock.cost = 0.01  # ... then the other job ends
        return out

    monkeypatch.setattr(TimeBudget, "observe", observe)
    logs = []
    res = train(_cfg(tiny_model_dir, max_minutes=2), train_jsonl, tmp_path / "r", log=logs.append)
    first, second = [int(m.split("min: ")[1].split(" of")[0]) for m in logs if "steps fit" in m]
    assert first < second == res.summary["steps"] and not res.summary["stopped_by_time_budget"]
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert rows[-1]["lr"] == 0.0 and max(r["elapsed_s"] for r in rows) <= 120.0


def test_max_minutes_must_not_be_negative():
    from tooltune.train.config import RecipeError

    with pytest.raises(RecipeError, match="max_minutes"):
        make_config(None, {"max_minutes": -1})


def test_calibration_ends_early_when_the_budget_is_short_for_the_plan():
    """10% of a 1000-step plan would outlast a budget this short: timing stops at 10% of the budget."""
    b = TimeBudget(100.0, [10] * 1000)
    out = None
    for step in range(1, 100):
        out = b.observe(step, elapsed=2.0 * step)
        if b.fixed:
            break
    assert step == 5 and out == 5 + 45  # 90 s left at 2 s per step
