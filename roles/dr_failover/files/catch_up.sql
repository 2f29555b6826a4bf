-- The replica's catch-up with the old primary. In: :'fence_lsn', the old primary's position read before
-- the fence. Out, one row: bytes of WAL still to replay (zero or less: replayed everything received and at
-- least :'fence_lsn'), WAL receivers still connected (0 once the fenced primary's stream has ended; the
-- pid is shown to any user, the status only to pg_read_all_stats),
-- the position replayed.
select pg_wal_lsn_diff(greatest(:'fence_lsn'::pg_lsn, pg_last_wal_receive_lsn()), pg_last_wal_replay_lsn())::bigint,
       (select count(pid) from pg_stat_wal_receiver),
       pg_last_wal_replay_lsn();
