"""The code of docs/periodic.md, run end to end (CI runs every example, so the guide's code
cannot drift from what pq does): schedules declared in code and created at runtime.

    python examples/periodic_guide.py
"""

from __future__ import annotations

import logging

# --8<-- [start:declare]
from datetime import timedelta

from pq import PQ

app = PQ()


@app.periodic(run_every=timedelta(minutes=5))
def refresh_prices() -> None: ...


@app.periodic(cron="0 9 * * 1", timezone="Europe/Berlin", max_runtime=600, retries=2)
def weekly_report() -> None: ...


# --8<-- [end:declare]


# --8<-- [start:keys]
@app.periodic(run_every=timedelta(hours=1), key="us", kwargs={"region": "us"})
@app.periodic(run_every=timedelta(hours=2), key="eu", kwargs={"region": "eu"})
def sync_data(region: str) -> None: ...


# --8<-- [end:keys]


def heartbeat() -> None: ...


def report(report_type: str) -> None: ...


def sync_inventory() -> None: ...


def at_runtime() -> None:
    # --8<-- [start:runtime]
    app.schedule(heartbeat, run_every=timedelta(minutes=5))
    app.schedule(weekly_report, cron="0 9 * * 1")
    app.schedule(report, run_every=timedelta(hours=1), report_type="hourly")  # kwargs for the run
    app.schedule(sync_data, run_every=timedelta(hours=1), key="us", region="us")
    app.schedule(sync_data, run_every=timedelta(hours=2), key="eu", region="eu")
    app.unschedule(sync_data, key="us")  # removes only the "us" schedule

    app.schedule(sync_inventory, run_every=timedelta(minutes=5), active=False)  # pause
    app.schedule(sync_inventory, run_every=timedelta(minutes=5), active=True)  # resume
    # --8<-- [end:runtime]


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app.run_db_migrations()
    at_runtime()
    names = {(p.name, p.key, p.active) for p in app.list_schedules()}
    assert ("__main__:sync_data", "eu", True) in names
    assert ("__main__:sync_data", "us", True) not in names
    assert ("__main__:sync_inventory", "", True) in names
    for fn in (heartbeat, weekly_report, report, sync_data, sync_inventory):  # leave no trace
        for key in ("", "us", "eu"):
            app.unschedule(fn, key=key)
    app.close()
    print("the periodic guide ran")


if __name__ == "__main__":
    main()
