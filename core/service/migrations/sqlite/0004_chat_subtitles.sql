-- Chats that asked for "내 문장으로 자막": every meme asked there carries the asker's own sentence as its 자막.
-- chat = "<platform>:<group chat or server id>" for a group; a private chat (Kakao, the web page, a direct
-- message) is the person's own ("person:<id>", with person set) and goes with them.
CREATE TABLE chat_subtitles (
    chat TEXT PRIMARY KEY,
    person INTEGER REFERENCES people(id) ON DELETE CASCADE,
    created REAL NOT NULL
);
