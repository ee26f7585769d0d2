"""`fffusion catalog check`: a small catalog with a deliberately confusable pair and a meme its example misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog.catalog import load_catalog
from core.catalog.check import check_catalog
from core.limits import Limits
from core.recommend.load import load_embedder
from core.recommend.recommender import Recommender

MEMES = [
    # the confusable pair: the same situation in nearly the same words
    ("ramen", "라면을 끓여 먹고 있다.", ["야식으로 라면 끓여 먹는 중"]),
    ("ramen-again", "라면을 끓여서 먹고 있다.", ["밤에 라면 끓여 먹었어"]),
    ("exam", "시험을 망쳐서 울고 있다.", ["시험 완전 망했어 ㅠㅠ", "공부한 데서 하나도 안 나옴"]),
    ("birthday", "생일 축하를 받아 고마워하고 있다.", ["다들 생일 축하해줘서 고마워"]),
    ("rain", "비를 맞으며 뛰어가고 있다.", ["우산 없는데 비 쏟아져서 뛰는 중"]),
    # its only example is about another meme's situation
    ("cat", "고양이를 쓰다듬고 있다.", ["시험 또 망했다 인생 끝났어"]),
    ("sleep", "졸려서 자고 있다.", []),
]


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("catalog")
    entries = []
    for meme_id, caption, examples in MEMES:
        quoted = ", ".join(f'"{e}"' for e in examples)
        entries.append(f'[[meme]]\nid = "{meme_id}"\nimage = "images/{meme_id}.png"\ncaption = "{caption}"\n'
                       f"examples = [{quoted}]\n")
    (folder / "catalog.toml").write_text("\n".join(entries), encoding="utf-8")
    return folder


def test_the_confusable_pair_and_the_unreached_meme_are_found(catalog_dir: Path) -> None:
    recommender = Recommender(load_catalog(catalog_dir, check_images=False), load_embedder())
    report = check_catalog(recommender, Limits().confusable_similarity)
    assert [(p.first.id, p.second.id) for p in report.confusable] == [("ramen", "ramen-again")]
    unreached = {u.meme.id: u for u in report.unreached}
    assert "cat" in unreached and unreached["cat"].went_to.id == "exam"
    assert unreached["cat"].example == "시험 또 망했다 인생 끝났어"
    assert not {"exam", "birthday", "rain"} & set(unreached)
    assert [m.id for m in report.without_examples] == ["sleep"]


def test_a_looser_threshold_reports_more_pairs(catalog_dir: Path) -> None:
    recommender = Recommender(load_catalog(catalog_dir, check_images=False), load_embedder())
    strict = check_catalog(recommender, 0.95).confusable
    loose = check_catalog(recommender, 0.2).confusable
    assert len(strict) < len(loose) and all(p.similarity >= 0.2 for p in loose)
    assert [p.similarity for p in loose] == sorted((p.similarity for p in loose), reverse=True)


@pytest.mark.parametrize(("lang", "fragments"), [("ko", ["헷갈리는 짤 1쌍", "ramen ↔ ramen-again", "1위 exam"]),
                                                 ("en", ["1 confusable pair", "ramen <-> ramen-again", "first exam"])])
def test_catalog_check_command(run_cli, cli_env: dict[str, str], catalog_dir: Path, lang: str,
                               fragments: list[str]) -> None:
    cli_env["FFFUSION_LANG"] = lang
    result = run_cli("catalog", "check", str(catalog_dir))
    assert result.returncode == 0, result.stderr
    for fragment in fragments:
        assert fragment in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("짤 7개 확인" if lang == "ko" else "Checked 7 memes")


def test_catalog_check_of_a_missing_folder_is_one_clear_line(run_cli, tmp_path: Path) -> None:
    result = run_cli("catalog", "check", str(tmp_path / "nothing"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
