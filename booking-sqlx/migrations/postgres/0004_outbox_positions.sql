-- Outbox positions in commit order (docs/adr/0009). `seq` is taken when a row is inserted,
-- so a transaction that commits after a later-numbered one would show up behind a relay
-- that already paged past it. Relays now page by `position`, which a reader stamps, under
-- the `outbox_head` row lock, only on rows whose transaction has committed; a row that
-- commits later is stamped later, after every position handed out before it.
--
-- Writers still insert only (event, recorded_ns): `position` starts NULL.
ALTER TABLE outbox ADD COLUMN position bigint;
-- Every row here has committed (the ALTER waited for its writers): it keeps its number, so
-- a relay's saved position still points at the same place.
UPDATE outbox SET position = seq;
CREATE UNIQUE INDEX outbox_published ON outbox (position) WHERE position IS NOT NULL;
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE position IS NULL;

-- The last position handed out; its row lock serializes the stampers.
CREATE TABLE outbox_head (
    id smallint PRIMARY KEY CHECK (id = 1),
    last bigint NOT NULL
);
-- Past every number ever handed out, acknowledged (deleted) rows included.
INSERT INTO outbox_head (id, last)
SELECT 1, greatest(
    coalesce((SELECT max(seq) FROM outbox), 0),
    coalesce(pg_sequence_last_value(pg_get_serial_sequence('outbox', 'seq')), 0));
