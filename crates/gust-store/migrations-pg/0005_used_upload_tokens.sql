-- Signed upload URLs are single use: the nonce of each one used, until it expires (Unix
-- milliseconds). In the store, so that a use counts on every server sharing it and across
-- restarts.
CREATE TABLE used_upload_tokens (
    nonce TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
