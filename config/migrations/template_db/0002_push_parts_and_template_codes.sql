-- Push parts on every version, and one row per template code: its channel (the same for
-- every language) and its default language (what a lookup falls back to).
ALTER TABLE templates
    ADD COLUMN title     text NOT NULL DEFAULT '',
    ADD COLUMN image_url text NOT NULL DEFAULT '',
    ADD COLUMN link      text NOT NULL DEFAULT '',
    ADD COLUMN data      jsonb CHECK (data IS NULL OR jsonb_typeof(data) = 'object');

CREATE TABLE template_codes (
    template_code    text        PRIMARY KEY,
    channel          text        NOT NULL CHECK (channel IN ('email', 'push')),
    default_language text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Codes written before this migration: their default is 'en' when they have it, else the
-- language created first (what lookups fell back to until now).
INSERT INTO template_codes (template_code, channel, default_language, created_at, updated_at)
SELECT DISTINCT ON (template_code)
       template_code, channel, language,
       min(created_at) OVER w, max(created_at) OVER w
FROM templates
WINDOW w AS (PARTITION BY template_code)
ORDER BY template_code, (language = 'en') DESC, created_at, language;

ALTER TABLE templates
    ADD CONSTRAINT templates_template_code_fkey
    FOREIGN KEY (template_code) REFERENCES template_codes (template_code);

-- The list endpoint filters by channel and pages in code order. Lookups by code, language
-- and version (exact, latest, and the per-code index) use the primary key of templates.
CREATE INDEX template_codes_channel_code ON template_codes (channel, template_code);
