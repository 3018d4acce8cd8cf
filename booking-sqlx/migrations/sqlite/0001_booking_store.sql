-- The booking store on SQLite: inventory, stock holds, orders, payments and the outbox.
--
-- Ids are 16-byte BLOBs (UUIDs; byte order is UUID order), instants INTEGER nanoseconds
-- since the Unix epoch, JSON TEXT for the rest of each record. Columns hold what the
-- statements' conditions and indexes read.

-- One row per seat. `state` is the ticket state's name; `order_id`, `hold_id` and
-- `expires_ns` are set as that state carries them (Held: all three; Sold/Refunded: order_id).
CREATE TABLE tickets (
    id BLOB PRIMARY KEY,
    event_id BLOB NOT NULL,
    state TEXT NOT NULL,
    order_id BLOB,
    hold_id BLOB,
    expires_ns INTEGER,
    version INTEGER NOT NULL,
    listing TEXT NOT NULL
);
CREATE INDEX tickets_by_event ON tickets (event_id, state, expires_ns);

-- Counted inventory; `listed` keeps the order stocks were added in.
CREATE TABLE stocks (
    listed INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    event_id BLOB NOT NULL,
    state TEXT NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    held INTEGER NOT NULL CHECK (held >= 0),
    sold INTEGER NOT NULL CHECK (sold >= 0),
    version INTEGER NOT NULL,
    listing TEXT NOT NULL,
    CHECK (held + sold <= capacity)
);
CREATE INDEX stocks_by_event ON stocks (event_id, listed);

-- Units of one stock held for one order. `status`: active, released, expired or sold.
CREATE TABLE stock_holds (
    hold_id BLOB NOT NULL,
    stock_id BLOB NOT NULL REFERENCES stocks (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    expires_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (hold_id, stock_id)
) WITHOUT ROWID;
-- Lapsed active holds of a stock, found by an index range (lazy expiry).
CREATE INDEX stock_holds_active ON stock_holds (stock_id, expires_ns) WHERE status = 'active';

CREATE TABLE orders (
    id BLOB PRIMARY KEY,
    event_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    hold_id BLOB NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL,
    payment_id BLOB,
    record TEXT NOT NULL
);
-- Unpaid orders by deadline: the sweep's range scan.
CREATE INDEX orders_unpaid_by_deadline ON orders (expires_ns, id)
    WHERE state IN ('Pending', 'AwaitingPayment');

CREATE TABLE payments (
    id BLOB PRIMARY KEY,
    order_id BLOB NOT NULL,
    order_ref TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    record TEXT NOT NULL
);
-- Reconciliation reads payments in given states, oldest (UUID v7) first.
CREATE INDEX payments_by_state ON payments (state, id);

-- AUTOINCREMENT: a sequence number is never handed out twice, even after the entries
-- holding the largest ones were acknowledged (deleted).
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    recorded_ns INTEGER NOT NULL
);
