"""Every text a person reads: no placeholder left unfilled, in either language, and each platform naming its own
commands (core/messages.py)."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from core import messages
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


_KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")


def _used_keys() -> list[tuple[str, int, str, bool]]:
    """(file, line, key, through say) of every literal message key the code passes to a keyed call; say() takes
    it second, after the person."""
    used = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            place = 1 if name == "say" else 0
            if name in (*_KEYED_CALLS, "localized") and len(node.args) > place:
                arg = node.args[place]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _KEY.fullmatch(arg.value):
                    used.append((str(path.relative_to(REPO)), node.lineno, arg.value, name == "say"))
    return used


def test_every_key_the_code_uses_has_its_text_in_both_languages() -> None:
    """Core's texts and every platform's (registered by importing the adapters, tests/conftest.py). A key said
    through `say` needs the common text: a platform without its own wording falls back to it."""
    used = _used_keys()
    assert len(used) > 200  # the scan sees the code's calls
    problems = [f"{path}:{line} {key}" for path, line, key, _ in used
                if key not in TEXTS or set(TEXTS[key]) != {"ko", "en"} or not all(TEXTS[key].values())]
    assert not problems, "\n".join(problems)


def test_platform_texts_live_with_their_adapter() -> None:
    """core/messages.py holds core's own texts; a platform's are in adapters/<platform>/texts.py."""
    core = ast.parse((REPO / "core" / "messages.py").read_text(encoding="utf-8"))
    keys = [node.value for node in ast.walk(core) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and _KEY.fullmatch(node.value)]
    assert len(keys) > 100
    assert not [k for k in keys if k.split(".")[0] in (*PLATFORMS, "studio")]


def test_an_unknown_key_raises_in_tests_and_reads_internal_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyError, match=r"no\.such_key"):
        render("no.such_key", "en")
    monkeypatch.setattr(messages, "STRICT", False)
    assert render("no.such_key", "en") == render("internal", "en")


def test_a_key_is_registered_once() -> None:
    messages.register({"web.serving": TEXTS["web.serving"]})  # the same text again (a module reloaded): fine
    with pytest.raises(ValueError, match=r"web\.serving"):
        messages.register({"web.serving": {"ko": "다른", "en": "other"}})
