-- The template language and version chosen for each notification (issue 4).
ALTER TABLE notifications ADD COLUMN language text NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN template_version integer NOT NULL DEFAULT 0;
