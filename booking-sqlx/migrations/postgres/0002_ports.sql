-- The ports beside the booking store: coupons, wallets, idempotency keys, the waiting room
-- and leased locks. Instants are bigint nanoseconds since the Unix epoch, as in 0001.

-- A coupon campaign. `remaining` is the budget left: issuance decrements it conditionally
-- (`remaining > 0`), so the database refuses an overdraft whatever the races.
CREATE TABLE coupon_campaigns (
    id uuid PRIMARY KEY,
    code text NOT NULL,
    budget bigint NOT NULL CHECK (budget > 0),
    remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= budget),
    issue_until_ns bigint
);

-- One user's coupon of a campaign: the primary key is "once per user". `state` is issued,
-- reserved or used; `order_id` is set for reserved and used.
CREATE TABLE coupons_issued (
    coupon_id uuid NOT NULL REFERENCES coupon_campaigns (id),
    user_id uuid NOT NULL,
    issued_ns bigint NOT NULL,
    state text NOT NULL CHECK (state IN ('issued', 'reserved', 'used')),
    order_id uuid CHECK ((state = 'issued') = (order_id IS NULL)),
    PRIMARY KEY (coupon_id, user_id)
);
CREATE INDEX coupons_issued_by_user ON coupons_issued (user_id, issued_ns, coupon_id);

-- A wallet's balance per (user, currency); the CHECK is the last line against an overdraft
-- (debits are conditional updates, `balance >= amount`).
CREATE TABLE wallets (
    user_id uuid NOT NULL,
    currency text NOT NULL,
    balance bigint NOT NULL CHECK (balance >= 0),
    PRIMARY KEY (user_id, currency)
);

-- Every movement, once per reference (unique across all wallets). `seq` orders a wallet's
-- entries: a movement writes its entry while it holds the wallet's row lock.
CREATE TABLE wallet_ledger (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference text NOT NULL UNIQUE,
    user_id uuid NOT NULL,
    currency text NOT NULL,
    movement text NOT NULL CHECK (movement IN ('credit', 'debit')),
    amount bigint NOT NULL CHECK (amount > 0),
    balance_after bigint NOT NULL CHECK (balance_after >= 0),
    at_ns bigint NOT NULL
);
CREATE INDEX wallet_ledger_by_wallet ON wallet_ledger (user_id, currency, seq);

-- Idempotency records under (scope, key). A scope is a tenant, or a user within a tenant
-- (`per_user`, with `user_id` empty when not). A record is a live or lapsed claim while
-- `status` is NULL, a completed request (replayed) once it is set.
CREATE TABLE idempotency_keys (
    tenant text NOT NULL,
    per_user boolean NOT NULL,
    user_id text NOT NULL,
    key text NOT NULL,
    fingerprint bytea NOT NULL,
    token bigint NOT NULL,
    lease_expires_ns bigint NOT NULL,
    status integer,
    body bytea,
    retain_until_ns bigint NOT NULL,
    PRIMARY KEY (tenant, per_user, user_id, key)
);
CREATE INDEX idempotency_keys_by_retention ON idempotency_keys (retain_until_ns);
-- Claim tokens: a taken-over claim is told apart by its token. CACHE 1 (the default) keeps
-- them increasing across sessions.
CREATE SEQUENCE idempotency_claim_tokens AS bigint CACHE 1;

-- A waiting room per event: the next arrival sequence. Joins and admissions of a room take
-- this row's lock, which keeps sequences dense and admissions in arrival order.
CREATE TABLE admission_rooms (
    event_id uuid PRIMARY KEY,
    next_sequence bigint NOT NULL
);

-- A user's place in a room: waiting while `admitted_until_ns` is NULL, then admitted until
-- that instant. One live token per user and room.
CREATE TABLE admission_tokens (
    token uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES admission_rooms (event_id),
    user_id uuid NOT NULL,
    sequence bigint NOT NULL,
    admitted_until_ns bigint,
    UNIQUE (event_id, user_id),
    UNIQUE (event_id, sequence)
);
-- Waiting tokens in arrival order: positions, the queue length and admit_next's batch.
CREATE INDEX admission_waiting ON admission_tokens (event_id, sequence)
    WHERE admitted_until_ns IS NULL;
-- Admissions by expiry: forgetting lapsed ones.
CREATE INDEX admission_admitted ON admission_tokens (event_id, admitted_until_ns)
    WHERE admitted_until_ns IS NOT NULL;

-- A lock key's lease. The row outlives its lease: `token` is the last grant's fencing
-- token, `held_until_ns` NULL once released. A key is free when it is NULL or past.
CREATE TABLE lock_leases (
    key text PRIMARY KEY,
    token bigint NOT NULL,
    held_until_ns bigint
);
-- Fencing tokens: one sequence for every key, so tokens grow per key and across keys, and a
-- multi-key lease gets one token. CACHE 1 keeps them increasing across sessions.
CREATE SEQUENCE lock_fencing_tokens AS bigint CACHE 1;
