"""Swapping a person's face onto any picture posted in a chat (not only onto the catalog's memes).

The order of the checks is the point: the person's face first (no download for someone who has none), then the
size the platform reports, then the download, the size of what arrived, and in the worker the pixel count from
the header before the picture is decoded (core/compute/runtime.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.errors import InputError
from core.images import check_size
from core.service.service import MemeService, Person
from core.text import face_number

#: what people may ask for: every face, the largest, or one by number (0 = the largest)
TARGETS = ("largest", "all")


@dataclass(frozen=True)
class PictureResult:
    image: bytes  # JPEG
    faces: int  # faces found in the picture
    swapped: int  # faces that now wear the person's
    notices: tuple[str, ...]  # message keys about faces left as they were
    result_key: str  # recorded as the person's: a platform's copy of it (a media URL) goes when they do


def check_target(target: str | None) -> str:
    """The target as the worker takes it; InputError for anything but all | largest | a face number."""
    spec = (target or "largest").strip().lower()
    if spec not in TARGETS and face_number(spec) is None:
        raise InputError("face.bad_target_spec", value=spec)
    return spec


async def swap_picture(
    service: MemeService,
    person: Person,
    fetch: Callable[[], Awaitable[bytes]],
    size: int | None = None,
    face: str | None = None,
    target: str | None = None,
) -> PictureResult:
    """The person's (or their named) face onto a picture, fetched only once everything cheap has passed.
    `size` is what the platform reports before the download, when it does."""
    spec = check_target(target)
    if size is not None:
        check_size(size, service.limits)
    generation = service.guard.moment()  # a deletion meanwhile wins: the result is then not recorded
    async with service.guard.counted(person):
        pid = await service.store.find_person(person.platform, person.user_id)
        record = await service.face_record(pid, face) if pid is not None else None
        if pid is None or record is None:
            raise InputError("picture.needs_face")
        picture = await fetch()
        check_size(len(picture), service.limits)
        swapped = await service.jobs.swap_picture(picture, record, spec)
        digest = hashlib.sha256(picture).digest()
        key = hashlib.sha256(b"picture\0" + digest + record + spec.encode()).hexdigest()[:32]
        async with service.guard.writing(person, generation):
            await service.store.add_result(key, pid, "picture")
    return PictureResult(swapped.image, swapped.faces, swapped.swapped, swapped.notices, key)
