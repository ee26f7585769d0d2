-- people, faces, requests, history, feedback, results, uploads: the SQLite schema's tables, in PostgreSQL types;
-- and media, the result images served by URL (core/service/pgmedia.py), which the SQLite set-up keeps as files
CREATE TABLE people (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform TEXT NOT NULL,
    user_id TEXT NOT NULL,
    lang TEXT NOT NULL DEFAULT 'ko',
    default_face TEXT,
    created DOUBLE PRECISION NOT NULL,
    UNIQUE (platform, user_id)
);
CREATE TABLE faces (
    person BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    engine TEXT NOT NULL,
    record BYTEA NOT NULL,
    crop_jpeg BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (person, name)
);
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    person BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    face TEXT,
    candidates TEXT NOT NULL,
    shown TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX requests_person ON requests (person, created);
CREATE TABLE history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    meme TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX history_person ON history (person, text, at);
CREATE TABLE feedback (
    person BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    meme TEXT NOT NULL,
    vote INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (person, text, meme)
);
CREATE INDEX feedback_at ON feedback (at);
CREATE TABLE results (
    key TEXT PRIMARY KEY,
    person BIGINT REFERENCES people(id) ON DELETE CASCADE,
    meme TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX results_person ON results (person);
CREATE TABLE uploads (
    platform TEXT NOT NULL,
    result_key TEXT NOT NULL,
    file_id TEXT NOT NULL,
    PRIMARY KEY (platform, result_key)
);
CREATE INDEX uploads_result ON uploads (result_key);
CREATE TABLE media (
    id TEXT PRIMARY KEY,
    jpeg BYTEA NOT NULL,
    size INTEGER NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX media_created ON media (created);
