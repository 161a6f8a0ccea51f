-- The sweeper only ever looks for routed orders past their time, so only those need an index entry.
DROP INDEX orders_accept_by;
CREATE INDEX orders_routed_accept_by ON orders(accept_by) WHERE status = 'routed';
