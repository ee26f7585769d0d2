"""자막 on a result (core/subtitle.py), with the real typeface from its package, on the real astronaut photo."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from core.catalog.catalog import load_catalog
from core.catalog.edit import parse_subtitle_text, subtitle_text, update_meme, write_catalog
from core.errors import InputError
from core.images import encode_image
from core.limits import Limits
from core.provenance import CREATOR_TOOL, DIGITAL_SOURCE_TYPE, read_xmp
from core.subtitle import PALETTE, Line, default_lines, draw, finish, fit, layout, sentence_lines

ASTRONAUT_FACE = (170, 40, 330, 250)  # x1, y1, x2, y2 at 512 px (dlib finds it about there)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, :3])


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def _inside(box: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return outer[0] <= box[0] and outer[1] <= box[1] and box[2] <= outer[2] and box[3] <= outer[3]


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_pixels_change_only_inside_the_subtitle_box(astronaut: np.ndarray) -> None:
    overlay = layout(default_lines(["우주에서 보니까", "내 월급이 더 작아 보인다"]), 512, 512, [ASTRONAUT_FACE])
    assert overlay is not None
    out = draw(astronaut, overlay)
    changed = _changed(astronaut, out)
    x1, y1, x2, y2 = overlay.box
    inside = np.zeros_like(changed)
    inside[y1:y2, x1:x2] = True
    assert changed[inside].mean() > 0.2  # big letters, thick outline
    assert not changed[~inside].any()
    assert out.shape == astronaut.shape and not np.shares_memory(out, astronaut)


def test_each_line_takes_its_colour(astronaut: np.ndarray) -> None:
    yellow, cyan = (255, 226, 61), (0, 255, 255)
    overlay = layout([Line("노랑", yellow), Line("하늘", cyan)], 512, 512, [ASTRONAUT_FACE])
    assert overlay is not None
    x1, y1, x2, y2 = overlay.box
    patch = draw(astronaut, overlay)[y1:y2, x1:x2].reshape(-1, 3).astype(int)
    half = len(patch) // 2
    for part, color in ((patch[:half], yellow), (patch[half:], cyan)):
        near = np.abs(part - np.array(color)).sum(axis=1) < 30
        assert near.sum() > 200, color  # solid letters of the line's colour in its half


@pytest.mark.parametrize("face", [(150, 330, 360, 500), (150, 10, 360, 200), (0, 0, 512, 240), (40, 250, 470, 470)])
def test_the_box_covers_no_face(astronaut: np.ndarray, face: tuple[int, int, int, int]) -> None:
    """A face at the bottom sends the subtitle up, one at the top keeps it at the bottom, and so on."""
    faces = [face, ASTRONAUT_FACE] if not _overlaps(face, ASTRONAUT_FACE) else [face]
    overlay = layout(default_lines(["퇴근하고 싶다"]), 512, 512, faces)
    assert overlay is not None
    assert not any(_overlaps(overlay.box, f) for f in faces), (overlay.box, faces)


@pytest.mark.parametrize("size", [(640, 640), (640, 360), (320, 640), (200, 150)])
def test_text_stays_inside_the_picture_for_1_to_40_characters(size: tuple[int, int]) -> None:
    width, height = size
    words = "시험 완전 망했어 진짜 어떡하지 엄마한테 뭐라고 하냐 오늘은 그냥 잘래"
    for n in range(1, 41):
        for text in (words.replace(" ", "")[:n], words[:n].strip() or "가", "가" * n):
            overlay = layout(default_lines([text]), width, height, [])
            assert overlay is not None
            assert _inside(overlay.box, (0, 0, width, height)), (text, overlay.box)
            # the letters and their outline end before the overlay's edge: nothing of them is cut off
            ink = 255 - overlay.keep[:, :, 0].astype(int)
            edge = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
            assert edge.max() <= 12, (text, size)


def test_rows_break_only_between_words() -> None:
    sentence = "남친이랑 헤어졌어 우울해 죽겠다 아무것도 하기 싫고 그냥 누워만 있고 싶다"
    for width in (640, 400, 240):
        _, rows = fit(default_lines([sentence]), width, width)
        assert len(rows) >= 2 and " ".join(text for text, _ in rows) == sentence
        assert all(set(text.split()) <= set(sentence.split()) for text, _ in rows)


def test_a_long_sentence_as_subtitle_is_cut_at_a_word() -> None:
    (line,) = sentence_lines("오늘 회사에서 부장님이 또 야근하라고 해서 진짜 너무 화가 나는데 참았다", 20)
    assert line.text == "오늘 회사에서 부장님이 또…"
    assert sentence_lines("  짧은   문장 ", 20) == (Line("짧은 문장", PALETTE[0]),)


def test_finish_brings_a_small_picture_to_640_and_marks_it(astronaut: np.ndarray) -> None:
    small = cv2.resize(astronaut, (300, 300), interpolation=cv2.INTER_AREA)
    face = tuple(v * 300 / 512 for v in ASTRONAUT_FACE)
    marked = finish(small, [face], default_lines(["월급 들어왔다"]), Limits())
    plain = finish(small, [face], default_lines(["월급 들어왔다"]), dataclasses.replace(Limits(), mark=False))
    assert marked.shape == plain.shape == (640, 640, 3)
    mark = _changed(marked, plain)
    ys, xs = np.nonzero(mark)
    assert 0 < mark.sum() < 640 * 640 * 0.01  # small
    assert xs.min() > 500 and ys.min() > 560  # in the bottom right corner, clear of the face
    large = finish(astronaut, [ASTRONAUT_FACE], (), dataclasses.replace(Limits(), mark=False, min_output_side=400))
    assert np.array_equal(large, astronaut)  # nothing to bring up, nothing to draw


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_results_carry_provenance_readable_with_pillow(astronaut: np.ndarray, fmt: str) -> None:
    packet = read_xmp(encode_image(astronaut, fmt, provenance=True))
    assert DIGITAL_SOURCE_TYPE in packet and f'CreatorTool="{CREATOR_TOOL}"' in packet
    assert read_xmp(encode_image(astronaut, fmt)) == ""  # a face crop, say, is no composite


def test_catalog_subtitles_load_edit_and_round_trip(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((64, 64, 3), 128, np.uint8))
    (tmp_path / "catalog.toml").write_text(
        '[[meme]]\nid = "a"\nimage = "a.png"\ncaption = "시험을 망쳤다."\n'
        'subtitle = ["시험 망했다", { text = "인생도 망했다", color = "#FF3030" }]\n',
        encoding="utf-8",
    )
    meme = load_catalog(tmp_path).by_id["a"]
    assert meme.subtitle == (Line("시험 망했다", PALETTE[0]), Line("인생도 망했다", (255, 48, 48)))
    assert subtitle_text(meme.subtitle) == "시험 망했다\n#FF3030 인생도 망했다"
    lines = parse_subtitle_text(["#3366FF 파란 줄", "", "  두 번째  줄 "])
    assert lines == (Line("파란 줄", (51, 102, 255)), Line("두 번째 줄", PALETTE[1]))
    edited = update_meme(tmp_path, "a", meme.caption, subtitle=lines).by_id["a"]
    assert edited.subtitle == lines
    assert write_catalog(tmp_path, [edited]).by_id["a"].subtitle == lines  # written and read back the same
    (tmp_path / "catalog.toml").write_text(
        '[[meme]]\nid = "a"\nimage = "a.png"\ncaption = "x"\nsubtitle = [{ text = "x", color = "red" }, 3]\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        load_catalog(tmp_path)
    assert caught.value.params["count"] == 2 and "subtitle line 2" in caught.value.params["details"]
