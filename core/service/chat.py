"""The chat layer: the only part of core/service an adapter imports (tests/test_architecture.py holds it). Beside
it an adapter may use the shared vocabulary (core/errors, messages, limits, text, images, bounded) and nothing
else of core: no service, store, catalog or compute module.

What an adapter names of it, in the order a message meets it: the `Person` who wrote, an intent (TextIntent,
PhotoIntent..., `FriendRef`s for the people a message names) to `Conversation.handle`, a `Reply` back (its
`Button`s by `Action`); the result images served by URL (`Media`) for platforms that show an image by URL; the web
page's shared state (`Ephemeral`, `Limiter`); and the catalog `Studio` with the catalog's types it shows.
"""

from __future__ import annotations

from core.catalog.catalog import ID_RE, Meme
from core.catalog.check import CheckReport
from core.catalog.edit import NewMeme, subtitle_text
from core.compute.contract import MemeFaces
from core.service.conversation import (
    Action,
    Button,
    ChoicesIntent,
    Conversation,
    DeleteIntent,
    FacesIntent,
    HelpIntent,
    Intent,
    NextIntent,
    PhotoIntent,
    PickIntent,
    Reply,
    ShareFaceIntent,
    SubtitleIntent,
    SwapPictureIntent,
    TextIntent,
)
from core.service.ephemeral import Ephemeral
from core.service.friends import FriendRef
from core.service.media import Media
from core.service.service import Limiter, Person
from core.service.studio import Studio

__all__ = [
    "ID_RE", "Action", "Button", "CheckReport", "ChoicesIntent", "Conversation", "DeleteIntent", "Ephemeral",
    "FacesIntent", "FriendRef", "HelpIntent", "Intent", "Limiter", "Media", "Meme", "MemeFaces", "NewMeme",
    "NextIntent", "Person", "PhotoIntent", "PickIntent", "Reply", "ShareFaceIntent", "Studio", "SubtitleIntent",
    "SwapPictureIntent", "TextIntent", "subtitle_text",
]
