ALTER TABLE teams DROP COLUMN provider_types;
ALTER TABLE users DROP COLUMN display_name;
