"""The dashboard works offline: its pages load nothing but files shipped in the package."""

from __future__ import annotations

import re
from importlib import resources

import pytest

pytest.importorskip("jinja2", reason="the dashboard extra is not installed")

from pq.web.charts import Layer, stacked_bars

WEB = resources.files("pq.web")


def shipped(folder: str) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in WEB.joinpath(folder).iterdir()}


def test_templates_and_assets_reference_no_other_host() -> None:
    for name, text in {**shipped("templates"), **shipped("static")}.items():
        assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", text), name
        assert "@import" not in text, name


def test_every_static_file_a_page_links_is_shipped() -> None:
    base = shipped("templates")["base.html"]
    linked = set(re.findall(r"/static/([\w.-]+)", base))
    assert linked and linked <= set(shipped("static"))


def test_chart_labels_are_escaped() -> None:
    svg = stacked_bars([Layer("<b>", "ok", [1.0, 2.0])], ["<script>", "b"], title="<t>", unit="&")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>" not in svg
