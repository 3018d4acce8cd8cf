//! The server's own catalog: what is on sale, under which names, and the discount rules.
//!
//! booking-core knows tickets, stocks and the sale (an `EventId`) each belongs to; it does
//! not know concerts, dates or flights. The server keeps that in one JSON document,
//! `{data_dir}/catalog.json`, written once when the demo data is seeded and read on every
//! start. Every performance, flight and flash sale is one booking-core sale (its `id` is the
//! `EventId` its tickets and stock are listed under).

use std::path::Path;
use std::time::Duration;

use booking_core::discount::{Benefit, QuotePolicy, Rule, RuleSet};
use booking_core::ids::{CouponId, EventId, StockId, TicketId};
use booking_core::money::{BasisPoints, Currency, Money};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Everything on sale.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    /// Concerts and sales, each with its performances.
    pub events: Vec<Event>,
    /// Dates of events, each a booking-core sale.
    pub performances: Vec<Performance>,
    /// Flights, each a booking-core sale.
    pub flights: Vec<Flight>,
    /// First-come coupon campaigns.
    pub coupons: Vec<CouponOffer>,
    /// The discount rules' parameters.
    pub discounts: Discounts,
}

/// A concert or a flash sale.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Its id (also the waiting room's key).
    #[schema(value_type = String)]
    pub id: EventId,
    /// `concert` or `flash-sale`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Whether booking needs an admitted `Queue-Token`.
    pub waiting_room: bool,
}

/// One date of an event: a booking-core sale with seats, stock or both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Performance {
    /// The sale's id, as orders name it.
    pub id: EventId,
    /// The event it belongs to.
    pub event: EventId,
    /// Its name.
    pub name: String,
    /// When it starts.
    pub starts_at: Timestamp,
    /// Its seats.
    pub seats: Vec<Seat>,
    /// Its counted stock.
    pub stock: Vec<StockItem>,
}

/// One seat of a performance or a flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seat {
    /// The ticket booking-core sells.
    pub ticket: TicketId,
    /// `A1`, `12C`.
    pub label: String,
    /// Seat class or fare class (`R`, `S`; `Y`, `C`).
    pub class: String,
    /// Price in KRW.
    pub price: i64,
}

/// A counted stock of a performance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockItem {
    /// The stock booking-core sells.
    pub stock: StockId,
    /// Its name.
    pub name: String,
    /// Price per unit in KRW.
    pub price: i64,
    /// Units listed.
    pub capacity: u32,
}

/// A flight: a booking-core sale with seats in fare classes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flight {
    /// The sale's id, as orders name it.
    pub id: EventId,
    /// `KE1234`.
    pub number: String,
    /// Departure airport (IATA).
    pub from: String,
    /// Arrival airport (IATA).
    pub to: String,
    /// Departure date, `YYYY-MM-DD`.
    pub date: String,
    /// Departure time.
    pub departs_at: Timestamp,
    /// Its seats.
    pub seats: Vec<Seat>,
}

/// A first-come coupon campaign.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CouponOffer {
    /// The campaign's id (`POST /v1/coupons/{id}/claim`).
    #[schema(value_type = String)]
    pub id: CouponId,
    /// The code an order presents.
    pub code: String,
    /// KRW off an order.
    pub amount_off: i64,
    /// Coupons issued in all.
    pub budget: u32,
}

/// Parameters of the discount rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discounts {
    /// The member grade with a discount.
    pub member_grade: String,
    /// Its discount in basis points.
    pub member_bps: u32,
    /// KRW off flights booked inside the window.
    pub window_off: i64,
    /// The window's start.
    pub window_from: Timestamp,
    /// The window's end.
    pub window_until: Timestamp,
}

/// A catalog error: reading, writing or an invalid rule.
pub type CatalogError = Box<dyn std::error::Error + Send + Sync>;

impl Catalog {
    /// Reads `path`, or `None` if it does not exist yet.
    pub fn load(path: &Path) -> Result<Option<Catalog>, CatalogError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", path.display()).into()),
        }
    }

    /// Writes the catalog to `path` (through a temporary file, so a crash leaves none or all).
    pub fn save(&self, path: &Path) -> Result<(), CatalogError> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// The discount rules: a member-grade discount, a time-window discount on flights, and
    /// one amount-off rule per coupon code.
    pub fn rules(&self) -> Result<RuleSet, CatalogError> {
        let d = &self.discounts;
        let mut rules = vec![
            Rule::new(
                "member-grade",
                Benefit::Percentage {
                    percent: BasisPoints::new(d.member_bps)?,
                },
            )
            .description(format!(
                "{} members save {}%",
                d.member_grade,
                d.member_bps / 100
            ))
            .grades([d.member_grade.as_str()]),
            Rule::new(
                "flight-window",
                Benefit::AmountOff {
                    amount: Money::new(d.window_off, Currency::KRW)?,
                },
            )
            .description("flights booked during the winter window")
            .tags(["flight"])
            .window(d.window_from, d.window_until),
        ];
        for coupon in &self.coupons {
            rules.push(
                Rule::new(
                    format!("coupon-{}", coupon.code.to_ascii_lowercase()),
                    Benefit::AmountOff {
                        amount: Money::new(coupon.amount_off, Currency::KRW)?,
                    },
                )
                .description(format!("coupon {}", coupon.code))
                .coupon(coupon.code.as_str()),
            );
        }
        Ok(RuleSet::new(rules, QuotePolicy::default())?)
    }

    /// The event `id`.
    pub fn event(&self, id: EventId) -> Option<&Event> {
        self.events.iter().find(|e| e.id == id)
    }

    /// The performances of event `id`.
    pub fn performances_of(&self, id: EventId) -> impl Iterator<Item = &Performance> {
        self.performances.iter().filter(move |p| p.event == id)
    }

    /// The seats of the sale `id` (a performance or a flight), if it is one.
    pub fn seats_of(&self, id: EventId) -> Option<&[Seat]> {
        self.performances
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.seats.as_slice())
            .or_else(|| {
                self.flights
                    .iter()
                    .find(|f| f.id == id)
                    .map(|f| f.seats.as_slice())
            })
    }

    /// The stock of the sale `id` (a performance), if it is one.
    pub fn stock_of(&self, id: EventId) -> &[StockItem] {
        self.performances
            .iter()
            .find(|p| p.id == id)
            .map_or(&[], |p| p.stock.as_slice())
    }

    /// The event whose waiting room gates the sale `sale`, if it has one.
    pub fn waiting_room_of(&self, sale: EventId) -> Option<EventId> {
        let performance = self.performances.iter().find(|p| p.id == sale)?;
        self.event(performance.event)
            .filter(|e| e.waiting_room)
            .map(|e| e.id)
    }

    /// Whether `sale` is something on sale here.
    pub fn has_sale(&self, sale: EventId) -> bool {
        self.performances.iter().any(|p| p.id == sale) || self.flights.iter().any(|f| f.id == sale)
    }

    /// Every event with a waiting room.
    pub fn waiting_rooms(&self) -> impl Iterator<Item = EventId> + '_ {
        self.events.iter().filter(|e| e.waiting_room).map(|e| e.id)
    }

    /// The coupon campaign `id`.
    pub fn coupon(&self, id: CouponId) -> Option<&CouponOffer> {
        self.coupons.iter().find(|c| c.id == id)
    }
}

/// `now + days`, for seed dates.
pub(crate) fn days_after(now: Timestamp, days: u64) -> Result<Timestamp, CatalogError> {
    Ok(now.checked_add(Duration::from_secs(days.saturating_mul(86_400)))?)
}
