-- API-key lists (apikeys::list) page by keyset: WHERE <scope> AND id > :after ORDER BY id
-- LIMIT n. Each scope gets an index of its equality columns followed by id, so a page is one
-- ordered range read, whatever else the table holds (docs/benchmarks.md, "Scale"). The old
-- (realm_id, id) index made every scope walk all of the realm's keys in id order and filter
-- them: listing one user's 8 keys read all 1,000,000. Owner and team stay the leading columns
-- so deleting a user or a team still finds its keys (ON DELETE CASCADE) by index.
DROP INDEX api_keys_realm_page;
DROP INDEX api_keys_owner;
DROP INDEX api_keys_team;
-- all personal keys (admins), all team keys of a realm
CREATE INDEX api_keys_realm_kind_page ON api_keys (realm_id, kind, id);
-- one user's personal keys
CREATE INDEX api_keys_owner_page ON api_keys (owner_user_id, realm_id, kind, id);
-- one team's keys, and personal keys filtered by team
CREATE INDEX api_keys_team_page ON api_keys (team_id, realm_id, kind, id);
