-- Consent to lend one's face to friends' group memes, per chat (core/service/friends.py); goes with the person.
-- chat = "<platform>:<chat or server id>"; handle = their @name there, lower case, if any.
CREATE TABLE shares (
    person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    chat TEXT NOT NULL,
    name TEXT NOT NULL,
    handle TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (person, chat)
);
CREATE INDEX shares_handle ON shares (chat, handle);
