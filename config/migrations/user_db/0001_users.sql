-- Users: contact details and per-channel preferences.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    language      text NOT NULL DEFAULT 'en',
    email_enabled boolean NOT NULL DEFAULT true,
    push_enabled  boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
