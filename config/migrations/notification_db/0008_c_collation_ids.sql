-- Cheaper inserts (issue 12's bulk target). The text columns that hold identifiers and
-- enumerations compare bytewise (COLLATE "C"): every insert compares them in the btrees of
-- the user, status and channel indexes and of the request_id backstop, and under the
-- database's C.UTF-8 (scripts/up's initdb) each comparison went through strcoll; no
-- query sorts them as natural-language text. Their indexes are rebuilt with the new
-- collation, and queries comparing a column with a parameter use it.
-- notifications_request_id (0001) goes: every lookup by request_id names the client too
-- and uses notifications_client_request_id (0005); it only cost each insert an entry.
DROP INDEX notifications_request_id;
ALTER TABLE notifications
    ALTER COLUMN request_id     TYPE text COLLATE "C",
    ALTER COLUMN user_id        TYPE text COLLATE "C",
    ALTER COLUMN channel        TYPE text COLLATE "C",
    ALTER COLUMN template_code  TYPE text COLLATE "C",
    ALTER COLUMN status         TYPE text COLLATE "C",
    ALTER COLUMN correlation_id TYPE text COLLATE "C",
    ALTER COLUMN client_id      TYPE text COLLATE "C";
