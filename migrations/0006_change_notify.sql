-- Changes to what webopsd's HTTP process caches (the deployments list, API
-- tokens, sessions, users) are announced on NOTIFY webops_changes, payload
-- the table's name, so the caches are dropped the moment anything changes,
-- whichever process changed it.
CREATE FUNCTION webops_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webops_changes', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER deployments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON deployments
    FOR EACH STATEMENT EXECUTE FUNCTION webops_notify_change();
CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION webops_notify_change();
CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION webops_notify_change();
CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION webops_notify_change();
