"""Real redis-server and PostgreSQL processes on loopback ports in temporary folders, for the tests of the shared
(several-machine) set-up. Debian packages both (`apt-get install redis-server postgresql`; .ci/run installs them);
without the binaries the tests that need them skip, naming what is missing."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.kakao.kakaoside import free_port

INSTALL = "apt-get install -y redis-server postgresql"


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} in {timeout} s")


def _reap(proc: subprocess.Popen[bytes], folder: Path) -> None:
    """Wait for a server asked to stop (killing it after 10 s), then remove its folder."""
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    shutil.rmtree(folder, ignore_errors=True)


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def postgres_bin_dir() -> Path | None:
    """The folder with initdb, postgres, pg_ctl and pg_isready: Debian's /usr/lib/postgresql/<version>/bin (the
    newest), else the one on PATH."""
    needed = ("initdb", "postgres", "pg_ctl", "pg_isready")
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    on_path = [str(Path(p).parent) for p in [shutil.which("initdb")] if p]
    for folder in (*reversed(debian), *on_path):
        if all((Path(folder) / name).exists() for name in needed):
            return Path(folder)
    return None


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes]
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        _reap(self.proc, self.folder)


def start_redis(port: int | None = None) -> RedisServer:
    """A fresh redis-server; on `port` to play one that restarts (its data is gone, as with Debian's defaults)."""
    binary = redis_binary()
    if binary is None:
        raise FileNotFoundError(f"redis-server is not installed ({INSTALL})")
    folder = Path(tempfile.mkdtemp(prefix="fffusion-redis-"))
    port = port or free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "redis-server")
    except RuntimeError:
        proc.kill()
        raise
    return RedisServer(port, proc, folder)


@dataclass
class PostgresServer:
    port: int
    proc: subprocess.Popen[bytes]
    folder: Path
    as_user: list[str]
    bin_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        # pg_ctl as the server's own user: a fast shutdown (open sessions are ended, nothing is lost)
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run([*self.as_user, str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.folder / "data"),
                            "-m", "fast", "-w"], capture_output=True, timeout=60)
        _reap(self.proc, self.folder)


def start_postgres() -> PostgresServer:
    """initdb and postgres in a fresh folder; as the `postgres` user when running as root (PostgreSQL refuses
    to run as root), trusting loopback connections, its socket inside the folder."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError(f"PostgreSQL (initdb, postgres) is not installed ({INSTALL})")
    folder = Path(tempfile.mkdtemp(prefix="fffusion-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            raise FileNotFoundError("running as root and there is no `postgres` user to run PostgreSQL as") from None
        os.chown(folder, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    try:
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )
    except subprocess.CalledProcessError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {err.stderr.decode(errors='replace')[-500:]}") from None
    port = free_port()
    proc = subprocess.Popen(
        [*as_user, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(folder), "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
         "-c", "logging_collector=off"],
        stdout=subprocess.DEVNULL, stderr=open(folder / "postgres.log", "wb"),  # noqa: SIM115 (the child keeps it)
    )
    server = PostgresServer(port, proc, folder, as_user, bin_dir)
    try:
        _wait_port(port, proc, "postgres", timeout=60)
        deadline = time.monotonic() + 60
        # listening is not ready: connections are refused while the database system starts up
        while subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("postgres did not become ready in 60 s")
            time.sleep(0.05)
    except (RuntimeError, OSError):
        server.stop()  # pg_ctl: killing runuser would leave the server itself running
        raise
    return server

