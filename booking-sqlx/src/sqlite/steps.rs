//! Which function does each row-level step of the store's writes on SQLite
//! (`crate::store_writes`, `crate::expiry_sweep`).
//!
//! A write transaction is `BEGIN IMMEDIATE`: it holds the database's one write lock from its
//! first statement, so every row it reads stays as read until it commits. Locking a row is
//! therefore reading it.

use sqlx::{Sqlite, SqliteConnection};

use super::{SQ, begin_write, flow, place, records, rows, sweep};
use crate::store_steps::store_steps;

store_steps! {
    database: Sqlite,
    connection: SqliteConnection,
    backend: SQ,
    begin_write: begin_write,
    due_page: sweep::due_page,
    order_page: records::order_page,
    place_order: place::place_order,
    lock_order: records::order_at,
    claim_due: sweep::claim_due,
    lock_payment: records::payment_by_id,
    cas_order: records::cas_order,
    cas_payment: records::cas_payment,
    insert_payment: records::insert_payment,
    append_outbox: rows::append_outbox,
    extend_items: flow::extend_items,
    sell_items: flow::sell_items,
    restock_items: flow::restock_items,
    free_items: flow::free_items,
}
