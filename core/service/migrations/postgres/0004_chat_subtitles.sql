-- The SQLite schema's 0004: chats that asked for "내 문장으로 자막" (a private chat's row goes with its person).
CREATE TABLE chat_subtitles (
    chat TEXT PRIMARY KEY,
    person BIGINT REFERENCES people(id) ON DELETE CASCADE,
    created DOUBLE PRECISION NOT NULL
);
