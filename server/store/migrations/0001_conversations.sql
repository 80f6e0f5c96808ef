-- Conversations, meaning what SQLite's schema means (server/store/sqlite.py): a session's row is made with
-- its first turn; times are epoch seconds; a turn's cues are what Cue.stored() keeps. Applied once, under
-- the migration lock (server/store/schema.py): plain CREATEs, so a second run would fail loudly.
CREATE TABLE sessions (
    id text PRIMARY KEY,
    persona text NOT NULL,
    created double precision NOT NULL,
    updated double precision NOT NULL,
    key text NOT NULL DEFAULT ''  -- the embed key's id; '' for Mien's own page and keyless clients
);

-- Retention deletes by age: a range scan of this index, not a pass over every session.
CREATE INDEX sessions_updated ON sessions (updated);

CREATE TABLE turns (
    session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    role text NOT NULL,
    content text NOT NULL,
    status text NOT NULL,
    at double precision NOT NULL,
    cues jsonb NOT NULL DEFAULT '[]',
    scripted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (session_id, seq)
);
