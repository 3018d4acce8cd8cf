-- The booking store: inventory, stock holds, orders, payments and the outbox.
--
-- Instants are bigint nanoseconds since the Unix epoch (exact, unlike timestamptz's
-- microseconds), so `expires_ns <= now` agrees with the in-memory store to the nanosecond.
-- Columns hold what the store's conditions read; the rest of each record is jsonb.

-- One row per seat. `state` is the ticket state's name; `order_id`, `hold_id` and
-- `expires_ns` are set as that state carries them (Held: all three; Sold/Refunded: order_id).
CREATE TABLE tickets (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL,
    state text NOT NULL,
    order_id uuid,
    hold_id uuid,
    expires_ns bigint,
    version bigint NOT NULL,
    listing jsonb NOT NULL
);
CREATE INDEX tickets_by_event ON tickets (event_id);

-- Counted inventory: the machine's counts, checked by the database as well.
CREATE TABLE stocks (
    id uuid PRIMARY KEY,
    listed bigint GENERATED ALWAYS AS IDENTITY,
    event_id uuid NOT NULL,
    state text NOT NULL,
    capacity bigint NOT NULL CHECK (capacity >= 0),
    held bigint NOT NULL CHECK (held >= 0),
    sold bigint NOT NULL CHECK (sold >= 0),
    version bigint NOT NULL,
    listing jsonb NOT NULL,
    CHECK (held + sold <= capacity)
);
CREATE INDEX stocks_by_event ON stocks (event_id, listed);

-- Units of one stock held for one order. `status`: active, released, expired or sold.
CREATE TABLE stock_holds (
    hold_id uuid NOT NULL,
    stock_id uuid NOT NULL REFERENCES stocks (id),
    quantity bigint NOT NULL CHECK (quantity > 0),
    expires_ns bigint NOT NULL,
    status text NOT NULL,
    PRIMARY KEY (hold_id, stock_id)
);
-- Lapsed active holds of a stock, found by an index range (lazy expiry).
CREATE INDEX stock_holds_active ON stock_holds (stock_id, expires_ns) WHERE status = 'active';

CREATE TABLE orders (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL,
    user_id uuid NOT NULL,
    hold_id uuid NOT NULL,
    state text NOT NULL,
    version bigint NOT NULL,
    expires_ns bigint NOT NULL,
    payment_id uuid,
    record jsonb NOT NULL
);
-- Unpaid orders by deadline: the sweep's range scan.
CREATE INDEX orders_unpaid_by_deadline ON orders (expires_ns, id)
    WHERE state IN ('Pending', 'AwaitingPayment');

CREATE TABLE payments (
    id uuid PRIMARY KEY,
    order_id uuid NOT NULL,
    order_ref text NOT NULL UNIQUE,
    state text NOT NULL,
    version bigint NOT NULL,
    record jsonb NOT NULL
);
-- Reconciliation reads payments in given states, oldest (UUID v7) first.
CREATE INDEX payments_by_state ON payments (state, id);

CREATE TABLE outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event jsonb NOT NULL,
    recorded_ns bigint NOT NULL
);
