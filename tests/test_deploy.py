"""The container set-up held in step with the rest: deploy/compose.yaml runs what tests/test_scale.py runs as plain
processes (the same commands, the same shared variables, two single-process workers and one bot); .dockerignore keeps
out of the image what must never be in it (secrets, history, local environments) and lets in what the build needs;
the Dockerfile keeps the catalog it prepares; deploy/.env.example starts as it is."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from bot.app import needs_http
from bot.config import load_settings
from tests.test_scale import COMMANDS, SHARED, WORKER_PROCESSES

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"

# paths (as in the build context) that must never be copied into an image
NEVER = [
    "deploy/.env", ".env", "adapters/.env", "deploy/prod.env", ".env.local",  # platform tokens, database passwords
    ".git/config", ".git/objects/ab/cdef",  # the repository's history
    ".venv/bin/python", "core/__pycache__/errors.cpython-311.pyc", "bot/config.pyc",  # local environment
    "fffusion.egg-info/PKG-INFO", ".pytest_cache/v/cache/lastfailed", ".ruff_cache/x",
    ".fffusion-cache/x", "build/screenshots/try.png", "bench/out/sheet.jpg", "out/meme.jpg",
]


def _dockerignore_matcher() -> Callable[[str], bool]:
    """Docker's rules: patterns are paths from the context root (`*` within one segment, `**` any number of
    segments, a matched folder takes its contents), `!` re-includes, the last matching line wins."""
    rules = []
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            regex += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
        rules.append((keep, re.compile(regex + "(/.*)?")))

    def ignored(path: str) -> bool:
        verdict = False
        for keep, rule in rules:
            if rule.fullmatch(path):
                verdict = not keep
        return verdict

    return ignored


def test_the_image_never_holds_secrets_history_or_local_files() -> None:
    ignored = _dockerignore_matcher()
    let_in = [path for path in NEVER if not ignored(path)]
    assert not let_in, f".dockerignore lets these into the image: {let_in}"


def test_the_image_gets_what_its_build_needs() -> None:
    ignored = _dockerignore_matcher()
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    needed = [p for p in tracked if p.split("/")[0] in ("bot", "core", "adapters", "data")]
    needed += ["pyproject.toml", "setup.py", "README.md"]
    left_out = [path for path in needed if ignored(path)]
    assert needed and not left_out, f".dockerignore keeps these from the build: {left_out}"


def test_the_prepared_catalog_stays_in_the_image() -> None:
    """The classic builder (and docker-compose 1.x) discards what a RUN writes under a path an earlier VOLUME
    declared: the VOLUME comes after every RUN, and the catalog cache is not under it."""
    steps = [line.split()[0] for line in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines()
             if line and not line[0].isspace() and not line.startswith("#")]
    volume = steps.index("VOLUME")
    assert "RUN" not in steps[volume:]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    cache = re.search(r"FFFUSION_CACHE_DIR=(\S+)", dockerfile)
    data = re.search(r'VOLUME \["([^"]+)"\]', dockerfile)
    assert cache and data and not cache.group(1).startswith(data.group(1))
    assert "fffusion catalog build" in dockerfile


def test_compose_runs_what_the_scale_tests_run() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    assert {"postgres", "redis", "migrate", "worker", "bot"} <= set(services)
    for name, args in COMMANDS.items():
        assert services[name]["command"] == ["fffusion", *args], name
        assert set(SHARED) <= set(services[name]["environment"]), name
        assert services[name]["build"] == ".."  # the project's Dockerfile, with the .dockerignore beside it
        # the image's own catalog cache, not one under the data volume that would hide it
        assert "FFFUSION_CACHE_DIR" not in services[name]["environment"], name
    assert services["worker"]["environment"]["FFFUSION_WORKERS"] == WORKER_PROCESSES
    assert services["worker"]["deploy"]["replicas"] == 2
    # workers and the bot start after the schema is in place
    for name in ("worker", "bot"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_compose_checks_health_and_publishes_on_loopback() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    for name in ("postgres", "redis", "worker", "bot"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert "/healthz" in " ".join(services["bot"]["healthcheck"]["test"])
    heartbeat = services["worker"]["environment"]["FFFUSION_WORKER_HEARTBEAT"]
    assert heartbeat in " ".join(services["worker"]["healthcheck"]["test"])
    (published,) = services["bot"]["ports"]
    default = re.fullmatch(r"\$\{PUBLISH_HTTP:-([^}]+)\}:8080", published)
    assert default and default.group(1).startswith("127.0.0.1:")
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("${PUBLISH_HTTP:-127.0.0.1:"), name  # nothing on every interface by default


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def test_env_example_starts_as_it_is() -> None:
    """Copied as it is, every FFFUSION_* name in it is a real setting with a valid value, and `fffusion run` has
    something to run (the web page) behind the health check the image switches on."""
    example = _env_file(DEPLOY / ".env.example")
    assert example["POSTGRES_PASSWORD"]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    image = dict(re.findall(r"(FFFUSION_[A-Z_]+)=(\S+)", dockerfile))
    settings = load_settings(env={**image, **{k: v for k, v in example.items() if k.startswith("FFFUSION_")}})
    assert settings.web.page and settings.http.health_check and settings.http.host == "0.0.0.0"
    assert needs_http(settings)
