-- Read-only: where the engine's own connection (its service file) goes and whether that server takes
-- writes. In: :'application_name', the engine's libpq application_name.
-- Out, one row: in recovery, transaction_read_only, default_transaction_read_only, server address,
-- the engine's sessions on this server from this host.
select pg_is_in_recovery(),
       current_setting('transaction_read_only'),
       current_setting('default_transaction_read_only'),
       host(inet_server_addr()),
       (select count(*) from pg_stat_activity
         where usename = current_user and application_name = :'application_name'
           and client_addr = inet_client_addr() and pid <> pg_backend_pid());
