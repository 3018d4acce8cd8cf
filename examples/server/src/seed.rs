//! The demo data, listed on first start: a concert with two dates of 50 seats, a flight with
//! seats in two fare classes, a flash sale with counted stock, a first-come coupon with a
//! budget, a member grade and a time-window discount.

use std::sync::Arc;

use booking_core::ids::{CouponId, EventId, StockId, TicketId};
use booking_core::machine::{Stock, Ticket};
use booking_core::money::{Currency, Money};
use booking_core::ports::coupon::{CouponCampaign, CouponError, CouponStore};
use booking_core::ports::store::{BookingStore, StockListing, TicketListing};
use jiff::Timestamp;

use crate::catalog::{
    Catalog, CatalogError, CouponOffer, Discounts, Event, Flight, Performance, Seat, StockItem,
    days_after,
};

/// The flash-sale coupon's code.
pub const COUPON_CODE: &str = "OPEN10K";

/// Lists the demo data in `store` and `coupons` and returns its catalog.
pub async fn seed(
    store: &Arc<dyn BookingStore>,
    coupons: &Arc<dyn CouponStore>,
    now: Timestamp,
) -> Result<Catalog, CatalogError> {
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
        list_seats(store, performance.id, &performance.seats, "concert").await?;
        performances.push(performance);
    }
    let sneakers = StockItem {
        stock: StockId::new(),
        name: "Limited sneakers".to_owned(),
        price: 159_000,
        capacity: 100,
    };
    let listing = StockListing::new(
        Stock::new(sneakers.stock, sneakers.capacity),
        sale,
        sneakers.name.as_str(),
        krw(sneakers.price)?,
    )
    .tagged(["flash-sale"]);
    store.add_stock(&listing).await?;
    performances.push(Performance {
        id: sale,
        event: drop_event,
        name: "Sneaker drop".to_owned(),
        starts_at: now,
        seats: Vec::new(),
        stock: vec![sneakers],
    });

    let flight = flight(now)?;
    list_seats(store, flight.id, &flight.seats, "flight").await?;

    let coupon = CouponOffer {
        id: CouponId::new(),
        code: COUPON_CODE.to_owned(),
        amount_off: 10_000,
        budget: 100,
    };
    ensure_campaign(coupons, &coupon).await?;

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

async fn list_seats(
    store: &Arc<dyn BookingStore>,
    sale: EventId,
    seats: &[Seat],
    tag: &str,
) -> Result<(), CatalogError> {
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
    Ok(())
}

/// Registers `offer`'s campaign in `coupons` unless it is there already: on first start, and
/// on every start after, for a coupon store that may have lost it (Redis without
/// persistence). Coupons issued before are kept.
pub async fn ensure_campaign(
    coupons: &Arc<dyn CouponStore>,
    offer: &CouponOffer,
) -> Result<(), CatalogError> {
    let campaign = CouponCampaign {
        id: offer.id,
        code: offer.code.clone(),
        budget: offer.budget,
        issue_until: None,
    };
    match coupons.create_campaign(&campaign).await {
        Ok(()) | Err(CouponError::AlreadyExists) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
