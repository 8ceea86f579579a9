DROP TABLE revocation_sources;
