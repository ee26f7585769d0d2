"""Friends' faces in group memes, by consent only, per chat.

A person lets the people of one chat (a Telegram group, a Discord server) put their face in group memes with
`/shareface on`, and stops with `/shareface off`; `/deleteface` ends it with everything else (the store's rows
cascade). Consent never crosses chats: it is stored per chat key "<platform>:<chat id>". Someone who has not
consented in that chat is never swapped in, and the answer is the same whether or not they have a face at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InputError
from core.service.service import MemeService, Person
from core.text import clean_sentence, subtitle_request


def chat_key(platform: str, chat_id: str) -> str:
    return f"{platform}:{chat_id}"


@dataclass(frozen=True)
class FriendRef:
    """Someone a message points at: by platform user id (a Discord mention, a Telegram reply or text mention)
    or by @handle (a Telegram @mention, which carries no id). `label` is how the message named them."""

    label: str
    user_id: str | None = None
    handle: str | None = None


@dataclass(frozen=True)
class Friend:
    name: str  # the name they gave when they consented, shown in the caption
    record: bytes


@dataclass(frozen=True)
class Friends:
    allowed: tuple[Friend, ...]
    refused: tuple[str, ...]  # labels of those who have not allowed it here (registered or not: not said)


@dataclass(frozen=True)
class GroupMeme:
    meme_id: str
    caption: str
    image: bytes  # JPEG
    names: tuple[str, ...]  # the friends whose faces are in it, in fill order
    left_out: tuple[str, ...]  # friends who did not fit on the meme
    not_placed: tuple[str, ...]  # friends whose face could not be put on their place (pose)
    requester_in: bool  # whether the requester's own face is in it


def _handle(value: str | None) -> str | None:
    return value.strip().lstrip("@").lower() or None if value else None


async def share_face(
    service: MemeService, person: Person, chat_id: str | None, on: bool, name: str, handle: str | None = None
) -> str:
    """Turns consent on or off in one chat; returns the message key of the answer."""
    if not chat_id:
        raise InputError("share.needs_chat")
    chat = chat_key(person.platform, chat_id)
    async with service.guard.writing(person, service.guard.moment()):  # never beside a deletion
        pid = await service.store.find_person(person.platform, person.user_id)
        if not on:
            unshared = pid is not None and await service.store.unshare_face(pid, chat)
            return "share.off" if unshared else "share.was_off"
        if pid is None or await service.face_record(pid, None) is None:
            raise InputError("share.needs_face")
        await service.store.share_face(pid, chat, " ".join(name.split())[:64] or person.user_id, _handle(handle))
    return "share.on"


async def find_friends(service: MemeService, person: Person, chat_id: str | None, refs: list[FriendRef]) -> Friends:
    """Who of the people a message points at may be swapped in, in the order they were named."""
    allowed: list[Friend] = []
    refused: list[str] = []
    seen: set[int] = set()
    me = await service.store.find_person(person.platform, person.user_id)
    for ref in refs:
        found = None
        if chat_id:
            chat = chat_key(person.platform, chat_id)
            found = await service.store.sharing(chat, person.platform, ref.user_id, _handle(ref.handle))
        if found is not None and found[0] in (me, *seen):
            continue  # the requester themself, or someone named twice
        record = await service.face_record(found[0], None) if found is not None else None
        if found is None or record is None:
            if ref.user_id != person.user_id and ref.label not in refused:
                refused.append(ref.label)
            continue
        seen.add(found[0])
        allowed.append(Friend(found[1], record))
    return Friends(tuple(allowed), tuple(refused))


async def group_meme(
    service: MemeService, person: Person, text: str, friends: tuple[Friend, ...], face: str | None = None,
    subtitle: bool = False,
) -> GroupMeme:
    """The best-fitting meme with room for several faces: the requester's on its first face (when they have
    one), then the friends in the order they were named, following the catalog's `faces` fill order.
    `subtitle` (or "--자막" in the text): the sentence on the picture, as for one person."""
    text, flagged = subtitle_request(text)
    sentence = clean_sentence(text, service.limits)
    async with service.guard.counted(person):
        return await _group_meme(service, person, sentence, friends, face, sentence if subtitle or flagged else "")


async def _group_meme(
    service: MemeService, person: Person, sentence: str, friends: tuple[Friend, ...], face: str | None,
    subtitle: str,
) -> GroupMeme:
    # writes nothing: a group meme is neither cached nor recorded (it carries several people's faces)
    pid = await service.store.find_person(person.platform, person.user_id)
    mine = await service.face_record(pid, face) if pid is not None else None
    if pid is None and face:
        raise InputError("face.unknown_name", name=face)
    await service.follow_catalog()
    records = ([mine] if mine else []) + [f.record for f in friends]
    catalog = service.catalog
    # Memes that name several faces to fill; the best-ranked one with room for everyone, else the roomiest.
    roomy = {m.id: len(set(m.faces)) for m in catalog.memes if len(set(m.faces)) > 1}
    if not roomy:
        raise InputError("group.no_meme")
    ranked = await service.jobs.rank(sentence, len(catalog.memes))
    order = [m for m, _ in ranked.memes if m in roomy]
    if not order:
        raise InputError("group.no_meme")
    meme_id = next((m for m in order if roomy[m] >= len(records)), max(order, key=lambda m: roomy[m]))
    composed = await service.jobs.compose_group(meme_id, tuple(records), subtitle)
    offset = 1 if mine else 0
    fitted = [k - offset for k in range(min(len(records), composed.slots)) if k >= offset]
    return GroupMeme(
        meme_id=meme_id,
        caption=catalog.by_id[meme_id].caption,
        image=composed.image,
        names=tuple(friends[k - offset].name for k in composed.placed if k >= offset),
        left_out=tuple(f.name for k, f in enumerate(friends) if k not in fitted),
        not_placed=tuple(friends[k].name for k in fitted if k + offset not in composed.placed),
        requester_in=bool(mine) and 0 in composed.placed,
    )
