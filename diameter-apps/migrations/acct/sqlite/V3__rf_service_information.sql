-- Rf (3GPP TS 32.299 §6.2.2): the session's Service-Context-Id and the Service-Information
-- (as JSON) of its highest-numbered record that carried one.
ALTER TABLE acct_sessions ADD COLUMN service_context_id TEXT;
ALTER TABLE acct_sessions ADD COLUMN service_information TEXT;
ALTER TABLE acct_sessions ADD COLUMN service_information_number INTEGER;
