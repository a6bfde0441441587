"""deploy/: the compose file parses and wires Postgres, migration, worker and dashboard
together; the Dockerfile and the systemd unit run commands that `pq` really has (CI builds
the image only where a Docker daemon answers)."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import yaml
from typer.testing import CliRunner

from pq.cli import cli

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def pq_help(argv: list[str]) -> None:
    """`pq <command> --help` with argv's options: fails on an unknown command or option."""
    command = argv[:2] if argv[1] not in {"db", "periodic", "queue"} else argv[:3]
    options = [a for a in argv if a.startswith("--")]
    result = CliRunner().invoke(cli, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output
    for option in options:
        assert option in result.output, f"`{' '.join(command)}` has no {option}"


def test_the_compose_file_runs_a_migration_before_the_worker_and_the_dashboard() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "worker", "dashboard"}
    url = services["migrate"]["environment"]["PQ_DATABASE_URL"]
    assert "@postgres:5432/" in url
    for name in ("worker", "dashboard"):
        assert services[name]["environment"]["PQ_DATABASE_URL"] == url
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        pq_help(services[name]["command"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["stop_grace_period"] == "40s"  # beyond the 30 s drain
    assert services["dashboard"]["ports"] == ["127.0.0.1:8008:8008"]


def test_the_dockerfile_runs_pq_as_a_non_root_user() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    instructions = [line.split()[0] for line in lines if line.split()[0].isupper()]
    assert instructions[0] == "FROM"
    assert instructions.index("USER") < instructions.index("CMD")
    assert "USER root" not in lines
    cmd = next(line for line in lines if line.startswith("CMD"))
    pq_help(yaml.safe_load(cmd.removeprefix("CMD")))  # the exec form is a JSON list
    for line in lines:
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (DEPLOY.parent / source).exists(), f"COPY of a missing {source}"


def test_the_systemd_unit_drains_the_worker_before_killing_it() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "pq-worker@.service").read_text())
    service = unit["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"  # SIGTERM to the worker only, not to its children
    assert int(service["TimeoutStopSec"]) > 30
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/pq")
    pq_help(["pq", *argv[1:]])
