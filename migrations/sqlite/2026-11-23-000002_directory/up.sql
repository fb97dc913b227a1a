-- The Veza fields of teams and users that the initial schema lacks (seed 004).
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE teams ADD COLUMN provider_types TEXT NOT NULL DEFAULT '[]';
