-- Issue 15 (RFC 9449 10): the DPoP key thumbprint (`dpop_jkt`) an authorization code is bound
-- to; only a token request with a proof of that key redeems it. (The folder is named for the
-- branch that added it, which also brought front-channel logout; that needed no column.)
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
