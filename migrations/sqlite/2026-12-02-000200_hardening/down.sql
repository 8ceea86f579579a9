CREATE TABLE login_failures (
    key TEXT NOT NULL,
    failed_at BIGINT NOT NULL,
    id TEXT PRIMARY KEY
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);
DROP TABLE throttle_counters;
