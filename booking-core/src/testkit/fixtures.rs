//! Building blocks for suite tests: listings, priced orders, a service over a backend.
//!
//! Fixtures panic on failure: they run inside tests, where a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Backend;
use crate::clock::Timestamp;
use crate::discount::{Cart, CartLine, Customer, LineId, QuotePolicy, RuleSet, quote};
use crate::ids::{EventId, HoldId, OrderId, StockId, TicketId, UserId};
use crate::machine::{Order, Stock, Ticket};
use crate::memory::FakeGateway;
use crate::money::{Currency, Money};
use crate::policy::ManualSleeper;
use crate::ports::store::{ItemRef, OrderLine, OrderRecord, StockListing, TicketListing};
use crate::service::{BookingService, Policies, Ports};

/// `n` won.
pub fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

/// Lists `n` seats of `event` at `price` won each; returns their ids in listing order.
pub async fn seats(backend: &Backend, event: EventId, n: usize, price: i64) -> Vec<TicketId> {
    let listings: Vec<TicketListing> = (0..n)
        .map(|_| TicketListing {
            ticket: Ticket::new(TicketId::new()),
            event,
            item: "seat".to_owned(),
            tags: BTreeSet::new(),
            price: krw(price),
        })
        .collect();
    backend.store.add_tickets(&listings).await.unwrap();
    listings.iter().map(|l| l.ticket.id()).collect()
}

/// Lists a stock of `capacity` units of `event` at `price` won each.
pub async fn stock(backend: &Backend, event: EventId, capacity: u32, price: i64) -> StockId {
    let listing = StockListing {
        stock: Stock::new(StockId::new(), capacity),
        event,
        item: "ga".to_owned(),
        tags: BTreeSet::new(),
        price: krw(price),
    };
    backend.store.add_stock(&listing).await.unwrap();
    listing.stock.id()
}

/// A pending order of `user` for `items` of `event`, priced at `unit_price` won per unit with
/// no discount, expiring at `expires_at`: what `BookingService::hold` would place.
pub fn pending_order(
    event: EventId,
    user: UserId,
    items: &[ItemRef],
    unit_price: i64,
    now: Timestamp,
    expires_at: Timestamp,
) -> OrderRecord {
    let lines: Vec<OrderLine> = items
        .iter()
        .map(|item| OrderLine {
            line: LineId::new(match item {
                ItemRef::Ticket { ticket } => format!("ticket:{ticket}"),
                ItemRef::Stock { stock, .. } => format!("stock:{stock}"),
            }),
            item: *item,
            refunded_units: 0,
        })
        .collect();
    let cart = Cart::new(
        Currency::KRW,
        lines
            .iter()
            .map(|l| CartLine::new(l.line.clone(), "item", krw(unit_price), l.units()))
            .collect(),
    )
    .unwrap();
    let rules = RuleSet::new(Vec::new(), QuotePolicy::default()).unwrap();
    let quoted = quote(&cart, &Customer::guest(), now, &[], &rules).unwrap();
    OrderRecord {
        order: Order::new(OrderId::new(), quoted.total(), expires_at),
        user,
        event,
        hold: HoldId::new(),
        lines,
        quote: quoted,
        coupons: Vec::new(),
        payment: None,
        refunds_started: 0,
        pending_refund: None,
        refund_answers: Vec::new(),
        created_at: now,
    }
}

/// A booking service over `backend`, paying through `gateway` (named `"fake"`) and a points
/// gateway over the backend's wallet (named `"points"`), with `rules` and default policies.
pub fn service(backend: &Backend, gateway: &FakeGateway, rules: RuleSet) -> BookingService {
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(backend.clock.clone());
    let points =
        crate::gateways::PointsGateway::new(Arc::clone(&backend.wallet), Arc::clone(&clock));
    let ports = Ports {
        store: Arc::clone(&backend.store),
        coupons: Arc::clone(&backend.coupons),
        gateways: vec![Arc::new(gateway.clone()), Arc::new(points)],
        waiting_room: None,
        clock,
        sleeper: Arc::new(ManualSleeper::new(backend.clock.clone())),
    };
    BookingService::new(ports, Policies::new(Currency::KRW, rules))
}

/// No discount rules.
pub fn no_rules() -> RuleSet {
    RuleSet::new(Vec::new(), QuotePolicy::default()).unwrap()
}
