"""Tune's view of the plan: a ``Searcher`` that suggests each unit once what it needs is done.

Tune asks for a trial whenever a slot is free; ``suggest`` returns the first pending unit, in
plan order, whose needs (``dfu.runs.plan.needs``) have finished, ``None`` while every pending
unit still waits on running work, and ``FINISHED`` when nothing is left. So a fold's trials
start as soon as that fold's branches exist: there is no barrier between phases, and no slot
idles while runnable work remains. A unit whose need failed is dropped and reported.
"""

from __future__ import annotations

import json

from ray.tune.search import Searcher

from dfu.runs.plan import Unit, needs


class PlanSearcher(Searcher):
    def __init__(self, todo: list[Unit], done: set[Unit]):
        super().__init__()
        self.waiting = list(todo)
        self.finished, self.failed = set(done), set()
        self.running: dict[str, Unit] = {}
        self.blocked: list[str] = []  # "unit: not run, its need X failed"

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # the plan is the search space; nothing to set

    def suggest(self, trial_id: str) -> dict | None | str:
        self._drop_blocked()
        for unit in self.waiting:
            if all(need in self.finished for need in needs(unit)):
                self.waiting.remove(unit)
                self.running[trial_id] = unit
                return {"unit": unit.to_dict()}
        if not self.waiting and not self.running:
            return Searcher.FINISHED
        return None  # every waiting unit needs running work: ask again later

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        unit = self.running.pop(trial_id, None)
        if unit is not None:
            (self.failed if error else self.finished).add(unit)

    def _drop_blocked(self) -> None:
        for unit in list(self.waiting):
            failed = [n for n in needs(unit) if n in self.failed]
            if failed:
                self.waiting.remove(unit)
                self.failed.add(unit)
                self.blocked.append(f"{unit.id}: not run, {failed[0].id} failed")

    def save(self, checkpoint_path: str) -> None:
        """Tune checkpoints its searcher; resuming reads the run's files instead (dfu.runs)."""
        state = {"waiting": [u.id for u in self.waiting], "blocked": self.blocked}
        with open(checkpoint_path, "w") as f:
            json.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        pass
