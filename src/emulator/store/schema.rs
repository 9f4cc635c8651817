//! The database layout (one `STRICT` table per object kind, JSON documents beside the indexed
//! columns the rules need) and its version. Pure data.

/// Version of the database layout; a database with another version is refused.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// The tables and indexes, created if absent on every open.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS iam_users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    seq        INTEGER NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    etag       TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS iam_groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    seq        INTEGER NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    etag       TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS iam_users_created ON iam_users(created_ms, seq);
CREATE INDEX IF NOT EXISTS iam_groups_created ON iam_groups(created_ms, seq);
CREATE TABLE IF NOT EXISTS iam_memberships (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES iam_users(id),
    group_id   TEXT NOT NULL REFERENCES iam_groups(id),
    seq        INTEGER NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    etag       TEXT NOT NULL,
    doc        TEXT NOT NULL,
    UNIQUE (user_id, group_id)
) STRICT;
CREATE INDEX IF NOT EXISTS iam_memberships_group ON iam_memberships(group_id);
CREATE TABLE IF NOT EXISTS iam_api_keys (
    user_id     TEXT NOT NULL REFERENCES iam_users(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    spki        BLOB,
    seq         INTEGER NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL,
    etag        TEXT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (user_id, fingerprint)
) STRICT;
CREATE TABLE IF NOT EXISTS iam_policies (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    seq        INTEGER NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    etag       TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS ui_passwords (
    user_id         TEXT PRIMARY KEY REFERENCES iam_users(id) ON DELETE CASCADE,
    etag            TEXT NOT NULL,
    doc             TEXT NOT NULL,
    password_sha256 TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS retry_tokens (
    token        TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    status       INTEGER NOT NULL,
    etag         TEXT,
    location     TEXT,
    body         TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS retry_tokens_created ON retry_tokens(created_ms);
";
