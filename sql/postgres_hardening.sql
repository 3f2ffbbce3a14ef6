-- PostgreSQL hardening of the audit ledger: append-only tables, and roles with least privilege.

CREATE OR REPLACE FUNCTION certification_audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'certification_audit.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE
    ledger_table TEXT;
BEGIN
    FOREACH ledger_table IN ARRAY ARRAY['runs', 'check_results', 'decisions', 'signoffs', 'certificates',
                                        'monitoring_windows', 'certificate_actions', 'events']
    LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON certification_audit.%I '
                       'FOR EACH ROW EXECUTE FUNCTION certification_audit.refuse_change()', ledger_table);
        EXECUTE format('CREATE OR REPLACE TRIGGER append_only_truncate BEFORE TRUNCATE ON certification_audit.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION certification_audit.refuse_change()', ledger_table);
    END LOOP;
END
$$;

-- Group roles (NOLOGIN): grant them to login users. The pipeline records; approvers only add sign-offs;
-- auditors only read. Nobody is granted UPDATE, DELETE or TRUNCATE.
DO $$
DECLARE
    role_name TEXT;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['certification_pipeline', 'certification_approver', 'certification_auditor']
    LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- roles are cluster-wide: a ledger initialised at the same moment created it first
            END;
        END IF;
    END LOOP;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA certification_audit FROM PUBLIC;
GRANT USAGE ON SCHEMA certification_audit
    TO certification_pipeline, certification_approver, certification_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA certification_audit
    TO certification_pipeline, certification_approver, certification_auditor;
GRANT INSERT ON ALL TABLES IN SCHEMA certification_audit TO certification_pipeline;
GRANT INSERT ON certification_audit.signoffs, certification_audit.events TO certification_approver;
