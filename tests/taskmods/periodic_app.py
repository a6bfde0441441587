"""An app module for worker subprocesses and the `pq periodic` command.

The database comes from PQ_DATABASE_URL. PQ_TEST_DECLARE (comma-separated) picks which
schedules the code declares, so one module can play "old code" and "new code".
"""

from __future__ import annotations

import os
from datetime import timedelta

from pq import PQ
from taskmods import funcs, periodic_jobs

app = PQ()
_DECLARE = set(os.environ.get("PQ_TEST_DECLARE", "").split(","))

if "sync" in _DECLARE:
    sync_data = app.periodic(run_every=timedelta(hours=1), key="us", kwargs={"region": "us"})(
        app.periodic(run_every=timedelta(hours=2), key="eu", kwargs={"region": "eu"})(
            periodic_jobs.sync_data
        )
    )

if "report" in _DECLARE:
    weekly_report = app.periodic(cron="0 9 * * 1", timezone="Europe/Berlin")(funcs.noop)
