"""An app module whose import fails, as when a setting is missing (for test_cli)."""

from __future__ import annotations

import os

from pq import PQ

app = PQ()
SMTP_HOST = os.environ["PQ_TEST_SMTP_HOST_THAT_IS_NOT_SET"]
