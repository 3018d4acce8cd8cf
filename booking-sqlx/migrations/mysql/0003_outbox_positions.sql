-- Outbox positions in commit order (docs/adr/0009). `seq` is taken when a row is inserted,
-- so a transaction that commits after a later-numbered one would show up behind a relay
-- that already paged past it. Relays now page by `position`, which a reader stamps, under
-- the `outbox_head` row lock, only on rows whose transaction has committed; a row that
-- commits later is stamped later, after every position handed out before it.
--
-- Writers still insert only (event, recorded_ns): `position` starts NULL. The index serves
-- both reads: positions in order, and the unstamped rows (NULL) in `seq` order.
ALTER TABLE outbox
    ADD COLUMN position BIGINT NULL,
    ADD KEY outbox_by_position (position, seq);
-- Rows already here keep their number, so a relay's saved position still points at the
-- same place.
UPDATE outbox SET position = seq;

-- The last position handed out; its row lock serializes the stampers.
CREATE TABLE outbox_head (
    id TINYINT NOT NULL PRIMARY KEY,
    last BIGINT NOT NULL
) ENGINE = InnoDB;
-- Past every number ever handed out, acknowledged (deleted) rows included.
INSERT INTO outbox_head (id, last)
SELECT 1, GREATEST(
    COALESCE((SELECT MAX(seq) FROM outbox), 0),
    COALESCE((SELECT AUTO_INCREMENT - 1 FROM information_schema.TABLES
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'outbox'), 0));
