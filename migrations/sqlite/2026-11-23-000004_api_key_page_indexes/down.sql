DROP INDEX api_keys_team_page;
DROP INDEX api_keys_owner_page;
DROP INDEX api_keys_realm_kind_page;
CREATE INDEX api_keys_realm_page ON api_keys (realm_id, id);
CREATE INDEX api_keys_owner ON api_keys (owner_user_id);
CREATE INDEX api_keys_team ON api_keys (team_id);
