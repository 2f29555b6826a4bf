-- The old primary's current WAL position, and whether it is (still) a primary.
-- Read from an engine host, as the engine user, before fencing and again after it.
select pg_current_wal_lsn(), pg_is_in_recovery();
