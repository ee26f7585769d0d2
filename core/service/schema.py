"""Versioned schema for both store backends: `migrations/<backend>/NNNN_what.sql`, numbered from 1 without gaps.

Both backends are always at the same version, so the code knows one `SCHEMA_VERSION`. A fresh database is created
at that version when it is first opened; an existing one is only upgraded by `fffusion db migrate`, and a store
whose schema is older or newer than the code refuses to open (the service never runs on a schema it was not
written for).
"""

from __future__ import annotations

import re
from importlib import resources

from core.errors import ConfigError

BACKENDS = ("sqlite", "postgres")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations(backend: str) -> tuple[str, ...]:
    """The scripts of a backend, in order: entry N upgrades the schema from version N to N+1."""
    folder = resources.files("core.service").joinpath("migrations", backend)
    numbered = sorted((int(m.group(1)), f) for f in folder.iterdir() if (m := _NAME.match(f.name)))
    if [n for n, _ in numbered] != list(range(1, len(numbered) + 1)):
        raise RuntimeError(f"migrations/{backend}: files must be numbered 0001, 0002, ... without gaps")
    return tuple(f.read_text(encoding="utf-8") for _, f in numbered)


SCHEMA_VERSION = len(migrations("sqlite"))
if any(len(migrations(b)) != SCHEMA_VERSION for b in BACKENDS):
    raise RuntimeError("every store backend needs the same number of migrations")


def check_version(found: int, where: str) -> None:
    """Refuse a schema this code was not written for, saying what to do."""
    if found < SCHEMA_VERSION:
        raise ConfigError("db.schema_old", where=where, found=found, code=SCHEMA_VERSION)
    if found > SCHEMA_VERSION:
        raise ConfigError("db.schema_new", where=where, found=found, code=SCHEMA_VERSION)
