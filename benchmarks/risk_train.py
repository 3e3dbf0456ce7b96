"""Trains and stores the early-warning model as the nightly maintenance job does
(`Jobs.retrain_risk`: training, the evaluation's second model, storing), and prints its wall
and CPU time, peak memory and the stored evaluation.

    .venv/bin/python -m benchmarks.risk_train --db DB [--config FILE]

It writes the model into the warehouse's private folder (PATH.d/risk), as the job does:
run it on a copy of a warehouse another process is reading.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from etl.scheduler import Jobs
from metrics.calendar import WorkCalendar
from onewindow.config import load_config
from warehouse import Warehouse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    config = load_config(args.config)
    wh = Warehouse(args.db)
    started, cpu = time.perf_counter(), time.process_time()
    Jobs(config, wh).retrain_risk(WorkCalendar.from_config(config))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    evaluation = json.loads((wh.home / "risk" / "evaluation.json").read_text(encoding="utf-8"))
    print(f"retrain: {wall:.1f} s wall, {cpu:.1f} s CPU, peak memory {peak_mb:,.0f} MB")
    print(json.dumps(evaluation, indent=1))


if __name__ == "__main__":
    main()
