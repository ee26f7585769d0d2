"""deploy/compose.yaml cannot run here (no Docker), so it is held in step with what tests/test_scale.py runs as
plain processes: the same commands, the same shared variables, two single-process workers and one bot."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.test_scale import COMMANDS, SHARED, WORKER_PROCESSES

COMPOSE = Path(__file__).resolve().parent.parent / "deploy" / "compose.yaml"


def test_compose_runs_what_the_scale_tests_run() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    assert {"postgres", "redis", "migrate", "worker", "bot"} <= set(services)
    for name, args in COMMANDS.items():
        assert services[name]["command"] == ["fffusion", *args], name
        assert set(SHARED) <= set(services[name]["environment"]), name
        assert services[name]["build"] == ".."  # the project's Dockerfile
    assert services["worker"]["environment"]["FFFUSION_WORKERS"] == WORKER_PROCESSES
    assert services["worker"]["deploy"]["replicas"] == 2
    # workers and the bot start after the schema is in place
    for name in ("worker", "bot"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
