-- Passwords (salted slow hashes only, never the password), quiet hours (stored, not yet
-- enforced), and email addresses unique regardless of case.

-- NULL: the user has no password and cannot log in.
-- Format: pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>.
ALTER TABLE users ADD COLUMN password_hash text;

-- Quiet hours: all three set, or none. Times are local to the time zone, HH:MM.
ALTER TABLE users
    ADD COLUMN quiet_start    text,
    ADD COLUMN quiet_end      text,
    ADD COLUMN quiet_timezone text,
    ADD CONSTRAINT users_quiet_hours_complete CHECK (
        (quiet_start IS NULL AND quiet_end IS NULL AND quiet_timezone IS NULL)
        OR (quiet_start IS NOT NULL AND quiet_end IS NOT NULL AND quiet_timezone IS NOT NULL)),
    ADD CONSTRAINT users_quiet_hours_shape CHECK (
        quiet_start IS NULL
        OR (quiet_start ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
            AND quiet_end ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
            AND quiet_timezone <> ''));

-- The address keeps the spelling its owner gave; uniqueness and login ignore case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Listing pages in creation order.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
