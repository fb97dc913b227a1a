ALTER TABLE clients DROP COLUMN settings;
