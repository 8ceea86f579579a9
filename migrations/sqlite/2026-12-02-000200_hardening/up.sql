-- Issue 14: throttles reserve an attempt in one conditional statement. One row per key (an
-- account's login, a client address, a client id) counts the attempts of its current window;
-- `INSERT ... ON CONFLICT DO UPDATE ... WHERE` reserves one only while the count is under the
-- limit, atomically on both backends (the per-failure rows of `login_failures` could only be
-- counted, then inserted: two statements that parallel requests interleaved).
CREATE TABLE throttle_counters (
    key TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    last_attempt BIGINT NOT NULL
);

-- The failures counted so far carry over: each key starts a window at its latest failure.
INSERT INTO throttle_counters (key, attempts, window_start, last_attempt)
SELECT key, COUNT(*), MAX(failed_at), MAX(failed_at) FROM login_failures GROUP BY key;

DROP TABLE login_failures;
