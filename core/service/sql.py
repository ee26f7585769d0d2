"""The SQL both stores run (core/service/store.py on SQLite, core/service/pgstore.py on PostgreSQL), written once
in SQLite's placeholder style (`?`); PostgreSQL's numbered placeholders ($1, $2, ...) come from `numbered`. Upserts
use the ON CONFLICT form both databases know. Only what the two write differently stays in each store: a person's
recent memes as one value (json_group_array / ARRAY), the row locks of PostgreSQL's deletion and upload record,
and `shown` as one statement there."""

from __future__ import annotations

import functools

CREATE_PERSON = "INSERT INTO people (platform, user_id, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
PERSON_ID = "SELECT id FROM people WHERE platform=? AND user_id=?"
SET_LANG = "UPDATE people SET lang=? WHERE id=?"

SAVE_FACE = (
    "INSERT INTO faces (person, name, engine, record, crop_jpeg, created) VALUES (?,?,?,?,?,?)"
    " ON CONFLICT (person, name) DO UPDATE SET engine=excluded.engine, record=excluded.record,"
    " crop_jpeg=excluded.crop_jpeg, created=excluded.created"
)
SET_DEFAULT_FACE = "UPDATE people SET default_face=? WHERE id=?"
UPGRADE_FACE = "UPDATE faces SET record=?, engine=? WHERE person=? AND record=?"
FACE_NAMES = "SELECT name FROM faces WHERE person=? ORDER BY created"
DEFAULT_FACE = "SELECT default_face FROM people WHERE id=?"
FACE = (
    "SELECT f.name, f.engine, f.record, f.crop_jpeg FROM faces f JOIN people p ON p.id = f.person"
    " WHERE f.person=? AND f.name=coalesce(?, p.default_face)"
)
STAMP = (
    "SELECT p.id, f.created FROM people p LEFT JOIN faces f ON f.person = p.id AND f.name = p.default_face"
    " WHERE p.platform=? AND p.user_id=?"
)
STALE_PEOPLE = (
    "SELECT p.user_id FROM people p LEFT JOIN faces f ON f.person = p.id WHERE p.platform=?"
    " GROUP BY p.id HAVING MAX(COALESCE(f.created, p.created)) < ?"
)
DELETE_PERSON = "DELETE FROM people WHERE id=?"

ADD_RESULT = "INSERT INTO results (key, person, meme, created) VALUES (?,?,?,?) ON CONFLICT DO NOTHING"
SAVE_REQUEST = (
    "INSERT INTO requests (id, person, text, face, candidates, shown, created) VALUES (?,?,?,?,?,?,?)"
    " ON CONFLICT (id) DO UPDATE SET person=excluded.person, text=excluded.text, face=excluded.face,"
    " candidates=excluded.candidates, shown=excluded.shown, created=excluded.created"
)
REQUEST = "SELECT id, text, face, candidates, shown FROM requests WHERE id=? AND person=?"
LAST_REQUEST = "SELECT id FROM requests WHERE person=? ORDER BY created DESC LIMIT 1"
ADD_HISTORY = "INSERT INTO history (person, text, meme, at) VALUES (?,?,?,?)"

VOTE = (
    "INSERT INTO feedback (person, text, meme, vote, at) VALUES (?,?,?,?,?)"
    " ON CONFLICT (person, text, meme) DO UPDATE SET vote=excluded.vote, at=excluded.at"
)
VOTES = (
    "SELECT person, text, meme, vote, at FROM (SELECT * FROM feedback ORDER BY at DESC LIMIT ?) AS newest"
    " ORDER BY at"
)
FORGET_VOTES = "DELETE FROM feedback"
VOTES_MARK = "SELECT count(*), coalesce(max(at), 0) FROM feedback"

UPLOADED = "SELECT file_id FROM uploads WHERE platform=? AND result_key=?"
SAVE_UPLOAD = (
    "INSERT INTO uploads (platform, result_key, file_id) VALUES (?,?,?)"
    " ON CONFLICT (platform, result_key) DO UPDATE SET file_id=excluded.file_id"
)

SHARE_FACE = (
    "INSERT INTO shares (person, chat, name, handle, created) VALUES (?,?,?,?,?)"
    " ON CONFLICT (person, chat) DO UPDATE SET name=excluded.name, handle=excluded.handle"
)
UNSHARE_FACE = "DELETE FROM shares WHERE person=? AND chat=?"
SHARING = (
    "SELECT s.person, s.name FROM shares s JOIN people p ON p.id = s.person"
    " WHERE s.chat=? AND p.platform=? AND (p.user_id=? OR s.handle=?) ORDER BY s.created DESC LIMIT 1"
)
SUBTITLE_ON = "INSERT INTO chat_subtitles (chat, person, created) VALUES (?,?,?) ON CONFLICT (chat) DO NOTHING"
SUBTITLE_OFF = "DELETE FROM chat_subtitles WHERE chat=?"
CHAT_SUBTITLE = "SELECT 1 FROM chat_subtitles WHERE chat=?"


@functools.cache
def numbered(sql: str, first: int = 1) -> str:
    """The statement with PostgreSQL's placeholders: the n-th `?` becomes $(first + n - 1). The statements here
    hold no `?` inside a literal."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${first + n}{part}" for n, part in enumerate(parts[1:]))

