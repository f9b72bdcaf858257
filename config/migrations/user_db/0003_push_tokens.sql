-- Devices a user receives push notifications on: FCM registration tokens and Web Push
-- subscriptions. A device belongs to one user: (kind, token) is unique, and registering
-- it for another user moves it.
CREATE TABLE push_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('fcm', 'webpush')),
    token      text NOT NULL,  -- FCM registration token, or the Web Push endpoint URL
    p256dh     text,           -- Web Push only: the subscription's public key (base64url)
    auth       text,           -- Web Push only: the subscription's auth secret (base64url)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, token),
    CHECK ((kind = 'webpush') = (p256dh IS NOT NULL AND auth IS NOT NULL))
);

CREATE INDEX push_tokens_user_id_idx ON push_tokens (user_id, created_at);
