"""Where a load's CPU time and memory go, step by step: `onewindow load` run in this process
with its progress line watched.

    .venv/bin/python -m benchmarks.load_steps FILE_OR_FOLDER --profile profiles/X.toml
        --db /tmp/DIR/w.duckdb [--config CONFIG.toml]

A step is what the progress line says the run is doing ("reading steps.csv", "copy b: merging
events", "copy b: building d_facts", "publishing the run", ...). For each step: its wall
seconds, the CPU seconds of the whole process (all threads: DuckDB's and Polars' too), and the
highest resident memory sampled every 10 ms while it ran (VmRSS), beside the process's
high-water mark (VmHWM) when it ended. Run it on an empty --db for a first load.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from etl.progress import Progress
from onewindow import cli


def status_kib(key: str) -> int:
    """A figure of this process's /proc/self/status in KiB: VmHWM, its own peak (a child's
    ru_maxrss starts at its parent's peak), or VmRSS."""
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith(key + ":")))


@dataclass
class Step:
    name: str
    started: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)
    peak_kib: int = 0


class Watch:
    def __init__(self) -> None:
        self.steps: list[Step] = [Step("start-up, recovery, opening the run")]
        self.ended: list[tuple[Step, float, float, int]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def enter(self, name: str) -> None:
        with self.lock:
            current = self.steps[-1]
            if name == current.name:
                return
            self._close(current)
            self.steps.append(Step(name))

    def _close(self, step: Step) -> None:
        step.peak_kib = max(step.peak_kib, status_kib("VmRSS"))
        wall = time.perf_counter() - step.started
        cpu = time.process_time() - step.cpu
        self.ended.append((step, wall, cpu, status_kib("VmHWM")))

    def sample(self) -> None:
        while not self.stop.wait(0.01):
            rss = status_kib("VmRSS")
            with self.lock:
                step = self.steps[-1]
                step.peak_kib = max(step.peak_kib, rss)

    def report(self) -> None:
        self._close(self.steps[-1])
        total_cpu = sum(cpu for _, _, cpu, _ in self.ended)
        print("| step | wall s | CPU s | peak RSS MiB | high-water MiB |")
        print("|---|---:|---:|---:|---:|")
        for step, wall, cpu, hwm in self.ended:
            print(
                f"| {step.name} | {wall:.2f} | {cpu:.2f} | {step.peak_kib / 1024:,.0f} | "
                f"{hwm / 1024:,.0f} |"
            )
        print(f"| all | | {total_cpu:.2f} | | {status_kib('VmHWM') / 1024:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path)
    parser.add_argument("--profile", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    watch = Watch()
    show = Progress._show

    def watched(self: Progress, what: str) -> None:
        watch.enter(what)
        show(self, what)

    Progress._show = watched  # type: ignore[method-assign]
    sampler = threading.Thread(target=watch.sample, daemon=True)
    sampler.start()
    argv = ["load", str(args.source), "--profile", str(args.profile), "--db", str(args.db)]
    if args.config is not None:
        argv += ["--config", str(args.config)]
    code = cli.main(argv)
    watch.stop.set()
    sampler.join()
    watch.report()
    sys.exit(code)


if __name__ == "__main__":
    main()
