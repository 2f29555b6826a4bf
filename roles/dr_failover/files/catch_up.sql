-- Bytes of WAL the replica has still to replay to reach the old primary's final position.
-- In: :'final_lsn'. Zero or less: caught up.
select pg_wal_lsn_diff(:'final_lsn', pg_last_wal_replay_lsn())::bigint;
