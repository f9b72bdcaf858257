-- Scheduled sends (issue 12): a notification with a send_at in the future, or deferred by
-- its user's quiet hours, waits here, not in RabbitMQ, until the scheduler (a poller on
-- every gateway node) publishes it. Each row holds the message exactly as it would have
-- been published (routing key, body, headers, correlation id, priority), so publishing
-- later needs nothing else. state: pending (waiting), published, cancelled.
ALTER TABLE notifications ADD COLUMN send_at timestamptz;
CREATE TABLE scheduled_sends (
    notification_id uuid PRIMARY KEY,
    send_at         timestamptz NOT NULL,
    state           text        NOT NULL DEFAULT 'pending',
    reason          text        NOT NULL,          -- send_at | quiet_hours
    routing_key     text        NOT NULL,
    body            text        NOT NULL,
    headers         jsonb       NOT NULL DEFAULT '{}', -- {"name": "text" | integer}
    correlation_id  text        NOT NULL DEFAULT '',
    priority        integer     NOT NULL DEFAULT 5,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,                   -- published or cancelled
    publishes       integer     NOT NULL DEFAULT 0
);
-- What the scheduler claims: the pending rows that are due, oldest first.
CREATE INDEX scheduled_sends_due ON scheduled_sends (send_at) WHERE state = 'pending';
