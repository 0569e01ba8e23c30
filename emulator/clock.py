"""Scenario time on the wall clock: when each step is due, and how late it was applied.

Step ``k`` is due ``k * step_s / speed`` wall seconds after step 0 was
applied (speed 2 runs twice as fast as real time).  :class:`StepLog`
records, per step, how late the change started and how long it took, so
a run can say whether the emulator kept up.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field


@dataclass
class StepRecord:
    step: int
    t_s: float
    late_s: float
    took_s: float
    links_up: int
    links_down: int
    delays_set: int
    routes_changed: int


@dataclass
class StepLog:
    """Per-step lateness and duration of the changes (written as steps.csv)."""

    step_s: float
    speed: float
    records: list[StepRecord] = field(default_factory=list)

    def add(self, rec: StepRecord) -> None:
        self.records.append(rec)

    def write_csv(self, path) -> None:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "t_s", "late_ms", "took_ms", "links_up", "links_down", "delays_set", "routes_changed"])
            for r in self.records:
                w.writerow([r.step, f"{r.t_s:g}", f"{r.late_s * 1e3:.3f}", f"{r.took_s * 1e3:.3f}",
                            r.links_up, r.links_down, r.delays_set, r.routes_changed])

    def summary(self) -> dict:
        """Lateness and apply-time figures; ``kept_up`` is False if any step finished past the next one's due time."""
        if not self.records:
            return {"steps": 0, "kept_up": True}
        late = [r.late_s for r in self.records[1:]] or [0.0]
        took = [r.took_s for r in self.records[1:]] or [self.records[0].took_s]
        budget = self.step_s / self.speed
        behind = [r for r in self.records[1:] if r.late_s + r.took_s > budget]
        return {
            "steps": len(self.records),
            "late_ms_max": max(late) * 1e3,
            "late_ms_mean": sum(late) / len(late) * 1e3,
            "apply_ms_mean": sum(took) / len(took) * 1e3,
            "apply_ms_max": max(took) * 1e3,
            "steps_behind": len(behind),
            "kept_up": not behind,
            "step_budget_ms": budget * 1e3,
        }


class ScenarioClock:
    """Maps scenario seconds to wall time from the moment :meth:`begin` is called."""

    def __init__(self, step_s: float, speed: float = 1.0):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.step_s, self.speed = step_s, speed
        self.t0_wall = None

    def begin(self, t0_wall: float | None = None) -> float:
        self.t0_wall = time.time() if t0_wall is None else t0_wall
        return self.t0_wall

    def due(self, k: int) -> float:
        return self.t0_wall + k * self.step_s / self.speed

    def scenario_s(self, wall: float) -> float:
        """Scenario seconds at a wall-clock time (Unix seconds)."""
        return (wall - self.t0_wall) * self.speed

    def wait_for(self, k: int) -> None:
        delay = self.due(k) - time.time()
        if delay > 0:
            time.sleep(delay)
