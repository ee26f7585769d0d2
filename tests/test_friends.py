"""Swapping onto any picture, consent per chat, and group memes: the core, with real images, real models,
real worker processes and a real SQLite file."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.errors import InputError
from core.service.friends import FriendRef, find_friends, group_meme, share_face
from core.service.pictures import swap_picture
from core.service.service import MemeService, Person
from tests import face_fixtures as fx
from tests.faceutil import _engine, identity_distance, who_is_where

ALICE = Person("telegram", "2001")
BOB = Person("telegram", "2002")
CAROL = Person("telegram", "2003")
DAVE = Person("telegram", "2004")  # never registers a face
GROUP, OTHER_GROUP = "-100500", "-100600"


def _fetch(data: bytes, calls: list[int] | None = None):
    async def fetch() -> bytes:
        if calls is not None:
            calls.append(1)
        return data

    return fetch


def _png(width: int, height: int, colour: tuple[int, int, int] = (200, 180, 160)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def photo_c() -> bytes:
    return fx.portrait("tom")


@pytest.fixture(scope="module")
def photo_r() -> bytes:
    return fx.portrait("rachel")


async def test_swap_onto_a_posted_picture(service: MemeService, photo_a: bytes, photo_b: bytes) -> None:
    await service.register_face(ALICE, photo_a)
    chandler = fx.encode(fx.crop_around(fx.group_photo(), fx.t1_faces(_engine())["chandler"].bbox), "JPEG", quality=95)
    result = await swap_picture(service, ALICE, _fetch(chandler), size=len(chandler))
    assert (result.faces, result.swapped) == (1, 1)
    # The picture's face moved toward Alice's and away from Chandler's.
    assert identity_distance(result.image, photo_a) < identity_distance(chandler, photo_a) - 0.1
    assert identity_distance(result.image, chandler) > 0.3

    group = fx.encode(fx.group_photo(), "JPEG", quality=92)
    everyone = await swap_picture(service, ALICE, _fetch(group), target="all")
    assert everyone.faces == 6 and 3 <= everyone.swapped <= 6  # turned heads may be left as they were
    one = await swap_picture(service, ALICE, _fetch(group), target="2")
    assert (one.faces, one.swapped) == (6, 1)

    # The result is Alice's: deleting her forgets it (a platform's copy served by URL goes too).
    await service.store.remember_upload("media", result.result_key, "alice-picture")
    forgotten: list[tuple[str, str]] = []

    async def forget(uploads: list[tuple[str, str]]) -> None:
        forgotten.extend(uploads)

    service.forget_uploads.append(forget)
    await service.delete_person(ALICE)
    assert ("media", "alice-picture") in forgotten


async def test_pictures_that_cannot_be_used_are_refused(service: MemeService, photo_a: bytes) -> None:
    calls: list[int] = []
    # No face registered: refused before anything is downloaded.
    with pytest.raises(InputError) as caught:
        await swap_picture(service, DAVE, _fetch(photo_a, calls))
    assert caught.value.key == "picture.needs_face" and calls == []

    await service.register_face(ALICE, photo_a)
    # Too big by the size the platform reports: refused before the download.
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch(photo_a, calls), size=service.limits.max_image_bytes + 1)
    assert caught.value.key == "image.too_big_bytes" and calls == []
    # A bad target is refused before the download too.
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch(photo_a, calls), target="everyone")
    assert caught.value.key == "face.bad_target_spec" and calls == []
    # Bigger than it said: refused after the download, before decoding.
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch(b"\xff" * (service.limits.max_image_bytes + 1)), size=10)
    assert caught.value.key == "image.too_big_bytes"
    # Too many pixels for a few bytes: refused from the header.
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch(_png(8000, 6000)))
    assert caught.value.key == "image.too_many_pixels"
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch("그냥 텍스트 파일이에요\n".encode()))
    assert caught.value.key == "image.not_image"
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch(_png(640, 480)))
    assert caught.value.key == "picture.no_face"
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch(photo_a), face="회사용")
    assert caught.value.key == "face.unknown_name"
    # The only face in the picture cannot take hers: a face number that is not there.
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch(photo_a), target="3")
    assert caught.value.key == "face.bad_target"


async def test_a_face_that_cannot_take_yours_is_said(service: MemeService, photo_a: bytes) -> None:
    """Joey looks sideways: a frontal face cannot be warped onto him."""
    await service.register_face(ALICE, photo_a)
    joey = fx.encode(fx.crop_around(fx.group_photo(), fx.t1_faces(_engine())["joey"].bbox, margin=1.2), "JPEG",
                     quality=95)
    with pytest.raises(InputError) as caught:
        await swap_picture(service, ALICE, _fetch(joey))
    assert caught.value.key == "picture.no_face_fits" and caught.value.params == {"count": 1}


async def test_consent_is_per_chat_and_never_revealed(
    service: MemeService, photo_a: bytes, photo_b: bytes
) -> None:
    with pytest.raises(InputError) as caught:
        await share_face(service, BOB, GROUP, True, "Bob")
    assert caught.value.key == "share.needs_face"  # nothing to share yet
    with pytest.raises(InputError) as caught:
        await share_face(service, BOB, None, True, "Bob")
    assert caught.value.key == "share.needs_chat"

    await service.register_face(ALICE, photo_a)
    await service.register_face(BOB, photo_b)
    await service.register_face(CAROL, photo_b)
    assert await share_face(service, BOB, GROUP, True, "Bob", handle="@Bobby") == "share.on"

    refs = [FriendRef("@bobby", handle="bobby"), FriendRef("Carol", user_id=CAROL.user_id),
            FriendRef("Dave", user_id=DAVE.user_id), FriendRef("Bob", user_id=BOB.user_id)]
    here = await find_friends(service, ALICE, GROUP, refs)
    assert [f.name for f in here.allowed] == ["Bob"]  # by handle; named twice, counted once
    # Carol has a face and Dave has none: the same answer for both.
    assert here.refused == ("Carol", "Dave")
    elsewhere = await find_friends(service, ALICE, OTHER_GROUP, refs)
    assert elsewhere.allowed == () and elsewhere.refused == ("@bobby", "Carol", "Dave", "Bob")
    # Another platform's chat with the same id is another chat.
    assert (await find_friends(service, Person("discord", "9"), GROUP, refs[3:])).allowed == ()

    assert await share_face(service, BOB, GROUP, False, "Bob") == "share.off"
    assert await share_face(service, BOB, GROUP, False, "Bob") == "share.was_off"
    assert (await find_friends(service, ALICE, GROUP, refs)).allowed == ()

    # /deleteface withdraws consent at once, with everything else.
    await share_face(service, BOB, GROUP, True, "Bob")
    assert len((await find_friends(service, ALICE, GROUP, refs)).allowed) == 1
    await service.delete_person(BOB)
    assert (await find_friends(service, ALICE, GROUP, refs)).refused == ("@bobby", "Carol", "Dave", "Bob")
    await service.register_face(BOB, photo_b)  # registering again does not bring consent back
    assert (await find_friends(service, ALICE, GROUP, refs)).allowed == ()
    rows = await (await service.store.db.execute("SELECT COUNT(*) FROM shares")).fetchone()
    assert rows == (0,)


async def test_group_meme_puts_friends_in_fill_order(
    service: MemeService, photo_b: bytes, photo_c: bytes, photo_r: bytes
) -> None:
    # Faces that fit the places they fill (a frontal astronaut on the asker's; Rachel's turned head on Ross's,
    # Tom Hanks's on Chandler's); photos that cannot are the next test's concern.
    photos = {"alice": photo_b, "bob": photo_r, "carol": photo_c}
    for person, photo in ((ALICE, photo_b), (BOB, photo_r), (CAROL, photo_c)):
        await service.register_face(person, photo)
    await share_face(service, BOB, GROUP, True, "Bob")
    await share_face(service, CAROL, GROUP, True, "Carol")
    refs = [FriendRef("Bob", user_id=BOB.user_id), FriendRef("Carol", user_id=CAROL.user_id)]
    friends = await find_friends(service, ALICE, GROUP, refs)
    assert [f.name for f in friends.allowed] == ["Bob", "Carol"]

    # Two consenting friends on the two-face meme, asked by someone without a face of their own.
    duo = await group_meme(service, DAVE, "둘이 아주 쿵짝이 잘 맞네", friends.allowed)
    assert duo.meme_id == "ross-chandler" and duo.names == ("Bob", "Carol") and not duo.requester_in
    assert who_is_where("ross-chandler", duo.image, photos, 2) == ["bob", "carol"]

    # The asker and one friend: the asker takes the first face, the friend the second.
    pair = await group_meme(service, ALICE, "둘이 아주 쿵짝이 잘 맞네", (friends.allowed[1],))
    assert pair.meme_id == "ross-chandler" and pair.requester_in and pair.names == ("Carol",)
    assert who_is_where("ross-chandler", pair.image, photos, 2) == ["alice", "carol"]

    # Three people do not fit on it: the best meme with room for them, filled in the catalog's order.
    three = await group_meme(service, ALICE, "둘이 아주 쿵짝이 잘 맞네", friends.allowed)
    assert three.meme_id == "poker-table" and three.names == ("Bob", "Carol") and three.left_out == ()
    assert who_is_where("poker-table", three.image, photos, 3) == ["alice", "bob", "carol"]


async def test_group_meme_names_who_did_not_fit(service: MemeService, photo_b: bytes) -> None:
    await service.register_face(ALICE, photo_b)
    refs = []
    for n in range(1, 7):
        friend = Person("telegram", f"30{n}")
        await service.register_face(friend, photo_b)
        await share_face(service, friend, GROUP, True, f"F{n}")
        refs.append(FriendRef(f"@f{n}", user_id=friend.user_id))
    friends = await find_friends(service, ALICE, GROUP, refs)
    # Seven people on a table of four places (the two heads turned away at the back keep their own faces): the
    # friends named last have no room, and are named as left out.
    table = await group_meme(service, ALICE, "다 같이 모이니까 너무 재밌다", friends.allowed)
    assert table.meme_id == "poker-table" and table.requester_in
    assert table.names == ("F1", "F2", "F3") and table.not_placed == () and table.left_out == ("F4", "F5", "F6")
