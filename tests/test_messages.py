"""Every text a person reads: no placeholder left unfilled, in either language, and each platform naming its own
commands (core/messages.py)."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from core.messages import TEXTS, render

REPO = Path(__file__).resolve().parent.parent
PLATFORMS = ("discord", "telegram", "kakao", "web")
# calls whose first argument is a message key and whose keyword arguments fill it
_KEYED_CALLS = {"render", "say", "InputError", "ServiceError", "ConfigError", "FffusionError"}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_renders_whole_in_both_languages(key: str) -> None:
    texts = TEXTS[key]
    assert set(texts) == {"ko", "en"}, key
    values = {name: "X" for name in _fields(texts["ko"]) | _fields(texts["en"])}  # what a call site passes
    for lang in ("ko", "en"):
        out = render(key, lang, **values)
        assert "{" not in out and "}" not in out, (key, lang, out)


def _sources() -> list[Path]:
    return [p for folder in ("core", "adapters", "bot") for p in (REPO / folder).rglob("*.py")]


def test_every_call_fills_the_placeholders_of_its_text() -> None:
    """A key passed to render()/say()/an error comes with every value its text needs; a key passed on bare (a
    notice a job returns, rendered later without values) needs none."""
    problems = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        filled: set[int] = set()
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            first = node.args[0]
            if name in _KEYED_CALLS and isinstance(first, ast.Constant) and first.value in TEXTS:
                filled.add(id(first))
                given = {k.arg for k in node.keywords}
                if None in given:  # **params: filled from a mapping this test cannot see
                    continue
                for lang in ("ko", "en"):
                    missing = _fields(TEXTS[first.value][lang]) - given
                    if missing:
                        problems.append(f"{path.relative_to(REPO)}:{node.lineno} {first.value} lacks {missing}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in TEXTS and id(node) not in filled:
                fields = _fields(TEXTS[node.value]["ko"]) | _fields(TEXTS[node.value]["en"])
                if fields and "notice" in _line(path, node.lineno):
                    problems.append(f"{path.relative_to(REPO)}:{node.lineno} notice {node.value} needs {fields}")
    assert not problems, "\n".join(problems)


def _line(path: Path, number: int) -> str:
    return path.read_text(encoding="utf-8").splitlines()[number - 1]


_COMMAND = re.compile(r"/(setface|deleteface|faces|shareface|swap|meme)\b")


def test_each_platform_names_its_own_commands() -> None:
    """Discord's Korean commands are /얼굴등록 and friends; the web page has no commands at all."""
    common = [k for k in TEXTS if k.split(".")[0] not in (*PLATFORMS, "studio")]
    for key in common:
        discord = TEXTS.get(f"discord.{key}", TEXTS[key])["ko"]
        assert not _COMMAND.search(discord), (key, discord)
    for key in ("face.not_registered", "face.record_invalid"):  # what the try page can show
        web = TEXTS.get(f"web.{key}", TEXTS[key])
        assert "/" not in web["ko"] + web["en"], key
