-- 0006's triggers were statement-level, and a statement-level trigger fires
-- even when the statement changes no row: every token or session lookup
-- (whose UPDATE of last_used_at / last_seen_at usually touches nothing)
-- announced a change and emptied the caches it was meant to keep. Row-level
-- triggers fire only for rows that really changed; identical notifications
-- within a transaction are delivered once, so bulk changes stay one NOTIFY.
DROP TRIGGER deployments_changed ON deployments;
DROP TRIGGER api_tokens_changed ON api_tokens;
DROP TRIGGER sessions_changed ON sessions;
DROP TRIGGER users_changed ON users;
CREATE TRIGGER deployments_changed AFTER INSERT OR UPDATE OR DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION webops_notify_change();
CREATE TRIGGER deployments_truncated AFTER TRUNCATE ON deployments
    FOR EACH STATEMENT EXECUTE FUNCTION webops_notify_change();
CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION webops_notify_change();
CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION webops_notify_change();
CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION webops_notify_change();
