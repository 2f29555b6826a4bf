-- The replica's state before the failover. In: :'primary_lsn', the old primary's current WAL position,
-- or '' when the old primary cannot be reached (then the lag is the WAL received but not yet replayed).
-- Out, one row: in recovery, lag in bytes, seconds since the last replayed commit (-1: none yet),
-- last received WAL position, last replayed WAL position, time of the last replayed commit,
-- WAL receivers connected (1: it streams from its primary, so a fenced primary's last WAL reaches it; the
-- view shows any user a receiver's pid once it has connected, its status only to pg_read_all_stats).
select pg_is_in_recovery(),
       pg_wal_lsn_diff(coalesce(nullif(:'primary_lsn', '')::pg_lsn, pg_last_wal_receive_lsn()),
                       pg_last_wal_replay_lsn())::bigint,
       coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), -1)::numeric(12, 3),
       pg_last_wal_receive_lsn(),
       pg_last_wal_replay_lsn(),
       pg_last_xact_replay_timestamp(),
       (select count(pid) from pg_stat_wal_receiver);
