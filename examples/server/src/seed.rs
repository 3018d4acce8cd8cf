//! The demo data: a concert with two dates of 50 seats, a flight with seats in two fare
//! classes, a flash sale with counted stock, a first-come coupon with a budget, a member grade
//! and a time-window discount ([`demo_catalog`]); and [`list`], which puts a catalog's
//! inventory and coupons into the stores, skipping what is there already.

use std::sync::Arc;

use booking_core::ids::{CouponId, EventId, StockId, TicketId};
use booking_core::machine::{Stock, Ticket};
use booking_core::money::{Currency, Money};
use booking_core::ports::coupon::{CouponCampaign, CouponError, CouponStore};
use booking_core::ports::store::{BookingStore, StockListing, StoreError, TicketListing};
use jiff::Timestamp;

use crate::catalog::{
    Catalog, CatalogError, CouponOffer, Discounts, Event, Flight, Performance, Seat, StockItem,
    days_after,
};

/// The flash-sale coupon's code.
pub const COUPON_CODE: &str = "OPEN10K";

/// The demo catalog, its dates counted from `now`.
pub fn demo_catalog(now: Timestamp) -> Result<Catalog, CatalogError> {
    let concert = EventId::new();
    let drop_event = EventId::new();
    let sale = EventId::new();
    let mut performances = Vec::new();
    for (n, day) in [(1, 30), (2, 31)] {
        let seats = concert_seats();
        let performance = Performance {
            id: EventId::new(),
            event: concert,
            name: format!("Winter Concert, night {n}"),
            starts_at: days_after(now, day)?,
            seats,
            stock: Vec::new(),
        };
        performances.push(performance);
    }
    let sneakers = StockItem {
        stock: StockId::new(),
        name: "Limited sneakers".to_owned(),
        price: 159_000,
        capacity: 100,
    };
    performances.push(Performance {
        id: sale,
        event: drop_event,
        name: "Sneaker drop".to_owned(),
        starts_at: now,
        seats: Vec::new(),
        stock: vec![sneakers],
    });

    let flight = flight(now)?;

    let coupon = CouponOffer {
        id: CouponId::new(),
        code: COUPON_CODE.to_owned(),
        amount_off: 10_000,
        budget: 100,
    };

    Ok(Catalog {
        events: vec![
            Event {
                id: concert,
                kind: "concert".to_owned(),
                name: "Winter Concert".to_owned(),
                waiting_room: true,
            },
            Event {
                id: drop_event,
                kind: "flash-sale".to_owned(),
                name: "Sneaker drop".to_owned(),
                waiting_room: false,
            },
        ],
        performances,
        flights: vec![flight],
        coupons: vec![coupon],
        discounts: Discounts {
            member_grade: "GOLD".to_owned(),
            member_bps: 1_000,
            window_off: 5_000,
            window_from: days_after(now, 0)?,
            window_until: days_after(now, 60)?,
        },
    })
}

fn krw(won: i64) -> Result<Money, CatalogError> {
    Ok(Money::new(won, Currency::KRW)?)
}

/// Rows A–E of ten seats: A and B are class R, the rest class S.
fn concert_seats() -> Vec<Seat> {
    let mut seats = Vec::with_capacity(50);
    for row in ['A', 'B', 'C', 'D', 'E'] {
        let (class, price) = if matches!(row, 'A' | 'B') {
            ("R", 120_000)
        } else {
            ("S", 90_000)
        };
        for n in 1..=10 {
            seats.push(Seat {
                ticket: TicketId::new(),
                label: format!("{row}{n}"),
                class: class.to_owned(),
                price,
            });
        }
    }
    seats
}

/// KE1234 from ICN to CJU two weeks out: 8 business (C) and 24 economy (Y) seats.
fn flight(now: Timestamp) -> Result<Flight, CatalogError> {
    let departs_at = days_after(now, 14)?;
    let mut seats = Vec::new();
    for row in 1..=2 {
        for letter in ['A', 'B', 'C', 'D'] {
            seats.push(Seat {
                ticket: TicketId::new(),
                label: format!("{row}{letter}"),
                class: "C".to_owned(),
                price: 249_000,
            });
        }
    }
    for row in 10..=13 {
        for letter in ['A', 'B', 'C', 'D', 'E', 'F'] {
            seats.push(Seat {
                ticket: TicketId::new(),
                label: format!("{row}{letter}"),
                class: "Y".to_owned(),
                price: 89_000,
            });
        }
    }
    let date: String = departs_at.to_string().chars().take(10).collect();
    Ok(Flight {
        id: EventId::new(),
        number: "KE1234".to_owned(),
        from: "ICN".to_owned(),
        to: "CJU".to_owned(),
        date,
        departs_at,
        seats,
    })
}

/// Lists `catalog`'s seats, stock and coupon campaigns in the stores, each sale and campaign
/// once: what the stores have already is skipped, so this is safe on every start (and after a
/// start interrupted while listing). Returns how many sales and campaigns were listed now.
pub async fn list(
    catalog: &Catalog,
    store: &Arc<dyn BookingStore>,
    coupons: &Arc<dyn CouponStore>,
) -> Result<u32, CatalogError> {
    let mut listed = 0u32;
    for performance in &catalog.performances {
        let tag = catalog
            .event(performance.event)
            .map_or("event", |e| e.kind.as_str());
        if list_seats(store, performance.id, &performance.seats, tag).await? {
            listed = listed.saturating_add(1);
        }
        for item in &performance.stock {
            if is_missing(store.stock(item.stock).await)? {
                let listing = StockListing::new(
                    Stock::new(item.stock, item.capacity),
                    performance.id,
                    item.name.as_str(),
                    krw(item.price)?,
                )
                .tagged([tag]);
                store.add_stock(&listing).await?;
                listed = listed.saturating_add(1);
            }
        }
    }
    for flight in &catalog.flights {
        if list_seats(store, flight.id, &flight.seats, "flight").await? {
            listed = listed.saturating_add(1);
        }
    }
    for coupon in &catalog.coupons {
        match coupons.remaining(coupon.id).await {
            Ok(_) => {}
            Err(CouponError::NotFound) => {
                coupons
                    .create_campaign(&CouponCampaign {
                        id: coupon.id,
                        code: coupon.code.clone(),
                        budget: coupon.budget,
                        issue_until: None,
                    })
                    .await?;
                listed = listed.saturating_add(1);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(listed)
}

/// Whether a store read found nothing.
fn is_missing<T>(read: Result<T, StoreError>) -> Result<bool, CatalogError> {
    match read {
        Ok(_) => Ok(false),
        Err(StoreError::NotFound { .. }) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Lists a sale's seats unless its first seat is listed already (they are added in one
/// atomic call, all or none). Returns whether it listed them.
async fn list_seats(
    store: &Arc<dyn BookingStore>,
    sale: EventId,
    seats: &[Seat],
    tag: &str,
) -> Result<bool, CatalogError> {
    let Some(first) = seats.first() else {
        return Ok(false);
    };
    if !is_missing(store.ticket(first.ticket).await)? {
        return Ok(false);
    }
    let mut listings = Vec::with_capacity(seats.len());
    for seat in seats {
        listings.push(
            TicketListing::new(
                Ticket::new(seat.ticket),
                sale,
                format!("{} {}", seat.class, seat.label),
                krw(seat.price)?,
            )
            .tagged([tag, seat.class.as_str()]),
        );
    }
    store.add_tickets(&listings).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use booking_core::memory::{MemoryBookingStore, MemoryCouponStore};

    use super::*;

    #[tokio::test]
    async fn listing_is_done_once_and_a_fresh_store_gets_everything() {
        let catalog = demo_catalog(Timestamp::now()).unwrap();
        let store: Arc<dyn BookingStore> = Arc::new(MemoryBookingStore::new());
        let coupons: Arc<dyn CouponStore> = Arc::new(MemoryCouponStore::new());
        // Two concert dates, the flash sale's stock, the flight, the coupon campaign.
        assert_eq!(list(&catalog, &store, &coupons).await.unwrap(), 5);
        assert_eq!(list(&catalog, &store, &coupons).await.unwrap(), 0);
        let seat = &catalog.flights[0].seats[0];
        let listed = store.ticket(seat.ticket).await.unwrap();
        assert_eq!(listed.event, catalog.flights[0].id);
        assert_eq!(listed.price.minor(), seat.price);
        assert!(listed.tags.contains("flight"));
        assert_eq!(coupons.remaining(catalog.coupons[0].id).await.unwrap(), 100);
        // Another database for the same catalog gets the same items.
        let other: Arc<dyn BookingStore> = Arc::new(MemoryBookingStore::new());
        let other_coupons: Arc<dyn CouponStore> = Arc::new(MemoryCouponStore::new());
        assert_eq!(list(&catalog, &other, &other_coupons).await.unwrap(), 5);
    }

    #[test]
    fn the_demo_has_what_the_flows_need() {
        let catalog = demo_catalog(Timestamp::now()).unwrap();
        let concert: Vec<_> = catalog
            .performances
            .iter()
            .filter(|p| !p.seats.is_empty())
            .collect();
        assert_eq!(concert.len(), 2);
        assert!(concert.iter().all(|p| p.seats.len() == 50));
        let fares: std::collections::BTreeSet<_> = catalog.flights[0]
            .seats
            .iter()
            .map(|s| s.class.as_str())
            .collect();
        assert_eq!(fares.len(), 2);
        assert!(catalog.rules().is_ok());
    }
}
