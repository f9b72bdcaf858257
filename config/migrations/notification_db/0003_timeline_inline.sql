-- The timeline moves into the notification's row (a jsonb array of {status, detail, node,
-- at}), appended by the status writer: one row write per event instead of two, and no
-- second table and index to maintain. Rows are inserted with room left on their page
-- (fillfactor 70) so that the updates that follow (status, attempts, timeline; none of
-- them indexed) stay heap-only and leave the indexes alone.
ALTER TABLE notifications ADD COLUMN timeline jsonb NOT NULL DEFAULT '[]';
UPDATE notifications n SET timeline = e.timeline
FROM (SELECT notification_id,
             jsonb_agg(jsonb_build_object(
                 'status', status, 'detail', detail, 'node', node,
                 'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
               ORDER BY id) AS timeline
      FROM notification_events GROUP BY notification_id) e
WHERE e.notification_id = n.id;
DROP TABLE notification_events;
ALTER TABLE notifications SET (fillfactor = 70);
