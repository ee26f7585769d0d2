"""Worker jobs that swap onto more than a catalog meme with one face: a picture someone posted, and a meme's
several faces filled with several people. Pure functions of their arguments, like core/service/worker.py's."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InputError
from core.faces.base import SourceFace
from core.faces.engines import choose_targets
from core.images import decode_image
from core.service.worker import _encode, meme_image, state, subtitle_lines, sync_catalog


@dataclass(frozen=True)
class PictureSwapped:
    image: bytes  # JPEG
    faces: int  # faces found in the picture
    swapped: int  # of them, how many now wear the person's face
    notices: tuple[str, ...]  # message keys about faces left as they were


@dataclass(frozen=True)
class GroupComposed:
    image: bytes  # JPEG
    slots: int  # faces there were to fill
    placed: tuple[int, ...]  # indices of the records that are in the picture
    notices: tuple[str, ...]


def job_swap_picture(image: bytes, record: bytes, target: str) -> PictureSwapped:
    """The person's face onto the chosen faces of any picture (target: all | largest | a number, 0 = largest).
    Pixels are checked from the header before the picture is decoded (core.images.decode_image)."""
    s = state()
    rgb = decode_image(image, s.config.limits)
    faces = s.engine.detect(rgb)
    if not faces:
        raise InputError("picture.no_face")
    chosen = [faces[i] for i in choose_targets(faces, target)]
    outcome = s.engine.swap(rgb, chosen, s.engine.own_source(SourceFace.from_bytes(record)))
    if not outcome.swapped:
        raise InputError("picture.no_face_fits", count=len(chosen))
    return PictureSwapped(_encode(s, outcome.image, faces), len(faces), len(outcome.swapped), outcome.notices)


def fill_order(catalog_faces: tuple[int, ...], found: int) -> list[int]:
    """The meme's faces in the order people fill them: the catalog's `faces` list, else the largest alone."""
    return [i for i in dict.fromkeys(catalog_faces) if 0 <= i < found] or ([0] if found else [])


def job_compose_group(
    meme_id: str, records: tuple[bytes, ...], catalog: str | None = None, subtitle: str = ""
) -> GroupComposed:
    """records[k] onto the meme's k-th face in fill order; records past the last face are left out. `catalog`:
    the version the service serves (core.service.worker.sync_catalog); `subtitle`: the asker's sentence as the
    자막 ("" for the meme's own)."""
    s = state()
    sync_catalog(s, catalog)
    meme = s.prepared.catalog.by_id[meme_id]
    faces = s.prepared.targets.get(meme_id, [])
    image = meme_image(s, meme_id)
    slots = fill_order(meme.faces, len(faces))
    placed: list[int] = []
    notices: list[str] = []
    for k, index in enumerate(slots[: len(records)]):
        outcome = s.engine.swap(image, [faces[index]], s.engine.own_source(SourceFace.from_bytes(records[k])))
        image = outcome.image
        if outcome.swapped:
            placed.append(k)
        notices.extend(outcome.notices)
    encoded = _encode(s, image, faces, subtitle_lines(s, meme_id, subtitle))
    return GroupComposed(encoded, len(slots), tuple(placed), tuple(dict.fromkeys(notices)))
