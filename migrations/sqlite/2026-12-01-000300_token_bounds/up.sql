-- The scopes a client may be granted on its own behalf (client_credentials), space-separated,
-- registered with `yagona client add --scope` or `yagona client set-scopes`. Existing clients
-- get none: a client_credentials token without scope until the operator registers them.
ALTER TABLE clients ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
