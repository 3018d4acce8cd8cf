-- Orders listed a page at a time, newest (highest UUID v7 id) first: a buyer's orders and
-- an event's orders, each read by a backward range scan of one of these indexes. InnoDB
-- adds secondary indexes in place, without blocking writes to `orders` while they build.
ALTER TABLE orders
    ADD KEY orders_by_user (user_id, id),
    ADD KEY orders_by_event (event_id, id);
