-- The other ports on SQLite: coupons, wallets, idempotency keys, the waiting room, locks.

-- Monotonic counters (`lock_token`, `idempotency_token`): bumped with
-- `UPDATE … SET value = value + 1 … RETURNING value` inside a write transaction.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('lock_token', 0), ('idempotency_token', 0);

-- A coupon campaign; `issued` counts the coupons handed out, never above `budget`.
CREATE TABLE coupon_campaigns (
    id BLOB PRIMARY KEY,
    code TEXT NOT NULL,
    budget INTEGER NOT NULL CHECK (budget > 0),
    issued INTEGER NOT NULL DEFAULT 0,
    issue_until_ns INTEGER,
    CHECK (issued <= budget)
);

-- One coupon per (campaign, user). `state`: issued, reserved or used; `order_id` is set
-- for reserved and used.
CREATE TABLE coupons (
    campaign_id BLOB NOT NULL REFERENCES coupon_campaigns (id),
    user_id BLOB NOT NULL,
    issued_ns INTEGER NOT NULL,
    state TEXT NOT NULL,
    order_id BLOB,
    PRIMARY KEY (campaign_id, user_id)
) WITHOUT ROWID;
CREATE INDEX coupons_by_user ON coupons (user_id, issued_ns, campaign_id);

-- The wallet ledger; a wallet's balance is its latest entry's `balance_after`.
CREATE TABLE wallet_ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BLOB NOT NULL,
    currency TEXT NOT NULL,
    movement TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    reference TEXT NOT NULL UNIQUE,
    at_ns INTEGER NOT NULL
);
CREATE INDEX wallet_ledger_by_wallet ON wallet_ledger (user_id, currency, seq);

-- Idempotency records by (scope as JSON, key). In flight: `token` and `lease_ns` set,
-- `outcome_status` NULL; done: the outcome set.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    token INTEGER NOT NULL,
    lease_ns INTEGER NOT NULL,
    outcome_status INTEGER,
    outcome_body BLOB,
    retain_until_ns INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_retention ON idempotency_keys (retain_until_ns);

-- Waiting rooms: the next arrival sequence per event.
CREATE TABLE queue_rooms (
    event_id BLOB PRIMARY KEY,
    next_sequence INTEGER NOT NULL
) WITHOUT ROWID;

-- Tokens in a room: waiting while `admitted_until_ns` is NULL. One live token per user.
CREATE TABLE queue_tokens (
    token BLOB PRIMARY KEY,
    event_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    sequence INTEGER NOT NULL,
    admitted_until_ns INTEGER,
    UNIQUE (event_id, user_id)
);
CREATE INDEX queue_tokens_waiting ON queue_tokens (event_id, sequence)
    WHERE admitted_until_ns IS NULL;
CREATE INDEX queue_tokens_admitted ON queue_tokens (event_id, admitted_until_ns)
    WHERE admitted_until_ns IS NOT NULL;

-- Lock leases: the grant holding each key, until `expires_ns`.
CREATE TABLE lock_leases (
    key TEXT PRIMARY KEY,
    token INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL
) WITHOUT ROWID;
