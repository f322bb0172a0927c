"""A wall-clock budget for the training loop (``max_minutes``).

More data seen is what raised accuracy most (README: 0.4 epoch 69.6-73.9% exact, 2 epochs 87.0%),
so "as many steps as fit in N minutes" is the natural unit on machines of unknown speed. The run
still ends on a finished learning-rate schedule: after a few calibration steps the speed is
measured (seconds per planned token), the steps whose tokens fit the time left become the run's
length, and the schedule is rebuilt for that length. A slowdown later stops the loop at the budget.
"""

from __future__ import annotations

CALIBRATION_STEPS = 5
CALIBRATION_SHARE = 0.1
"""Steps timed before the run's length is fixed: at least 5 (the first, with its warm-up, is left
out), then until 10% of the plan or 10% of the budget has passed, whichever comes first. Replayed
on the default recipe's 182 logged steps, 5 steps predicted that all would fit in 450 s (152 did);
18 steps predicted 160."""


class TimeBudget:
    """Fits a run into ``seconds`` of loop time. ``step_tokens[i]``: the tokens step ``i`` will
    compute (batch rows x padded length), from the run's plan; ``start``: the first step run here."""

    def __init__(self, seconds: float, step_tokens: list[int], start: int = 0):
        self.seconds = seconds
        self.step_tokens = step_tokens
        self.start = start
        self.calibration = max(CALIBRATION_STEPS, int(CALIBRATION_SHARE * (len(step_tokens) - start)))
        self._first_done: float | None = None  # loop time when the first step here had finished
        self.fixed = False

    def observe(self, step: int, elapsed: float) -> int | None:
        """Call after each step (``step`` steps done, ``elapsed`` loop seconds). Returns the run's
        new length once, when calibration ends and fewer steps than planned fit; else None."""
        if self.fixed:
            return None
        if step == self.start + 1:
            self._first_done = elapsed
        done = step - self.start
        calibrated = done >= CALIBRATION_STEPS and (done >= self.calibration or elapsed >= CALIBRATION_SHARE * self.seconds)
        if not calibrated or self._first_done is None or step >= len(self.step_tokens):
            return None
        self.fixed = True
        timed = sum(self.step_tokens[self.start + 1:step])  # the first step (warm-up) is left out
        per_token = (elapsed - self._first_done) / max(1, timed)
        left = self.seconds - elapsed
        total = step
        while total < len(self.step_tokens) and left >= self.step_tokens[total] * per_token:
            left -= self.step_tokens[total] * per_token
            total += 1
        return total if total < len(self.step_tokens) else None

    def exceeded(self, elapsed: float) -> bool:
        """The budget is spent (the loop stops even if the schedule has steps left)."""
        return elapsed >= self.seconds
