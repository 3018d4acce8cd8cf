//! Which function does each row-level step of the store's writes on MySQL
//! (`crate::store_writes`, `crate::expiry_sweep`).
//!
//! A write transaction runs at `READ COMMITTED` (see the module docs of `mysql`): the
//! statements' own conditions and row locks (`FOR UPDATE`, `SKIP LOCKED` in the sweep) make
//! each write correct.

use sqlx::{MySql, MySqlConnection};

use super::{MY, begin, flow, place, records, rows, sweep};
use crate::store_steps::store_steps;

store_steps! {
    database: MySql,
    connection: MySqlConnection,
    backend: MY,
    begin_write: begin,
    due_page: sweep::due_page,
    order_page: records::order_page,
    place_order: place::place_order,
    lock_order: records::lock_order,
    claim_due: sweep::claim_due,
    lock_payment: records::lock_payment,
    cas_order: records::cas_order,
    cas_payment: records::cas_payment,
    insert_payment: records::insert_payment,
    append_outbox: rows::append_outbox,
    extend_items: flow::extend_items,
    sell_items: flow::sell_items,
    restock_items: flow::restock_items,
    free_items: flow::free_items,
}
