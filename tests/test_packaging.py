"""A plain (non-editable) install carries the bundled data and runs from any directory: the wheel is built and
unpacked, and `fffusion demo` runs from it in an empty folder, with the checkout out of sight."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_the_data_and_the_demo_runs_from_anywhere(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("fffusion-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"fffusion_data/demo/catalog.toml", "fffusion_data/situations.tsv"} <= names
        assert {f"core/service/migrations/{b}/0001_initial.sql" for b in ("sqlite", "postgres")} <= names
        # the web page's templates and static files, read through importlib.resources
        assert {"adapters/web/templates/try.html", "adapters/web/static/app.js"} <= names
        assert not any(name.startswith(("tests/", "bench/")) for name in names)
        site = tmp_path / "site"
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": "",
           "XDG_DATA_HOME": ""}
    env.pop("FFFUSION_CATALOG", None)
    cli = "import sys; from bot.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", cli, "demo", "-o", "x.jpg", "배고파"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "x.jpg").stat().st_size > 10_000
    # the code that ran is the unpacked wheel's, not the checkout's
    check = subprocess.run(
        [sys.executable, "-c", "import bot, fffusion_data; print(bot.__file__); print(fffusion_data.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(line.startswith(str(site)) for line in check.stdout.split())
