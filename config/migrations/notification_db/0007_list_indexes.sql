-- The list endpoint (issue 12: GET /api/v1/notifications, newest first, filtered by user,
-- status, channel and a created_at range). One index per leading equality, each ending in
-- (created_at, id), the list's order: a filtered page is an index scan read backwards that
-- stops after offset + limit rows, and the bounded count (at most 10,001 rows) reads the
-- same index. The unfiltered list and a created_at range alone use (created_at, id).
-- The old (user_id) index is a prefix of the new one and goes.
--
-- Cost, written down: `status` is now indexed, so a status change is no longer a
-- heap-only (HOT) update: each of the status writer's updates also adds an entry to every
-- index of the row (0003 kept them HOT). user_id and channel are set at insert and
-- practically never change.
CREATE INDEX notifications_created_at ON notifications (created_at, id);
CREATE INDEX notifications_user_created ON notifications (user_id, created_at, id);
CREATE INDEX notifications_status_created ON notifications (status, created_at, id);
CREATE INDEX notifications_channel_created ON notifications (channel, created_at, id);
DROP INDEX notifications_user_id;
