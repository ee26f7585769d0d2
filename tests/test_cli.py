"""The command line as a person uses it: real process, real model, exit codes and one-line messages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import ProgressBar


def test_recommend_one_sentence(run_cli) -> None:
    result = run_cli("recommend", "--top", "2", "시험 완전 망했어 ㅠㅠ")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("1. ") and "hanks-bitter" in lines[0]


def test_recommend_reads_stdin_and_keeps_lines_aligned(run_cli, tmp_path: Path) -> None:
    captions = tmp_path / "captions.txt"
    captions.write_text("생일 축하를 받아 고마워 하고 있다.\n배가 고파서 밥을 찾고 있다.\n", encoding="utf-8")
    result = run_cli(
        "recommend",
        "--captions",
        str(captions),
        "--json",
        "--top",
        "2",
        stdin="다들 생일 축하해줘서 고마워\n\n배고파 죽겠다\n",
    )
    assert result.returncode == 2  # one empty line
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert rows[0][0]["id"] == 0 and rows[2][0]["id"] == 1
    assert rows[1] == []
    assert set(rows[0][0]) == {"id", "caption", "score"}
    assert "문장을 입력해 주세요" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["recommend", ""], "문장을 입력해 주세요"),
        (["recommend", "   "], "문장을 입력해 주세요"),
        (["recommend", "a" * 100_000], "문장이 너무 길어요"),  # the OS caps one argument near 128 KB
        (["recommend", "😭😭🔥🔥"], "이모지나 기호만으로는"),
        (["recommend", "--model", "jhgan/ko-sbert-nli-not-here", "배고파"], "불러올 수 없어요"),
        (["recommend", "--catalog", "/nonexistent", "배고파"], "카탈로그를 찾을 수 없어요"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(run_cli, args: list[str], fragment: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_100000_character_line_on_stdin_is_refused(run_cli) -> None:
    result = run_cli("recommend", "--json", stdin="가" * 100_000 + "\n")
    assert result.returncode == 2
    assert result.stdout == "[]\n" and "문장이 너무 길어요 (100000자)" in result.stderr


def test_broken_catalog_lists_every_problem(run_cli, tmp_path: Path) -> None:
    (tmp_path / "catalog.toml").write_text(
        '[[meme]]\nid = "a"\nimage = "nope.png"\ncaption = ""\n\n'
        '[[meme]]\nid = "b"\nimage = "x.jpg"\ncaption = "c"\n',
        encoding="utf-8",
    )
    result = run_cli("catalog", "build", str(tmp_path))
    assert result.returncode == 2
    assert "catalog.toml:1: empty caption" in result.stderr
    assert "catalog.toml:1: image not found: nope.png" in result.stderr
    assert "catalog.toml:6: image not found: x.jpg" in result.stderr
    assert "Traceback" not in result.stderr


def test_catalog_build_twice_reembeds_nothing(run_cli, demo_catalog_dir: Path) -> None:
    first = run_cli("catalog", "build", str(demo_catalog_dir))
    assert first.returncode == 0, first.stderr
    second = run_cli("catalog", "build", str(demo_catalog_dir))
    assert second.returncode == 0, second.stderr
    assert "(0 embedded now" in second.stdout and "(0 embedded now" not in first.stdout
    # in a log (not a terminal) the progress is plain lines, ending with every text and image done
    lines = first.stderr.splitlines()
    texts = [line for line in lines if line.startswith("texts: ")]
    images = [line for line in lines if line.startswith("images: ")]
    assert texts and texts[-1].split()[-1].split("/")[0] == texts[-1].split("/")[-1]
    assert 1 <= len(images) <= 11 and images[-1] == "images: 23/23"  # a line per tenth at most
    assert "\r" not in first.stderr and not second.stderr


def test_the_progress_bar_redraws_in_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    bar = ProgressBar(out)
    for done in range(1, 5):
        bar("images", done, 4)
    assert out.getvalue().count("\r") == 4 and out.getvalue().endswith("] 4/4\n")
    assert "[" + "#" * ProgressBar.WIDTH + "]" in out.getvalue()


def test_config_names_what_people_set_and_where_it_came_from(run_cli, cli_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    config = tmp_path / "fffusion.toml"
    config.write_text("rate_per_minute = 7\n", encoding="utf-8")
    cli_env.update(FFFUSION_MAX_TEXT_CHARS="321", FFFUSION_CONFIG=str(config),
                   FFFUSION_STUDIO_TOKEN="studio-secret-token-0123")
    result = run_cli("config")
    assert result.returncode == 0, result.stderr
    rows = {line.split("=", 1)[0]: line for line in result.stdout.splitlines()}
    assert rows["FFFUSION_MAX_TEXT_CHARS"].startswith("FFFUSION_MAX_TEXT_CHARS=321 ")
    assert rows["FFFUSION_MAX_TEXT_CHARS"].endswith("# 환경 변수")
    assert rows["FFFUSION_RATE_PER_MINUTE"].endswith(f"# 설정 파일 {config}")
    assert rows["FFFUSION_QUEUE_LENGTH"].endswith("# 기본값")
    assert rows["FFFUSION_KAKAO_IMAGE_HOSTS"].startswith("FFFUSION_KAKAO_IMAGE_HOSTS=secure.kakaocdn.net,")
    assert "studio-secret-token-0123" not in result.stdout and "FFFUSION_STUDIO_TOKEN=st…(24 chars)" in result.stdout
    cli_env["FFFUSION_LANG"] = "en"
    english = [line for line in run_cli("config").stdout.splitlines() if line.startswith("FFFUSION_QUEUE_LENGTH=")]
    assert english[0].endswith("# default")


@pytest.mark.parametrize(("env", "ko", "en"), [
    ({"FFFUSION_MAX_TEXT_CHARS": "lots"}, "FFFUSION_MAX_TEXT_CHARS=lots → 가능한 값: 1~100000 사이의 정수",
     "Invalid setting FFFUSION_MAX_TEXT_CHARS=lots: expected a whole number from 1 to 100000"),
    ({"FFFUSION_HTTP_PORT": "99999"}, "FFFUSION_HTTP_PORT=99999 → 가능한 값: 0~65535 사이의 정수",
     "expected a whole number from 0 to 65535"),
    ({"FFFUSION_TELEGRAM_TOKN": "x"}, "알 수 없는 설정 이름이에요: FFFUSION_TELEGRAM_TOKN (FFFUSION_TELEGRAM_TOKEN?)",
     "Unknown setting name(s): FFFUSION_TELEGRAM_TOKN (FFFUSION_TELEGRAM_TOKEN?)"),
])
def test_a_bad_setting_is_one_line_exit_2_in_the_operators_language(run_cli, cli_env: dict[str, str],
                                                                    env: dict[str, str], ko: str, en: str) -> None:
    cli_env.update(env)
    for lang, said in (("ko", ko), ("en", en)):
        cli_env["FFFUSION_LANG"] = lang
        for command in (("config",), ("run",), ("web",)):
            result = run_cli(*command)
            assert result.returncode == 2 and said in result.stderr, (command, result.stderr)
            assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_demo_writes_the_sentence_as_subtitle_with_provenance(run_cli, tmp_path: Path) -> None:
    from PIL import Image

    from core.provenance import DIGITAL_SOURCE_TYPE, read_xmp

    plain, own = tmp_path / "plain.png", tmp_path / "own.png"
    for out, flags in ((plain, ()), (own, ("--자막",))):
        result = run_cli("demo", "-o", str(out), *flags, "너무 졸려 죽겠다", timeout=300)
        assert result.returncode == 0, result.stderr
        assert "rachel-sleepy" in result.stdout
        assert DIGITAL_SOURCE_TYPE in read_xmp(out.read_bytes())  # PNG too
    with Image.open(plain) as a, Image.open(own) as b:
        assert a.size == b.size and max(a.size) >= 640
        assert a.tobytes() != b.tobytes()  # another 자막
