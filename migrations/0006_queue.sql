-- A PostgreSQL message queue with PGMQ's semantics (msg_id, read_ct, enqueued_at, vt, message, headers), without
-- the PGMQ extension: plain tables and PL/pgSQL, so it runs on any PostgreSQL >= 14 and on PGlite.
--
-- Every queue is a partition of tasker_queue_messages (table tasker_q_<queue>) with its own archive partition of
-- tasker_queue_archive (tasker_a_<queue>). Reads take visible messages in msg_id order with
-- FOR UPDATE SKIP LOCKED and hide them for a visibility timeout; a message is deleted or archived once handled.
-- Sending notifies channel `tasker_queue` with the queue name as payload, in the sending transaction, so the
-- notification is delivered on commit (identical notifications of one transaction are delivered once).

CREATE TABLE tasker_queues (
  queue_name varchar(54) PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tasker_queues_name_check CHECK (queue_name ~ '^[a-z0-9_]{1,54}$')
);

CREATE SEQUENCE tasker_queue_msg_id_seq;

CREATE TABLE tasker_queue_messages (
  queue_name  varchar(54) NOT NULL,
  msg_id      bigint      NOT NULL DEFAULT nextval('tasker_queue_msg_id_seq'),
  read_ct     integer     NOT NULL DEFAULT 0,
  enqueued_at timestamptz NOT NULL DEFAULT now(),
  vt          timestamptz NOT NULL DEFAULT now(),
  message     jsonb       NOT NULL,
  headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  -- the current read's identity, new at every read (NULL until the first): a consumer's later call on the message
  -- (a worker's result or give-back) names it, so a read that a crash of the server undid, or one that another
  -- consumer's read has replaced, cannot act on the message's new life (a msg_id alone can come back after a crash)
  claim_id    uuid,
  PRIMARY KEY (queue_name, msg_id)
) PARTITION BY LIST (queue_name);

CREATE INDEX idx_tasker_queue_messages_vt ON tasker_queue_messages (queue_name, vt);

CREATE TABLE tasker_queue_archive (
  queue_name  varchar(54) NOT NULL,
  msg_id      bigint      NOT NULL,
  read_ct     integer     NOT NULL,
  enqueued_at timestamptz NOT NULL,
  vt          timestamptz NOT NULL,
  message     jsonb       NOT NULL,
  headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  archived_at timestamptz NOT NULL DEFAULT now(),
  -- why the message left the queue without being handled (NULL for a plain archive)
  reason      text,
  dead_letter boolean     NOT NULL DEFAULT false,
  PRIMARY KEY (queue_name, msg_id)
) PARTITION BY LIST (queue_name);

CREATE INDEX idx_tasker_queue_archive_dead_letter ON tasker_queue_archive (queue_name, archived_at)
  WHERE dead_letter;

-- Queue rows live for milliseconds: vacuum each queue's partition after a few hundred dead rows rather than after
-- 20 % of the table, so reads do not wade through dead index entries between autovacuum rounds.
CREATE FUNCTION tasker_tune_queue_partition(p_queue varchar) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500, '
                 'autovacuum_analyze_scale_factor = 0.05)', 'tasker_q_' || p_queue);
END
$fn$;

-- Creates a queue (its message and archive partitions). Idempotent and safe to call concurrently.
CREATE FUNCTION tasker_create_queue(p_queue varchar) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  IF p_queue IS NULL OR p_queue !~ '^[a-z0-9_]{1,54}$' THEN
    RAISE EXCEPTION 'invalid queue name %: use 1-54 characters a-z, 0-9, _', p_queue USING ERRCODE = '22023';
  END IF;
  IF EXISTS (SELECT 1 FROM tasker_queues WHERE queue_name = p_queue) THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('tasker_create_queue'));
  IF EXISTS (SELECT 1 FROM tasker_queues WHERE queue_name = p_queue) THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF tasker_queue_messages FOR VALUES IN (%L)', 'tasker_q_' || p_queue, p_queue);
  EXECUTE format('CREATE TABLE %I PARTITION OF tasker_queue_archive FOR VALUES IN (%L)', 'tasker_a_' || p_queue, p_queue);
  PERFORM tasker_tune_queue_partition(p_queue);
  INSERT INTO tasker_queues (queue_name) VALUES (p_queue);
END
$fn$;

-- Wakes the consumers of p_queue: NOTIFY on channel tasker_queue with the queue name as payload, followed by
-- ' <origin>' when the transaction set tasker.notify_origin (a processor uuid). A process that wakes its own
-- consumers itself once its transaction has committed marks its notifications that way and skips them when they
-- come back, so one send wakes each consumer once.
CREATE FUNCTION tasker_notify_queue(p_queue varchar) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  v_origin text := current_setting('tasker.notify_origin', true);
BEGIN
  PERFORM pg_notify('tasker_queue', CASE WHEN COALESCE(v_origin, '') = '' THEN p_queue ELSE p_queue || ' ' || v_origin END);
END
$fn$;

-- Sends one message; returns its msg_id. Fails (check_violation / no partition) for a queue that does not exist.
CREATE FUNCTION tasker_send(p_queue varchar, p_message jsonb, p_headers jsonb DEFAULT '{}'::jsonb,
                            p_delay_seconds double precision DEFAULT 0)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
  v_msg_id bigint;
BEGIN
  INSERT INTO tasker_queue_messages (queue_name, vt, message, headers)
  VALUES (p_queue, now() + make_interval(secs => GREATEST(p_delay_seconds, 0)), p_message, COALESCE(p_headers, '{}'::jsonb))
  RETURNING msg_id INTO v_msg_id;
  PERFORM tasker_notify_queue(p_queue);
  RETURN v_msg_id;
END
$fn$;

-- Sends several messages (headers matched by position); returns their msg_ids in order.
CREATE FUNCTION tasker_send_batch(p_queue varchar, p_messages jsonb[], p_headers jsonb[] DEFAULT NULL,
                                  p_delay_seconds double precision DEFAULT 0)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY
  INSERT INTO tasker_queue_messages (queue_name, vt, message, headers)
  SELECT p_queue, now() + make_interval(secs => GREATEST(p_delay_seconds, 0)), m.message,
         COALESCE(p_headers[m.ord], '{}'::jsonb)
  FROM unnest(p_messages) WITH ORDINALITY AS m(message, ord)
  ORDER BY m.ord
  RETURNING msg_id;
  IF COALESCE(array_length(p_messages, 1), 0) > 0 THEN
    PERFORM tasker_notify_queue(p_queue);
  END IF;
END
$fn$;

-- Reads up to p_qty visible messages in msg_id order, hiding them for p_vt_seconds and counting the read.
CREATE FUNCTION tasker_read(p_queue varchar, p_vt_seconds double precision, p_qty integer)
RETURNS TABLE (msg_id bigint, read_ct integer, enqueued_at timestamptz, vt timestamptz, message jsonb, headers jsonb)
LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY
  WITH picked AS (
    SELECT q.msg_id FROM tasker_queue_messages q
    WHERE q.queue_name = p_queue AND q.vt <= clock_timestamp()
    ORDER BY q.msg_id
    LIMIT p_qty
    FOR UPDATE SKIP LOCKED
  )
  UPDATE tasker_queue_messages m
  SET vt = clock_timestamp() + make_interval(secs => p_vt_seconds), read_ct = m.read_ct + 1,
      claim_id = gen_random_uuid()
  FROM picked
  WHERE m.queue_name = p_queue AND m.msg_id = picked.msg_id
  RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers;
END
$fn$;

CREATE FUNCTION tasker_delete(p_queue varchar, p_msg_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM tasker_queue_messages WHERE queue_name = p_queue AND msg_id = p_msg_id;
  RETURN FOUND;
END
$fn$;

-- Moves a message to the queue's archive; with p_dead_letter it is a dead letter and p_reason says why.
CREATE FUNCTION tasker_archive(p_queue varchar, p_msg_id bigint, p_reason text DEFAULT NULL,
                               p_dead_letter boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  WITH moved AS (
    DELETE FROM tasker_queue_messages WHERE queue_name = p_queue AND msg_id = p_msg_id RETURNING *
  )
  INSERT INTO tasker_queue_archive (queue_name, msg_id, read_ct, enqueued_at, vt, message, headers, reason, dead_letter)
  SELECT queue_name, msg_id, read_ct, enqueued_at, vt, message, headers, p_reason, p_dead_letter FROM moved;
  RETURN FOUND;
END
$fn$;

-- Sets a message's visibility timeout to now + p_vt_seconds (extends an in-flight message, or with 0 makes it
-- visible again). Returns false when the message is gone.
-- With p_claim_id, only while the message is still that read's (a consumer extending its claim must not extend a
-- new claim's after a reclaim, or after a server crash undid its own).
CREATE FUNCTION tasker_set_vt(p_queue varchar, p_msg_id bigint, p_vt_seconds double precision,
                              p_claim_id uuid DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE tasker_queue_messages SET vt = clock_timestamp() + make_interval(secs => p_vt_seconds)
  WHERE queue_name = p_queue AND msg_id = p_msg_id AND (p_claim_id IS NULL OR claim_id = p_claim_id);
  RETURN FOUND;
END
$fn$;

-- Depth and age of a queue's messages (visible = may be read now).
CREATE FUNCTION tasker_queue_metrics(p_queue varchar)
RETURNS TABLE (queue_name varchar, queue_length bigint, visible_length bigint, oldest_msg_age_seconds double precision,
               archived_count bigint, dead_letter_count bigint)
LANGUAGE sql STABLE AS $fn$
  SELECT p_queue,
    (SELECT count(*) FROM tasker_queue_messages m WHERE m.queue_name = p_queue),
    (SELECT count(*) FROM tasker_queue_messages m WHERE m.queue_name = p_queue AND m.vt <= now()),
    (SELECT extract(epoch FROM now() - min(m.enqueued_at))::double precision FROM tasker_queue_messages m
      WHERE m.queue_name = p_queue),
    (SELECT count(*) FROM tasker_queue_archive a WHERE a.queue_name = p_queue),
    (SELECT count(*) FROM tasker_queue_archive a WHERE a.queue_name = p_queue AND a.dead_letter)
$fn$;
