-- Fence the old primary (run as postgres on its host): no new write transaction, and every client
-- session ended, so nothing is written after the replica has caught up.
\set ON_ERROR_STOP on
alter system set default_transaction_read_only = on;
select pg_reload_conf();
select count(pg_terminate_backend(pid)) from pg_stat_activity
 where backend_type = 'client backend' and usename <> 'postgres';
