"""The guides' Python code is taken from files CI runs (examples/, through pymdownx.snippets'
`--8<--` includes), so a guide cannot show code that no longer works. The few blocks that
cannot run here say why below."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
INCLUDE = re.compile(r'^--8<-- "([^":]+)(?::[\w-]+)?"$')

# page -> how many inline blocks it may keep, and why they cannot run in CI
INLINE_ALLOWED = {
    # the shop app whose command output the page shows, and an OTLP exporter set-up that
    # needs a collector; the commands themselves run in examples/operations.py
    "operations.md": 2,
    # mounting in a FastAPI site: tests/browser drives exactly that mount in Chromium
    "dashboard.md": 1,
}


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_guide_code_comes_from_files_ci_runs(page: Path) -> None:
    inline = 0
    for block in BLOCK.findall(page.read_text()):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if lines and all(INCLUDE.match(line) for line in lines):
            for line in lines:
                match = INCLUDE.match(line)
                assert match is not None
                assert (ROOT / match.group(1)).exists(), f"{page.name} includes {line}"
        else:
            inline += 1
    assert inline <= INLINE_ALLOWED.get(page.name, 0), (
        f"{page.name} has {inline} Python block(s) written inline: take them from an example "
        'that CI runs (--8<-- "examples/x.py:section"), see docs/tasks.md'
    )
