"""The size rules of docs/architecture.md: a module a newcomer can read in one sitting, and
functions whose logic fits on a screen. A module that outgrows them is split by duty (see how
pq/worker/ splits the parent into mixins) rather than allowed to grow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pq"
MODULE_LINES = 400
FUNCTION_BODY_LINES = 50  # statements only: a CLI command's option declarations do not count

MODULES = sorted(PACKAGE.rglob("*.py"))


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]  # the docstring
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_module_stays_readable(path: Path) -> None:
    source = path.read_text()
    lines = len(source.splitlines())
    assert lines <= MODULE_LINES, (
        f"{path.relative_to(PACKAGE.parent)} has {lines} lines (limit {MODULE_LINES}): split it "
        "by duty into modules of its package"
    )
    long = [
        f"{node.name} ({_body_lines(node)} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _body_lines(node) > FUNCTION_BODY_LINES
    ]
    assert not long, f"functions over {FUNCTION_BODY_LINES} lines in {path.name}: {long}"


def test_the_size_rule_sees_a_long_function() -> None:
    source = "def f():\n    '''doc'''\n" + "    x = 1\n" * (FUNCTION_BODY_LINES + 1)
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    assert _body_lines(node) == FUNCTION_BODY_LINES + 1
