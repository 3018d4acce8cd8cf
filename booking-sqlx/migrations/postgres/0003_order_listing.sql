-- Orders listed a page at a time, newest (highest UUID v7 id) first: a buyer's orders and
-- an event's orders, each read by a backward range scan of one of these indexes.
--
-- A plain CREATE INDEX runs inside the migration's transaction and holds off writes to
-- `orders` while it builds; on a large table, build the same indexes beforehand with
-- CREATE INDEX CONCURRENTLY under these names (and check they are valid): this migration
-- then leaves them as they are.
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, id);
CREATE INDEX IF NOT EXISTS orders_by_event ON orders (event_id, id);
