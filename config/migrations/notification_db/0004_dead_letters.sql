-- Dead letters (issue 10): every message that reached failed.queue, with why, and when it
-- was replayed. At most one dead letter per notification is open (not replayed) at a
-- time, so a dead letter delivered twice by RabbitMQ is stored once.
CREATE TABLE dead_letters (
    id              uuid PRIMARY KEY,
    notification_id uuid,                          -- NULL for an unreadable message
    channel         text        NOT NULL DEFAULT '',
    reason          text        NOT NULL,
    detail          text        NOT NULL DEFAULT '',
    attempts        integer     NOT NULL DEFAULT 0,
    correlation_id  text        NOT NULL DEFAULT '',
    message         text        NOT NULL,          -- the original message, as queued
    created_at      timestamptz NOT NULL DEFAULT now(),
    replayed_at     timestamptz,
    replays         integer     NOT NULL DEFAULT 0
);
CREATE INDEX dead_letters_created_at ON dead_letters (created_at, id);
CREATE INDEX dead_letters_reason ON dead_letters (reason, created_at);
CREATE UNIQUE INDEX dead_letters_open_per_notification ON dead_letters (notification_id)
    WHERE replayed_at IS NULL;
