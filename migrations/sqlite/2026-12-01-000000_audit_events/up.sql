-- The audit trail: security-relevant changes (account takeover by the rightful owner, head
-- replacement, membership changes that revoke grants, ...). One row per event; `detail` is JSON.
-- Rows are never updated; `yagona audit list` reads them.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    subject TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_subject ON audit_events (subject, at);
