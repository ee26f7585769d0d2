"""Fixtures shared across the suite. Heavier platform fixtures live beside their tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import DEMO_CATALOG
from core.embedders import E5Embedder

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def e5() -> E5Embedder:
    return E5Embedder()


@pytest.fixture(scope="session")
def demo_catalog_dir() -> Path:
    return DEMO_CATALOG


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFFUSION_")}
    env.update(
        FFFUSION_CACHE_DIR=str(tmp_path / "cache"),
        FFFUSION_DATA_DIR=str(tmp_path / "data"),
        PYTHONIOENCODING="utf-8",
    )
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=cli_env,
            cwd=REPO,
            timeout=timeout,
        )

    return run
