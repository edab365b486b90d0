"""Compact search progress instead of Tune's full status table.

One line whenever a trial finishes or fails, and at most every ``every`` seconds otherwise:

    [trials 00:03:12] 5/18 done, 2 running, 11 pending, 0 errors
        | best metadata+thermal_map test kappa 0.412 (2 folds) | finished fold1-metadata
"""

from __future__ import annotations

import time
from collections import defaultdict

from ray import tune

from dfu.runs.plan import Unit


class Progress(tune.Callback):
    """Counts trials of one phase and tracks the best group (combination or modality) so far."""

    def __init__(self, phase: str, metric: str, total: int, every: float = 15.0):
        self.phase, self.metric, self.total, self.every = phase, metric, total, every
        self.started = self.last = time.time()
        self.finished: set[str] = set()  # trial ids done or failed (Tune updates status later)
        self.done, self.errors = 0, 0
        self.scores: dict[str, list[float]] = defaultdict(list)

    def on_step_end(self, iteration, trials, **info):
        if time.time() - self.last >= self.every:
            self._line(trials)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.done += 1
        self.finished.add(trial.trial_id)
        unit = Unit.of(trial.config["unit"])
        value = trial.last_result.get(self.metric)
        if value is not None and unit.kind == "trial":
            self.scores[unit.name].append(float(value))
        self._line(trials, f"finished {unit.id}")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.errors += 1
        self.finished.add(trial.trial_id)
        self._line(trials, f"FAILED {Unit.of(trial.config['unit']).id} (see {trial.error_file})")

    def _line(self, trials, event: str = "") -> None:
        self.last = time.time()
        running = sum(t.status == "RUNNING" and t.trial_id not in self.finished for t in trials)
        pending = max(0, self.total - self.done - self.errors - running)
        elapsed = time.strftime("%H:%M:%S", time.gmtime(self.last - self.started))
        parts = [
            f"[{self.phase} {elapsed}] {self.done}/{self.total} done, {running} running, "
            f"{pending} pending, {self.errors} errors"
        ]
        if self.scores:
            name, values = max(self.scores.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
            mean = sum(values) / len(values)
            parts.append(
                f"best {name} {self.metric.replace('_', ' ')} {mean:.3f} ({len(values)} folds)"
            )
        if event:
            parts.append(event)
        # print looked up at call time: Tune pickles callbacks and swaps builtins.print.
        print(" | ".join(parts), flush=True)
