"""A wall-clock budget for the training loop (``max_minutes``).

More data seen is what raised accuracy most (README: 0.4 epoch 69.6-73.9% exact, 2 epochs 87.0%),
so "as many steps as fit in N minutes" is the natural unit on machines of unknown speed. The run
still ends on a finished learning-rate schedule: after a few calibration steps the speed is
measured (seconds per planned token), the steps whose tokens fit the time left become the run's
length, and the schedule is rebuilt for that length. Once a third of the budget has passed, the
speed since calibration sets the length once more (up to the plan): a slow start (another job on
the machine, cold caches) must not cut the whole run. A slowdown after that stops the loop at the
budget.
"""

from __future__ import annotations

CALIBRATION_STEPS = 5
CALIBRATION_SHARE = 0.1
"""Steps timed before the run's length is fixed: at least 5 (the first, with its warm-up, is left
out), then until 10% of the plan or 10% of the budget has passed, whichever comes first. Replayed
on the default recipe's 182 logged steps, 5 steps predicted that all would fit in 450 s (152 did);
18 steps predicted 160."""


FIRST_FIT_SLACK = 0.15
"""The first fit cuts the run only when less than 85% of the plan fits; a closer call waits for
the second fit. The first steps here run slower per token than the rest (their fit kept 158 and
165 of 183 and 182 steps in two clean-clone demos whose full runs took 473-541 s of the 540), and
every fit that changes the length changes the learning-rate schedule, so a run that fits should
stay the run it would be without a budget."""

REPLAN_SHARE = 0.35
"""When the length is fitted again: after this share of the budget (and at least 5 steps after
calibration). A demo run whose first 9 steps shared the cores with a test run was cut to 106 of 183
steps by its calibration alone."""


class TimeBudget:
    """Fits a run into ``seconds`` of loop time. ``step_tokens[i]``: the tokens step ``i`` will
    compute (batch rows x padded length), from the run's plan; ``start``: the first step run here."""

    def __init__(self, seconds: float, step_tokens: list[int], start: int = 0):
        self.seconds = seconds
        self.step_tokens = step_tokens
        self.start = start
        self.total = len(step_tokens)
        """The run's length as fitted so far."""
        self.calibration = max(CALIBRATION_STEPS, int(CALIBRATION_SHARE * (len(step_tokens) - start)))
        self._first_done: float | None = None  # loop time when the first step here had finished
        self._fitted_at: tuple[int, float] | None = None  # (step, loop time) of the first fit
        self.replanned = False

    @property
    def fixed(self) -> bool:
        """The first fit is done (calibration is over)."""
        return self._fitted_at is not None

    def observe(self, step: int, elapsed: float) -> int | None:
        """Call after each step (``step`` steps done, ``elapsed`` loop seconds). Returns the run's
        new length when a fit changes it (at the end of calibration, then once more after
        ``REPLAN_SHARE`` of the budget); else None."""
        if step == self.start + 1:
            self._first_done = elapsed
        if not self.fixed:
            done = step - self.start
            calibrated = done >= CALIBRATION_STEPS and (done >= self.calibration or elapsed >= CALIBRATION_SHARE * self.seconds)
            if not calibrated or self._first_done is None or step >= len(self.step_tokens):
                return None
            self._fitted_at = (step, elapsed)
            # The first step (warm-up) is left out of the timing.
            return self._fit(step, elapsed, self.start + 1, self._first_done, slack=FIRST_FIT_SLACK)
        if self.replanned or step >= self.total:
            return None
        since_step, since = self._fitted_at
        if elapsed < REPLAN_SHARE * self.seconds or step - since_step < CALIBRATION_STEPS:
            return None
        self.replanned = True
        return self._fit(step, elapsed, since_step, since)

    def _fit(self, step: int, elapsed: float, since_step: int, since: float, slack: float = 0.0) -> int | None:
        """Fit the run at the speed of steps ``since_step..step`` (timed from ``since``); the new
        length if it changed (and, with ``slack``, only if it falls short of the plan by more)."""
        per_token = (elapsed - since) / max(1, sum(self.step_tokens[since_step:step]))
        left = self.seconds - elapsed
        total = step
        while total < len(self.step_tokens) and left >= self.step_tokens[total] * per_token:
            left -= self.step_tokens[total] * per_token
            total += 1
        if total == self.total or (slack and total >= (1 - slack) * len(self.step_tokens)):
            return None
        self.total = total
        return total

    def exceeded(self, elapsed: float) -> bool:
        """The budget is spent (the loop stops even if the schedule has steps left)."""
        return elapsed >= self.seconds
