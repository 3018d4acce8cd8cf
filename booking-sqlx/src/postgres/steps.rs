//! Which function does each row-level step of the store's writes on PostgreSQL
//! (`crate::store_writes`, `crate::expiry_sweep`).
//!
//! A write transaction runs at the default `READ COMMITTED`: the statements' own conditions
//! and row locks (`FOR UPDATE`, `SKIP LOCKED` in the sweep) make each write correct.

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::{PG, codec, flow, place, records, sweep};
use crate::store_steps::store_steps;

/// A write transaction at the pool's default isolation.
async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin().await
}

store_steps! {
    database: Postgres,
    connection: PgConnection,
    backend: PG,
    begin_write: begin,
    due_page: sweep::due_page,
    order_page: records::order_page,
    place_order: place::place_order,
    lock_order: records::lock_order,
    claim_due: sweep::claim_due,
    lock_payment: records::lock_payment_by_id,
    cas_order: records::cas_order,
    cas_payment: records::cas_payment,
    insert_payment: records::insert_payment,
    append_outbox: codec::append_outbox,
    extend_items: flow::extend_items,
    sell_items: flow::sell_items,
    restock_items: flow::restock_items,
    free_items: flow::free_items,
}
