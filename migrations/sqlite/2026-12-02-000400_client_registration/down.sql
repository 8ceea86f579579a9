DROP TABLE registration_tokens;
DROP TABLE pushed_authorization_requests;
DROP TABLE client_assertion_jtis;
ALTER TABLE clients DROP COLUMN metadata;
ALTER TABLE clients DROP COLUMN registration_access_token_hash;
ALTER TABLE clients DROP COLUMN sealed_secret;
ALTER TABLE clients DROP COLUMN token_endpoint_auth_method;
