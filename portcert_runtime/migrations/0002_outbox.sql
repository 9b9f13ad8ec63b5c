-- The transactional outbox of the RabbitMQ queue backend: a job is written
-- here in the transaction that stores its request, and a relay publishes it to
-- the broker once committed.

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    payload      jsonb       NOT NULL,
    priority     varchar(20) NOT NULL CHECK (priority IN ('STANDARD', 'EXPEDITED')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

-- The relay only ever scans what is still to be published.
CREATE INDEX idx_outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX idx_outbox_published_at ON outbox (published_at)
    WHERE published_at IS NOT NULL;

-- NOTIFY is delivered on commit, so the relay wakes exactly when a row
-- becomes visible to it; one notification per statement is enough.
CREATE FUNCTION notify_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portcert_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_inserted
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();
