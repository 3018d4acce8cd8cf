//! The standing area's invariant: places are counted stock, so "none sold twice" means the
//! store's count of sold places, the event log and the paid orders all agree, and never pass
//! the capacity — with the hot-stock gate in front of the store or without it.

use std::error::Error;

use booking_core::machine::DomainEvent;
use booking_core::ports::store::{ItemRef, OrderRecord};

use crate::invariants::{Check, check as verdict};
use crate::sale::Sale;

/// What the check found: its verdict, the places sold, and the places still held.
pub(crate) struct Standing {
    pub(crate) check: Check,
    pub(crate) sold: u32,
    pub(crate) held: u32,
}

/// Checks the standing places against the store's stock, the event log `events` and the
/// `paid` orders.
pub(crate) async fn check(
    sale: &Sale,
    paid: &[&OrderRecord],
    events: &[DomainEvent],
) -> Result<Standing, Box<dyn Error>> {
    let world = &sale.world;
    let stock = world.store.stock(world.standing).await?.stock;
    let mut by_events: i64 = 0;
    for event in events {
        match event {
            DomainEvent::StockSold {
                stock, quantity, ..
            } if *stock == world.standing => by_events += i64::from(*quantity),
            DomainEvent::StockRefunded {
                stock, quantity, ..
            } if *stock == world.standing => by_events -= i64::from(*quantity),
            _ => {}
        }
    }
    let mut by_orders: i64 = 0;
    for record in paid {
        for line in &record.lines {
            if let ItemRef::Stock { stock, quantity } = line.item
                && stock == world.standing
            {
                by_orders += i64::from(quantity) - i64::from(line.refunded_units);
            }
        }
    }
    let sold = i64::from(stock.sold());
    let held = sold == by_events && sold == by_orders && stock.sold() <= world.standing_places;
    Ok(Standing {
        check: verdict(
            "no standing place sold twice",
            held,
            format!(
                "{sold} sold of {} in the store, {by_events} by the event log, {by_orders} by paid orders",
                world.standing_places
            ),
        ),
        sold: stock.sold(),
        held: stock.held(),
    })
}
