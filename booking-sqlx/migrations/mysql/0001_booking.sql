-- Every port of booking-core on MySQL / MariaDB (10.6 or later: SKIP LOCKED), InnoDB.
--
-- Ids are UUIDs as BINARY(16) (sqlx encodes `Uuid` as its 16 bytes, so byte order is the
-- UUID's order). Instants are BIGINT nanoseconds since the Unix epoch, exact to the
-- nanosecond like the in-memory ports. Text is utf8mb4_bin: keys, codes and references
-- compare byte for byte, never case-insensitively. Columns hold what conditions and indexes
-- read; the rest of a record is JSON (LONGTEXT on MariaDB) written by serde.
-- No foreign keys: InnoDB takes shared locks on parent rows to check them, a source of
-- deadlocks under the races the store is built for.

-- The booking store ---------------------------------------------------------------------

-- One row per seat. `state` is the ticket state's name; `order_id`, `hold_id` and
-- `expires_ns` are set as that state carries them (Held: all three; Sold/Refunded: order_id).
CREATE TABLE tickets (
    id BINARY(16) NOT NULL PRIMARY KEY,
    event_id BINARY(16) NOT NULL,
    state VARCHAR(16) NOT NULL,
    order_id BINARY(16) NULL,
    hold_id BINARY(16) NULL,
    expires_ns BIGINT NULL,
    version BIGINT NOT NULL,
    listing JSON NOT NULL,
    KEY tickets_by_event (event_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Counted inventory: the machine's counts, checked by the database as well. `listed` keeps
-- the listing order for availability reports.
CREATE TABLE stocks (
    id BINARY(16) NOT NULL PRIMARY KEY,
    listed BIGINT NOT NULL AUTO_INCREMENT,
    event_id BINARY(16) NOT NULL,
    state VARCHAR(16) NOT NULL,
    capacity BIGINT NOT NULL,
    held BIGINT NOT NULL,
    sold BIGINT NOT NULL,
    version BIGINT NOT NULL,
    listing JSON NOT NULL,
    UNIQUE KEY stocks_listed (listed),
    KEY stocks_by_event (event_id, listed),
    CONSTRAINT stock_counts CHECK (capacity >= 0 AND held >= 0 AND sold >= 0
                                   AND held + sold <= capacity)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Units of one stock held for one order. `status`: active, released, expired or sold.
CREATE TABLE stock_holds (
    hold_id BINARY(16) NOT NULL,
    stock_id BINARY(16) NOT NULL,
    quantity BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    PRIMARY KEY (hold_id, stock_id),
    -- Lapsed active holds of a stock, found by an index range (lazy expiry).
    KEY stock_holds_by_stock (stock_id, status, expires_ns),
    CONSTRAINT stock_hold_quantity CHECK (quantity > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- `due_ns` is the deadline of an unpaid order and NULL otherwise: MariaDB has no partial
-- index, so the sweep's range scan runs on this generated column instead.
CREATE TABLE orders (
    id BINARY(16) NOT NULL PRIMARY KEY,
    event_id BINARY(16) NOT NULL,
    user_id BINARY(16) NOT NULL,
    hold_id BINARY(16) NOT NULL,
    state VARCHAR(32) NOT NULL,
    version BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL,
    payment_id BINARY(16) NULL,
    record JSON NOT NULL,
    due_ns BIGINT AS (CASE WHEN state IN ('Pending', 'AwaitingPayment') THEN expires_ns END)
        PERSISTENT,
    KEY orders_unpaid_by_deadline (due_ns, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE payments (
    id BINARY(16) NOT NULL PRIMARY KEY,
    order_id BINARY(16) NOT NULL,
    order_ref VARCHAR(255) NOT NULL,
    state VARCHAR(32) NOT NULL,
    version BIGINT NOT NULL,
    record JSON NOT NULL,
    UNIQUE KEY payments_by_order_ref (order_ref),
    -- Reconciliation reads payments in given states, oldest (UUID v7) first.
    KEY payments_by_state (state, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE outbox (
    seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event JSON NOT NULL,
    recorded_ns BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Coupons -------------------------------------------------------------------------------

-- A campaign and how many of its coupons went out: `issued < budget` is the issuance guard.
CREATE TABLE coupon_campaigns (
    id BINARY(16) NOT NULL PRIMARY KEY,
    code VARCHAR(64) NOT NULL,
    budget BIGINT NOT NULL,
    issued BIGINT NOT NULL,
    issue_until_ns BIGINT NULL,
    CONSTRAINT coupon_budget CHECK (issued >= 0 AND issued <= budget)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One user's coupon of a campaign. `state`: issued, reserved or used (`order_id` set for
-- the last two).
CREATE TABLE coupons (
    coupon_id BINARY(16) NOT NULL,
    user_id BINARY(16) NOT NULL,
    issued_ns BIGINT NOT NULL,
    state VARCHAR(16) NOT NULL,
    order_id BINARY(16) NULL,
    PRIMARY KEY (coupon_id, user_id),
    KEY coupons_by_user (user_id, issued_ns, coupon_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Wallets -------------------------------------------------------------------------------

CREATE TABLE wallets (
    user_id BINARY(16) NOT NULL,
    currency CHAR(3) NOT NULL,
    balance BIGINT NOT NULL,
    PRIMARY KEY (user_id, currency),
    CONSTRAINT wallet_balance CHECK (balance >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Every movement, once per reference across all wallets.
CREATE TABLE wallet_ledger (
    seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    reference VARCHAR(255) NOT NULL,
    user_id BINARY(16) NOT NULL,
    currency CHAR(3) NOT NULL,
    movement VARCHAR(8) NOT NULL,
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    at_ns BIGINT NOT NULL,
    UNIQUE KEY wallet_ledger_by_reference (reference),
    KEY wallet_ledger_by_wallet (user_id, currency, seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Idempotency keys ----------------------------------------------------------------------

-- `scope` is the tenant and user as JSON (no two scopes share a text). `token` and
-- `lease_expires_ns` are the live claim while `response_status` is NULL.
CREATE TABLE idempotency_records (
    scope VARCHAR(512) NOT NULL,
    idem_key VARCHAR(255) NOT NULL,
    fingerprint BINARY(32) NOT NULL,
    token BIGINT NOT NULL,
    lease_expires_ns BIGINT NOT NULL,
    response_status INT NULL,
    response_body LONGBLOB NULL,
    retain_until_ns BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key),
    KEY idempotency_by_retention (retain_until_ns)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Counters that only grow: claim tokens of idempotency keys, fencing tokens of locks.
CREATE TABLE booking_counters (
    name VARCHAR(32) NOT NULL PRIMARY KEY,
    last BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO booking_counters (name, last) VALUES ('idempotency', 0), ('lock', 0);

-- The admission queue -------------------------------------------------------------------

-- A waiting room and the next arrival sequence it hands out; its row serializes joins and
-- admissions of the room.
CREATE TABLE queue_rooms (
    event_id BINARY(16) NOT NULL PRIMARY KEY,
    next_sequence BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A token waits while `admitted_until_ns` is NULL.
CREATE TABLE queue_tokens (
    token BINARY(16) NOT NULL PRIMARY KEY,
    event_id BINARY(16) NOT NULL,
    user_id BINARY(16) NOT NULL,
    sequence BIGINT NOT NULL,
    admitted_until_ns BIGINT NULL,
    UNIQUE KEY queue_tokens_by_user (event_id, user_id),
    UNIQUE KEY queue_tokens_by_sequence (event_id, sequence),
    KEY queue_tokens_by_state (event_id, admitted_until_ns, sequence)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Locks ---------------------------------------------------------------------------------

-- One row per key ever locked. `token` is the last fencing token granted for the key and
-- survives release; the lease is live while `expires_ns` is greater than now.
CREATE TABLE lock_leases (
    lock_key VARCHAR(512) NOT NULL PRIMARY KEY,
    token BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
