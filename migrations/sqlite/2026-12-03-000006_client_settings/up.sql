-- Per-client settings that most clients leave at the server's defaults (docs/api.md,
-- "OAuth clients"): allowed browser origins (CORS), token lifetimes and the OIDC back-channel
-- logout URI, as one JSON object parsed into `ClientSettings` at the store boundary.
ALTER TABLE clients ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
