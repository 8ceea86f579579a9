DROP TABLE pending_signatures;
