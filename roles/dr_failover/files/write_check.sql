-- Commit a row on the new primary before any engine is moved to it. In: :'instance', its name.
\set ON_ERROR_STOP on
create table if not exists nearzero_dr_failover (at timestamptz primary key default clock_timestamp(), instance text);
insert into nearzero_dr_failover (instance) values (:'instance') returning at;
