//! The schema, written once for both backends with portable types. Keep it equal to
//! `migrations/` (a test compares them).

diesel::table! {
    accounts (id) {
        id -> Text,
        login -> Text,
        pinfl -> Text,
        password_hash -> Text,
        surname -> Text,
        first_name -> Text,
        middle_name -> Nullable<Text>,
        birth_date -> Text,
        passport_number -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        status -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        first_party -> Bool,
        id_token_signing_alg -> Text,
        created_at -> BigInt,
        access_token_format -> Text,
        scopes -> Text,
        legacy -> Bool,
        token_endpoint_auth_method -> Text,
        sealed_secret -> Nullable<Text>,
        registration_access_token_hash -> Nullable<Text>,
        metadata -> Text,
    }
}

diesel::table! {
    client_assertion_jtis (hash) {
        hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    pushed_authorization_requests (hash) {
        hash -> Text,
        client_id -> Text,
        parameters -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    registration_tokens (hash) {
        hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        uses_left -> Nullable<BigInt>,
    }
}

diesel::table! {
    opaque_access_tokens (hash) {
        hash -> Text,
        jti -> Text,
        claims -> Text,
        expires_at -> BigInt,
        grant_id -> Nullable<Text>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        sealed_private_key -> Binary,
        kek_id -> Text,
        public_jwk -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        activates_at -> BigInt,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        sid -> Text,
        account_id -> Text,
        auth_time -> BigInt,
        acr -> Text,
        amr -> Text,
        address -> Text,
        acting_as -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    verified_emails (account_id) {
        account_id -> Text,
        email -> Text,
        verified_at -> BigInt,
    }
}

diesel::table! {
    recovery_tokens (hash) {
        hash -> Text,
        account_id -> Text,
        purpose -> Text,
        email -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    interactions (id_hash) {
        id_hash -> Text,
        browser_hash -> Text,
        request -> Text,
        login_done -> Bool,
        consent_done -> Bool,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    consents (account_id, client_id) {
        account_id -> Text,
        client_id -> Text,
        scopes -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> Text,
        account_id -> Text,
        sid -> Text,
        scopes -> Text,
        auth_time -> BigInt,
        acr -> Text,
        amr -> Text,
        acting_as -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        acting_tin -> Nullable<Text>,
        acting_role -> Nullable<Text>,
        resources -> Text,
    }
}

diesel::table! {
    authorization_codes (hash) {
        hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Nullable<Text>,
        nonce -> Nullable<Text>,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (hash) {
        hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    throttle_counters (key) {
        key -> Text,
        attempts -> BigInt,
        window_start -> BigInt,
        last_attempt -> BigInt,
    }
}

diesel::table! {
    registrations (id_hash) {
        id_hash -> Text,
        browser_hash -> Text,
        draft -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    login_events (id) {
        id -> Text,
        account_id -> Text,
        at -> BigInt,
        method -> Text,
        client_id -> Nullable<Text>,
        address -> Text,
    }
}

diesel::table! {
    certificates (serial, issuer) {
        serial -> Text,
        issuer -> Text,
        account_id -> Text,
        pinfl -> Text,
        common_name -> Text,
        valid_to -> BigInt,
        bound_at -> BigInt,
    }
}

diesel::table! {
    eds_challenges (hash) {
        hash -> Text,
        browser_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(authorization_codes, grants);
diesel::allow_tables_to_appear_in_same_query!(grants, accounts, revoked_access_tokens, memberships);
diesel::allow_tables_to_appear_in_same_query!(authorization_codes, memberships);
diesel::allow_tables_to_appear_in_same_query!(refresh_tokens, memberships);
diesel::allow_tables_to_appear_in_same_query!(opaque_access_tokens, grants);
diesel::allow_tables_to_appear_in_same_query!(opaque_access_tokens, accounts);
diesel::allow_tables_to_appear_in_same_query!(opaque_access_tokens, revoked_access_tokens);
diesel::allow_tables_to_appear_in_same_query!(opaque_access_tokens, memberships);
diesel::joinable!(grants -> accounts (account_id));

diesel::table! {
    legal_entities (tin) {
        tin -> Text,
        name -> Text,
        short_name -> Text,
        linked_at -> BigInt,
    }
}

diesel::table! {
    memberships (tin, account_id, role) {
        tin -> Text,
        account_id -> Text,
        role -> Text,
        title -> Nullable<Text>,
        granted_by -> Nullable<Text>,
        granted_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
        certificate_valid_from -> Nullable<BigInt>,
    }
}

diesel::table! {
    membership_events (id) {
        id -> Text,
        tin -> Text,
        account_id -> Text,
        role -> Text,
        action -> Text,
        by_account -> Nullable<Text>,
        at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(legal_entities, memberships);

diesel::joinable!(memberships -> legal_entities (tin));

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> BigInt,
        kind -> Text,
        actor -> Nullable<Text>,
        subject -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    revocation_sources (source) {
        source -> Text,
        issuer -> Nullable<Text>,
        this_update -> Nullable<BigInt>,
        next_update -> Nullable<BigInt>,
        revoked -> Nullable<BigInt>,
        loaded_at -> Nullable<BigInt>,
        failed_at -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

// Issue 15, items 5-10: the token standards (2026-12-02-000500_token_standards).
diesel::table! {
    dpop_proofs (key) {
        key -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    backchannel_logouts (id) {
        id -> Text,
        client_id -> Text,
        account_id -> Text,
        sid -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    grant_dpop_keys (grant_id) {
        grant_id -> Text,
        jkt -> Text,
    }
}
diesel::allow_tables_to_appear_in_same_query!(accounts, verified_emails);

// Issue 14, item 12: signatures waiting for the person's confirmation
// (2026-12-03-000100_pending_signatures).
diesel::table! {
    pending_signatures (id_hash) {
        id_hash -> Text,
        browser_hash -> Text,
        account_id -> Text,
        purpose -> Text,
        signer -> Text,
        replaces -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}
