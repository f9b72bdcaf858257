-- Idempotency backstop (issue 12): the credential that sent each notification (API key id,
-- the login token's user, "admin" or "anonymous") and a fingerprint of its body, and at
-- most one notification per (client, request_id), so a request_id seen again after Redis
-- lost its key still answers the first notification instead of sending a second one.
-- Rows written before this migration (client_id NULL) are not covered.
ALTER TABLE notifications ADD COLUMN client_id text;
ALTER TABLE notifications ADD COLUMN request_fingerprint text;
CREATE UNIQUE INDEX notifications_client_request_id ON notifications (client_id, request_id)
    WHERE client_id IS NOT NULL AND request_id IS NOT NULL;
