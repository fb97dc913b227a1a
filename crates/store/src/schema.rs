// The diesel view of migrations/{sqlite,postgres}. Keep in step with both dialects.

diesel::table! {
    realms (id) {
        id -> Text,
        name -> Text,
        display_name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        mfa_required -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        realm_id -> Text,
        username -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        enabled -> Bool,
        is_service_account -> Bool,
        persona -> Text,
        options -> Text,
        digest_settings -> Text,
        login_count -> BigInt,
        failed_login_count -> BigInt,
        last_login_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        display_name -> Nullable<Text>,
        username_key -> Nullable<Text>,
        username_skeleton -> Nullable<Text>,
        password_change_required -> Bool,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        realm_id -> Text,
        client_id -> Text,
        name -> Text,
        confidential -> Bool,
        secret_sha256 -> Nullable<Text>,
        grant_types -> Text,
        allowed_scopes -> Text,
        default_scopes -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        first_party -> Bool,
        service_account_user_id -> Nullable<Text>,
        enabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        settings -> Text,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        realm_id -> Text,
        name -> Text,
        description -> Text,
        is_root -> Bool,
        policy_type -> Text,
        sso_alias -> Text,
        providers -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        provider_types -> Text,
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        realm_id -> Text,
        name -> Text,
        description -> Text,
        permissions -> Text,
        builtin -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        requires_mfa -> Bool,
    }
}

diesel::table! {
    team_memberships (team_id, user_id, role_id) {
        team_id -> Text,
        user_id -> Text,
        role_id -> Text,
        realm_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    policies (id) {
        id -> Text,
        realm_id -> Text,
        name -> Text,
        description -> Text,
        effect -> Text,
        permissions -> Text,
        subject_type -> Text,
        subject_id -> Text,
        enabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    scopes (id) {
        id -> Text,
        realm_id -> Text,
        name -> Text,
        description -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        realm_id -> Text,
        kind -> Text,
        key_type -> Text,
        name -> Text,
        prefix -> Text,
        secret_sha256 -> Text,
        last_four -> Text,
        team_id -> Nullable<Text>,
        owner_user_id -> Nullable<Text>,
        role_id -> Nullable<Text>,
        scopes -> Text,
        status -> Text,
        expires_at -> Nullable<BigInt>,
        last_access_at -> Nullable<BigInt>,
        created_by -> Text,
        updated_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    browser_sessions (id_sha256) {
        id_sha256 -> Text,
        realm_id -> Text,
        user_id -> Text,
        auth_time -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
        created_at -> BigInt,
        amr -> Text,
        pending -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (code_sha256) {
        code_sha256 -> Text,
        realm_id -> Text,
        client_id -> Text,
        user_id -> Text,
        session_id_sha256 -> Nullable<Text>,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        auth_time -> BigInt,
        grant_id -> Text,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        amr -> Text,
    }
}

diesel::table! {
    refresh_tokens (token_sha256) {
        token_sha256 -> Text,
        realm_id -> Text,
        family_id -> Text,
        client_id -> Text,
        user_id -> Text,
        scope -> Text,
        session_id_sha256 -> Nullable<Text>,
        auth_time -> BigInt,
        expires_at -> BigInt,
        family_expires_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
        amr -> Text,
    }
}

diesel::table! {
    grant_access_tokens (jti) {
        jti -> Text,
        grant_id -> Text,
        realm_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        realm_id -> Text,
        expires_at -> BigInt,
        revoked_at -> BigInt,
    }
}

diesel::table! {
    login_throttle (realm_id, throttle_key) {
        realm_id -> Text,
        throttle_key -> Text,
        failures -> BigInt,
        window_started_at -> BigInt,
        locked_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        realm_id -> Text,
        actor -> Text,
        action -> Text,
        target -> Text,
        source_addr -> Text,
        outcome -> Text,
        detail -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(users -> realms (realm_id));
diesel::joinable!(clients -> realms (realm_id));
diesel::joinable!(teams -> realms (realm_id));
diesel::joinable!(roles -> realms (realm_id));
diesel::joinable!(team_memberships -> teams (team_id));
diesel::joinable!(team_memberships -> users (user_id));
diesel::joinable!(team_memberships -> roles (role_id));

diesel::allow_tables_to_appear_in_same_query!(
    realms,
    users,
    clients,
    teams,
    roles,
    team_memberships,
    policies,
    scopes,
    api_keys,
    browser_sessions,
    authorization_codes,
    refresh_tokens,
    grant_access_tokens,
    revoked_tokens,
    login_throttle,
    audit_events,
);

diesel::table! {
    consents (realm_id, user_id, client_id) {
        realm_id -> Text,
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Text,
        realm_id -> Text,
        secret -> Text,
        confirmed_at -> Nullable<BigInt>,
        last_step -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    recovery_codes (user_id, code_sha256) {
        user_id -> Text,
        code_sha256 -> Text,
        realm_id -> Text,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        realm_id -> Text,
        user_id -> Text,
        credential_id -> Text,
        name -> Text,
        passkey -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webauthn_challenges (id_sha256) {
        id_sha256 -> Text,
        realm_id -> Text,
        user_id -> Nullable<Text>,
        purpose -> Text,
        state -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    password_resets (token_sha256) {
        token_sha256 -> Text,
        realm_id -> Text,
        user_id -> Text,
        created_by -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}
