-- Templates: one row per (code, language, version); a new version never overwrites an old one.
CREATE TABLE templates (
    template_code text        NOT NULL,
    language      text        NOT NULL,
    version       integer     NOT NULL,
    name          text        NOT NULL,
    channel       text        NOT NULL CHECK (channel IN ('email', 'push')),
    subject       text        NOT NULL DEFAULT '',
    body          text        NOT NULL,
    html_body     text        NOT NULL DEFAULT '',
    variables     jsonb       NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_code, language, version)
);
