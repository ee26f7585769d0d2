"""Benchmarks that print their figures. `core` first: it sets the native thread settings numpy reads."""

import core  # noqa: F401
