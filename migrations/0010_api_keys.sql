-- API keys and the operator audit trail (docs/security.md).
--
-- A key is presented as tk_<key_id>_<secret>: the key id finds the row, the secret is compared with its stored
-- SHA-256 digest (the secret is 32 random bytes, so a plain digest is enough; nothing here can recover it). scopes
-- are tasks:read, tasks:write, tasks:operate, metrics, admin; namespaces, when not NULL, are the only namespaces
-- whose tasks the key may read, create or operate on. A revoked key stays (the audit trail names it).
CREATE TABLE tasker_api_keys (
  key_id        varchar(32)  PRIMARY KEY,
  name          varchar(128) NOT NULL,
  secret_sha256 bytea        NOT NULL,
  scopes        text[]       NOT NULL,
  namespaces    text[],
  created_at    timestamptz  NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  last_used_at  timestamptz,
  CONSTRAINT tasker_api_keys_scopes_check
    CHECK (scopes <@ ARRAY['tasks:read', 'tasks:write', 'tasks:operate', 'metrics', 'admin']::text[]
           AND cardinality(scopes) > 0)
);

-- Every operator action (cancel, retry, resolve, key create/revoke): who (key_id: a key's id, 'bootstrap' for
-- TASKER_API_TOKEN, 'anonymous' with authentication off, 'cli' for the tasker keys command), from where
-- (client_address) and under which request correlation. Read through GET /v1/audit (admin).
CREATE TABLE tasker_audit_events (
  audit_id       bigserial    PRIMARY KEY,
  occurred_at    timestamptz  NOT NULL DEFAULT now(),
  action         varchar(64)  NOT NULL,
  key_id         varchar(64)  NOT NULL,
  client_address varchar(128),
  correlation_id varchar(128),
  task_uuid      uuid,
  step_uuid      uuid,
  details        jsonb        NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX tasker_audit_events_task_idx ON tasker_audit_events (task_uuid, audit_id) WHERE task_uuid IS NOT NULL;
CREATE INDEX tasker_audit_events_key_idx ON tasker_audit_events (key_id, audit_id);
