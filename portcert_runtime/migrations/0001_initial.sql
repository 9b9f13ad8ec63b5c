-- Requests, check results, certifications and the audit log.

CREATE TABLE verification_requests (
    request_id       uuid PRIMARY KEY,
    container_id     varchar(11)  NOT NULL,
    submitted_by     varchar(255) NOT NULL,
    submitted_at     timestamptz  NOT NULL,
    status           varchar(20)  NOT NULL
        CHECK (status IN ('PENDING', 'IN_PROGRESS', 'PASSED', 'FAILED', 'ERROR')),
    priority         varchar(20)  NOT NULL CHECK (priority IN ('STANDARD', 'EXPEDITED')),
    documentation    jsonb        NOT NULL,
    manifest         jsonb        NOT NULL,
    idempotency_key  varchar(128),
    payload_digest   char(64)     NOT NULL,
    result           jsonb,
    certification_id uuid,
    error_message    text,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    updated_at       timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT verification_requests_idempotency UNIQUE (submitted_by, idempotency_key)
);

CREATE INDEX idx_verification_requests_status ON verification_requests (status);
CREATE INDEX idx_verification_requests_container_id
    ON verification_requests (container_id);

-- Every status change wakes the processes that stream it to clients.
CREATE FUNCTION notify_verification_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('verification_status', NEW.request_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER verification_status_changed
    AFTER INSERT OR UPDATE OF status ON verification_requests
    FOR EACH ROW EXECUTE FUNCTION notify_verification_status();

CREATE TABLE verification_checks (
    request_id  uuid        NOT NULL REFERENCES verification_requests (request_id),
    check_type  varchar(40) NOT NULL,
    passed      boolean     NOT NULL,
    details     text        NOT NULL,
    findings    jsonb       NOT NULL,
    checked_at  timestamptz NOT NULL,
    PRIMARY KEY (request_id, check_type)
);

CREATE TABLE certifications (
    certification_id    uuid PRIMARY KEY,
    container_id        varchar(11)  NOT NULL,
    -- One certification per request, however often issuance is retried.
    request_id          uuid         NOT NULL UNIQUE,
    issued_at           timestamptz  NOT NULL,
    expires_at          timestamptz  NOT NULL,
    issued_by           varchar(255) NOT NULL,
    issuing_officer     varchar(255) NOT NULL,
    issuing_officer_id  varchar(255) NOT NULL,
    verification_result jsonb        NOT NULL,
    digital_signature   text         NOT NULL,
    signature_algorithm varchar(20)  NOT NULL,
    signing_key_id      varchar(64)  NOT NULL,
    pdf_uri             text         NOT NULL,
    status              varchar(20)  NOT NULL CHECK (status IN ('ACTIVE', 'REVOKED')),
    revocation_reason   text,
    revoked_by          varchar(255),
    revoked_at          timestamptz,
    metadata            jsonb        NOT NULL DEFAULT '{}',
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now()
);

CREATE INDEX idx_certifications_container_id
    ON certifications (container_id, issued_at DESC);
CREATE INDEX idx_certifications_status_issued_at ON certifications (status, issued_at);

-- Entries are written unsealed (sequence and entry_hash NULL); a sealer gives
-- them consecutive sequence numbers and chains their hashes in commit order.
CREATE TABLE audit_logs (
    log_id           uuid PRIMARY KEY,
    "timestamp"      timestamptz  NOT NULL,
    event_type       varchar(50)  NOT NULL,
    actor_id         varchar(255) NOT NULL,
    actor_role       varchar(40)  NOT NULL,
    container_id     varchar(11),
    request_id       uuid,
    certification_id uuid,
    outcome          varchar(20)  NOT NULL,
    details          jsonb        NOT NULL DEFAULT '{}',
    service          varchar(40)  NOT NULL,
    sequence         bigint UNIQUE,
    entry_hash       char(64),
    created_at       timestamptz  NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX idx_audit_logs_timestamp ON audit_logs ("timestamp", log_id);
CREATE INDEX idx_audit_logs_container_id ON audit_logs (container_id, "timestamp");
CREATE INDEX idx_audit_logs_actor_id ON audit_logs (actor_id, "timestamp");
CREATE INDEX idx_audit_logs_unsealed ON audit_logs (created_at) WHERE sequence IS NULL;

-- The log is append-only: rows can be sealed once and never changed or removed.
CREATE FUNCTION protect_audit_logs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_logs is append-only';
    END IF;
    IF OLD.sequence IS NOT NULL
       OR (to_jsonb(OLD) - 'sequence' - 'entry_hash')
          IS DISTINCT FROM (to_jsonb(NEW) - 'sequence' - 'entry_hash') THEN
        RAISE EXCEPTION 'audit_logs entries cannot be changed';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_logs_append_only
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION protect_audit_logs();
