"""The layout's import rules (docs/architecture.md), read from the source so a forbidden import
fails here even when it hides under `if TYPE_CHECKING:` or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pq"

# Below the facade: none of these may import pq.app (not even for typing) or the CLI.
BELOW_THE_APP = (
    "pq.worker",
    "pq.periodic",
    "pq.producer",
    "pq.store",
    "pq.registry",
    "pq.runtime",
    "pq.serialization",
    "pq.signing",
    "pq.models",
    "pq.errors",
    "pq.settings",
    "pq.retry",
    "pq.telemetry",
)

# package -> pq modules (prefixes) it must never import
FORBIDDEN = {
    "pq.worker": ("pq.app", "pq.cli", "pq.testing", "pq.producer"),
    "pq.periodic": ("pq.app", "pq.cli", "pq.testing", "pq.worker"),
    "pq.producer": ("pq.app", "pq.cli", "pq.testing", "pq.worker", "pq.periodic"),
    # a leaf: the worker and the producer call into it, never the other way round
    "pq.telemetry": (
        "pq.app",
        "pq.cli",
        "pq.testing",
        "pq.worker",
        "pq.producer",
        "pq.periodic",
    ),
}
# pq.store knows no other subsystem: only itself and the error types.
STORE_MAY_IMPORT = ("pq.store", "pq.errors")
# Framework glue (pq.contrib) uses what a user may use: the names `pq` exports, the command
# line it wraps, and pq.testing / pq.dashboard; never a subsystem's insides.
CONTRIB_MAY_IMPORT = ("pq.contrib", "pq.cli", "pq.testing", "pq.dashboard")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def pq_imports(path: Path) -> set[str]:
    """Every pq module the file imports, anywhere in it (`from pq import x` counts as pq.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pq")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pq":
                found.update(f"pq.{a.name}" for a in node.names)
            elif node.module.startswith("pq."):
                found.add(node.module)
    return found


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_contract_reads_every_module_of_the_package() -> None:
    names = {module_name(p) for p in SOURCES}
    assert {"pq.app", "pq.worker.loop", "pq.store.queries", "pq.periodic.ticks"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_module_respects_the_layout(path: Path) -> None:
    name = module_name(path)
    imports = pq_imports(path)
    if any(within(name, pkg) for pkg in BELOW_THE_APP):
        assert not {i for i in imports if within(i, "pq.app")}, (
            f"{name} imports pq.app: below the facade, take the pieces you use (pq.runtime, "
            "a protocol in pq.producer.facade) instead"
        )
    for package, banned in FORBIDDEN.items():
        if within(name, package):
            bad = sorted(i for i in imports if any(within(i, b) for b in banned))
            assert not bad, f"{name} may not import {bad} (see docs/architecture.md)"
    if within(name, "pq.store"):
        bad = sorted(i for i in imports if not any(within(i, a) for a in STORE_MAY_IMPORT))
        assert not bad, f"{name} is in pq.store, which imports no other subsystem: {bad}"
    if within(name, "pq.contrib"):
        bad = sorted(i for i in imports if not _public(i))
        assert not bad, f"{name} is framework glue: it may use pq's public API only, not {bad}"


def _public(module: str) -> bool:
    import pq

    head, _, attr = module.partition(".")
    if head == "pq" and attr in pq.__all__:  # `from pq import PQ` reads as pq.PQ
        return True
    return any(within(module, allowed) for allowed in CONTRIB_MAY_IMPORT)


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    # The checker itself must see imports hidden under TYPE_CHECKING and inside functions.
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pq.app import PQ\n"
        "def f():\n    from pq import worker\n    import pq.cli\n"
    )
    assert pq_imports(source) == {"pq.app", "pq.worker", "pq.cli"}
