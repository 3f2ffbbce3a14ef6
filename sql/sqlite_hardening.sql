-- SQLite hardening of the embedded ledger: the same append-only rule as on PostgreSQL.
CREATE TRIGGER IF NOT EXISTS certification_audit.runs_append_only BEFORE UPDATE ON runs
BEGIN SELECT RAISE(ABORT, 'certification_audit.runs is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.runs_no_delete BEFORE DELETE ON runs
BEGIN SELECT RAISE(ABORT, 'certification_audit.runs is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.check_results_append_only BEFORE UPDATE ON check_results
BEGIN SELECT RAISE(ABORT, 'certification_audit.check_results is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.check_results_no_delete BEFORE DELETE ON check_results
BEGIN SELECT RAISE(ABORT, 'certification_audit.check_results is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.decisions_append_only BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'certification_audit.decisions is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'certification_audit.decisions is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.signoffs_append_only BEFORE UPDATE ON signoffs
BEGIN SELECT RAISE(ABORT, 'certification_audit.signoffs is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.signoffs_no_delete BEFORE DELETE ON signoffs
BEGIN SELECT RAISE(ABORT, 'certification_audit.signoffs is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.certificates_append_only BEFORE UPDATE ON certificates
BEGIN SELECT RAISE(ABORT, 'certification_audit.certificates is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.certificates_no_delete BEFORE DELETE ON certificates
BEGIN SELECT RAISE(ABORT, 'certification_audit.certificates is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.events_append_only BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'certification_audit.events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'certification_audit.events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.monitoring_windows_append_only BEFORE UPDATE ON monitoring_windows
BEGIN SELECT RAISE(ABORT, 'certification_audit.monitoring_windows is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.monitoring_windows_no_delete BEFORE DELETE ON monitoring_windows
BEGIN SELECT RAISE(ABORT, 'certification_audit.monitoring_windows is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.certificate_actions_append_only BEFORE UPDATE ON certificate_actions
BEGIN SELECT RAISE(ABORT, 'certification_audit.certificate_actions is append-only'); END;
CREATE TRIGGER IF NOT EXISTS certification_audit.certificate_actions_no_delete BEFORE DELETE ON certificate_actions
BEGIN SELECT RAISE(ABORT, 'certification_audit.certificate_actions is append-only'); END;
