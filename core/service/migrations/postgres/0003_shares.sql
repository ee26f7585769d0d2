-- The SQLite schema's 0003: consent to lend one's face to friends' group memes, per chat.
CREATE TABLE shares (
    person BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    chat TEXT NOT NULL,
    name TEXT NOT NULL,
    handle TEXT,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (person, chat)
);
CREATE INDEX shares_handle ON shares (chat, handle);
