-- Orders listed a page at a time, newest (highest UUID v7 id) first: a buyer's orders and
-- an event's orders, each read by a backward range scan of one of these indexes.
CREATE INDEX orders_by_user ON orders (user_id, id);
CREATE INDEX orders_by_event ON orders (event_id, id);
