-- A person's id is never given to anyone else, even after they are deleted (AUTOINCREMENT), so nothing written
-- late for a deleted person can land on a newcomer. SQLite changes a table by rebuilding it (the runner turns
-- foreign keys off meanwhile: dropping `people` would cascade).
CREATE TABLE people_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    user_id TEXT NOT NULL,
    lang TEXT NOT NULL DEFAULT 'ko',
    default_face TEXT,
    created REAL NOT NULL,
    UNIQUE (platform, user_id)
);
INSERT INTO people_v2 (id, platform, user_id, lang, default_face, created)
    SELECT id, platform, user_id, lang, default_face, created FROM people;
DROP TABLE people;
ALTER TABLE people_v2 RENAME TO people;
