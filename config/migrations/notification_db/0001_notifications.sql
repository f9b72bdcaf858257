-- Notifications and their status timeline. Rows are written in batches by the status writer.
CREATE TABLE notifications (
    id             uuid PRIMARY KEY,
    request_id     text,
    user_id        text        NOT NULL DEFAULT '',
    channel        text        NOT NULL DEFAULT '',
    template_code  text        NOT NULL DEFAULT '',
    status         text        NOT NULL,
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text,
    correlation_id text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user_id ON notifications (user_id);
CREATE INDEX notifications_request_id ON notifications (request_id);

CREATE TABLE notification_events (
    id              bigserial PRIMARY KEY,
    notification_id uuid        NOT NULL,
    status          text        NOT NULL,
    detail          text        NOT NULL DEFAULT '',
    node            text        NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_events_notification_id ON notification_events (notification_id, id);
