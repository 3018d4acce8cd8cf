-- Records, listings and outbox events as `json` (the document's text, checked to be JSON when
-- written) instead of `jsonb`.
--
-- The store never looks inside these documents in SQL: every condition and index reads a
-- column, and a document is written and read whole. Stored as `jsonb`, each one was parsed
-- into the binary form on every write and rendered back to text on every read: about four
-- times the server's cost of taking `json`, and on the hold and sweep paths more CPU than the
-- rest of the order row. Queries by hand still work: `->`, `->>` and a cast to `jsonb` read
-- `json` too.
--
-- Each ALTER rewrites its table under an exclusive lock: instant on a new database; on a
-- large one, run the migration at a quiet moment.
ALTER TABLE tickets ALTER COLUMN listing TYPE json USING listing::json;
ALTER TABLE stocks ALTER COLUMN listing TYPE json USING listing::json;
ALTER TABLE orders ALTER COLUMN record TYPE json USING record::json;
ALTER TABLE payments ALTER COLUMN record TYPE json USING record::json;
ALTER TABLE outbox ALTER COLUMN event TYPE json USING event::json;
