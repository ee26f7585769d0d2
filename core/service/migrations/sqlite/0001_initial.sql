-- people, faces, requests, history, feedback, results, uploads
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    user_id TEXT NOT NULL,
    lang TEXT NOT NULL DEFAULT 'ko',
    default_face TEXT,
    created REAL NOT NULL,
    UNIQUE (platform, user_id)
);
CREATE TABLE faces (
    person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    engine TEXT NOT NULL,
    record BLOB NOT NULL,
    crop_jpeg BLOB NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (person, name)
);
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    face TEXT,
    candidates TEXT NOT NULL,
    shown TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX requests_person ON requests (person, created);
CREATE TABLE history (
    person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    meme TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX history_person ON history (person, text, at);
CREATE TABLE feedback (
    person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    meme TEXT NOT NULL,
    vote INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (person, text, meme)
);
CREATE TABLE results (
    key TEXT PRIMARY KEY,
    person INTEGER REFERENCES people(id) ON DELETE CASCADE,
    meme TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE uploads (
    platform TEXT NOT NULL,
    result_key TEXT NOT NULL,
    file_id TEXT NOT NULL,
    PRIMARY KEY (platform, result_key)
);
