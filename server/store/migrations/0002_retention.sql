-- When something last ran for the whole deployment (name 'purge': the last retention pass), so that many
-- processes sharing this database purge once per interval, not once each.
CREATE TABLE mien_meta (
    name text PRIMARY KEY,
    at double precision NOT NULL  -- epoch seconds, the database's clock
);
