"""The layering holds: no import circles anywhere, core knows no adapter, chat library or bot, adapters
know no other adapter. Every import counts, also the ones inside functions (docs/DESIGN.md, "Layers")."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("adapters", "bench", "bot", "core", "tests", "tools")
CHAT_LIBRARIES = ("discord", "telegram", "aiohttp")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")) if (REPO / package).is_dir() else []:
            found[_module_name(path)] = path
    return found


def _imports(path: Path, name: str, is_package: bool) -> set[str]:
    """Every module named by an import statement anywhere in the file (absolute names)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = _imports(path, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, if any (depth-first search, in a fixed order so the report is stable)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def _all_imports(prefix: str) -> list[tuple[str, str]]:
    return [
        (name, target)
        for name, path in _modules().items()
        if name == prefix or name.startswith(prefix + ".")
        for target in _imports(path, name, path.name == "__init__.py")
    ]


def test_core_imports_no_adapter_bot_or_chat_library() -> None:
    banned = ("adapters", "bot", *CHAT_LIBRARIES)
    wrong = [(n, t) for n, t in _all_imports("core") if t.split(".")[0] in banned]
    assert not wrong, wrong


def _shared_by_adapters() -> set[str]:
    """Modules directly in adapters/ (adapters/fetch.py): what every adapter may import; they import no adapter."""
    return {path.stem for path in (REPO / "adapters").glob("*.py") if path.stem != "__init__"}


def test_adapters_import_no_other_adapter_and_no_bot() -> None:
    shared = _shared_by_adapters()
    assert "fetch" in shared
    wrong = []
    for name, target in _all_imports("adapters"):
        own = name.split(".")[1] if name.count(".") else None
        parts = target.split(".")
        if parts[0] == "bot" or (parts[0] == "adapters" and len(parts) > 1 and own and parts[1] != own
                                 and (own in shared or parts[1] not in shared)):
            wrong.append((name, target))
    assert not wrong, wrong


#: the one module of core/service an adapter imports (it re-exports what crosses the seam), and core's shared
#: vocabulary: errors and their message keys, the texts and their renderer, limits, sentence and image checks, the
#: bounded cache (docs/DESIGN.md, "Layers")
CHAT_LAYER = "core.service.chat"
VOCABULARY = ("core.errors", "core.messages", "core.limits", "core.text", "core.images", "core.bounded")


def _core_outside_the_chat_layer(imports: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The imports of core modules that are neither the chat layer nor the vocabulary."""
    allowed = (CHAT_LAYER, *VOCABULARY)
    return [(name, target) for name, target in imports
            if target.split(".")[0] == "core" and target != "core"
            and not any(target == a or target.startswith(a + ".") for a in allowed)
            and target not in ("core.service",)]  # `from core.service import chat`: the package, for its module


def test_adapters_import_only_the_chat_layer_and_the_vocabulary() -> None:
    assert _core_outside_the_chat_layer([("adapters.x", "core.service.service")])  # the check sees a side door
    assert not _core_outside_the_chat_layer([("adapters.x", "core.service.chat.Reply"), ("adapters.x", "core.text")])
    wrong = _core_outside_the_chat_layer(_all_imports("adapters"))
    assert not wrong, wrong


HEAVY = ("cv2", "onnxruntime", "dlib")  # what only a worker loads: OpenCV and the face and text models' runtimes
#: what runs the workers' jobs, and the offline CLI (`fffusion demo`, `catalog check` run the models in-process)
WORKER_SIDE = ("core.compute.runtime", "core.compute.redis.consumer", "core.compute.redis.supervisor", "bot.cli")


def _bot_side() -> list[str]:
    """The modules of the bot process: the adapters, bot/, the service and the typed seam to the workers."""
    return sorted(name for name in _modules()
                  if name.split(".")[0] in ("adapters", "bot") or name.startswith(("core.service", "core.compute"))
                  if name not in WORKER_SIDE)


def _heavy_after_import(module: str) -> list[str]:
    """The heavy modules loaded by importing `module` in a fresh interpreter."""
    script = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_bot_side_loads_no_opencv_onnxruntime_or_dlib() -> None:
    modules = _bot_side()
    assert {"adapters.web.port", "bot.app", "core.service.service", "core.compute.client"} <= set(modules)
    with ThreadPoolExecutor(2) as run:
        heavy = dict(zip(modules, run.map(_heavy_after_import, modules), strict=True))
    assert not {m: found for m, found in heavy.items() if found}
    assert "cv2" in _heavy_after_import("core.compute.runtime")  # the check sees what a worker loads
