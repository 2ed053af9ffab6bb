-- What an addon's watcher reports about a deployment (host->report: "the
-- container died, exit 137") is kept with its health events, kind
-- 'reported', the reason reading "ADDON: KIND: DETAIL".
ALTER TABLE health_events DROP CONSTRAINT health_events_kind_check;
ALTER TABLE health_events ADD CONSTRAINT health_events_kind_check
    CHECK (kind IN ('state', 'restart', 'restart_failed', 'gave_up', 'reported'));
