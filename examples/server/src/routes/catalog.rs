//! The catalog: events, their performances with availability, seats, and the flight search
//! (answered from a short-lived cache, so a burst of identical searches reads the store once).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use booking_core::ids::EventId;
use booking_core::ports::store::Availability;
use booking_core::service::BookingError;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentUser;
use crate::catalog::{Event, StockItem};
use crate::problem::{ApiResult, Problem};
use crate::read_cache::FlightKey;
use crate::routes::path_id;
use crate::state::AppState;

/// Lists events.
#[utoipa::path(get, path = "/v1/events", tag = "catalog",
    responses((status = 200, body = Vec<Event>)))]
pub async fn events(State(state): State<AppState>, _user: CurrentUser) -> Json<Vec<Event>> {
    Json(state.catalog.events.clone())
}

/// A date of an event, with what is left.
#[derive(Debug, Serialize, ToSchema)]
pub struct PerformanceView {
    /// The sale's id: orders name it as `sale`, seats are under `/v1/performances/{id}/seats`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it starts.
    pub starts_at: String,
    /// Seats listed.
    pub seats_total: u64,
    /// Seats available now.
    pub seats_available: u64,
    /// Counted stock with units available now.
    pub stock: Vec<StockView>,
}

/// A counted stock and what is left of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StockView {
    /// Orders name it as `stock`.
    pub stock: String,
    /// Its name.
    pub name: String,
    /// KRW per unit.
    pub price: i64,
    /// Units available now.
    pub available: u32,
}

/// The performances of an event with their availability.
#[utoipa::path(get, path = "/v1/events/{id}/performances", tag = "catalog",
    params(("id" = String, Path, description = "an event id")),
    responses((status = 200, body = Vec<PerformanceView>), (status = 404, body = Problem)))]
pub async fn performances(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<PerformanceView>>> {
    let id: EventId = path_id(&id, "event")?;
    state
        .catalog
        .event(id)
        .ok_or_else(|| Problem::not_found("event"))?;
    let now = Timestamp::now();
    let mut views = Vec::new();
    for p in state.catalog.performances_of(id) {
        let availability = state
            .backend
            .store
            .availability(p.id, now)
            .await
            .map_err(BookingError::from)?;
        let stock = stock_views(&p.stock, &availability);
        views.push(PerformanceView {
            id: p.id.to_string(),
            name: p.name.clone(),
            starts_at: p.starts_at.to_string(),
            seats_total: availability.tickets_total,
            seats_available: availability.tickets_available,
            stock,
        });
    }
    Ok(Json(views))
}

/// The stock of a sale with the units `availability` says are left.
pub fn stock_views(items: &[StockItem], availability: &Availability) -> Vec<StockView> {
    items
        .iter()
        .map(|s| StockView {
            stock: s.stock.to_string(),
            name: s.name.clone(),
            price: s.price,
            available: availability
                .stock_available
                .iter()
                .find(|(id, _)| *id == s.stock)
                .map_or(0, |(_, n)| *n),
        })
        .collect()
}

/// A seat and whether it can be held now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatView {
    /// Orders name it in `seats`.
    pub ticket: String,
    /// `A1`, `12C`.
    pub label: String,
    /// Seat or fare class.
    pub class: String,
    /// KRW.
    pub price: i64,
    /// Free now (a lapsed hold counts as free).
    pub available: bool,
}

/// The seats of a performance or a flight, each with its availability (a map kept for
/// `SEARCH_CACHE_TTL` at most; the hold is the real check).
#[utoipa::path(get, path = "/v1/performances/{id}/seats", tag = "catalog",
    params(("id" = String, Path, description = "a performance or flight id")),
    responses((status = 200, body = Vec<SeatView>), (status = 404, body = Problem)))]
pub async fn seats(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Arc<Vec<SeatView>>>> {
    let id: EventId = path_id(&id, "performance")?;
    state
        .catalog
        .seats_of(id)
        .ok_or_else(|| Problem::not_found("performance"))?;
    Ok(Json(seat_map(&state, id).await?))
}

/// The seat map of `sale`, through the read cache.
async fn seat_map(state: &AppState, sale: EventId) -> Result<Arc<Vec<SeatView>>, Problem> {
    state.reads.seats(sale, load_seats(state, sale)).await
}

/// Every seat of `sale` read from the store.
pub(crate) async fn load_seats(state: &AppState, sale: EventId) -> Result<Vec<SeatView>, Problem> {
    let seats = state.catalog.seats_of(sale).unwrap_or_default();
    let now = Timestamp::now();
    let mut views = Vec::with_capacity(seats.len());
    for seat in seats {
        let listing = state
            .backend
            .store
            .ticket(seat.ticket)
            .await
            .map_err(BookingError::from)?;
        views.push(SeatView {
            ticket: seat.ticket.to_string(),
            label: seat.label.clone(),
            class: seat.class.clone(),
            price: seat.price,
            available: listing.ticket.is_available_at(now),
        });
    }
    Ok(views)
}

/// The flight search's query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FlightQuery {
    /// Departure airport (IATA), e.g. `ICN`.
    pub from: String,
    /// Arrival airport (IATA), e.g. `CJU`.
    pub to: String,
    /// Departure date `YYYY-MM-DD`; omitted: every date.
    pub date: Option<String>,
}

/// A flight with seat counts per fare.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlightView {
    /// The sale's id: orders name it as `sale`; seats at `/v1/performances/{id}/seats`.
    pub id: String,
    /// Flight number.
    pub number: String,
    /// Departure airport.
    pub from: String,
    /// Arrival airport.
    pub to: String,
    /// Departure date.
    pub date: String,
    /// Departure time.
    pub departs_at: String,
    /// Seat counts per fare class.
    pub fares: Vec<FareView>,
}

/// Seats of one fare class.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FareView {
    /// `Y` (economy) or `C` (business).
    pub class: String,
    /// KRW.
    pub price: i64,
    /// Seats of the class.
    pub seats_total: u32,
    /// Seats of the class free now.
    pub seats_available: u32,
}

/// Searches flights; answers are reused for `SEARCH_CACHE_TTL` (1 s by default).
#[utoipa::path(get, path = "/v1/flights", tag = "catalog", params(FlightQuery),
    responses((status = 200, body = Vec<FlightView>), (status = 400, body = Problem)))]
pub async fn flights(
    State(state): State<AppState>,
    _user: CurrentUser,
    query: Result<Query<FlightQuery>, QueryRejection>,
) -> ApiResult<Json<Arc<Vec<FlightView>>>> {
    let Query(query) = query
        .map_err(|e| Problem::bad_request("invalid-query", e.body_text()).with("field", "query"))?;
    let key = (
        query.from.to_ascii_uppercase(),
        query.to.to_ascii_uppercase(),
        query.date.unwrap_or_default(),
    );
    let answer = state
        .reads
        .flights(key.clone(), search_flights(&state, &key))
        .await?;
    Ok(Json(answer))
}

async fn search_flights(
    state: &AppState,
    (from, to, date): &FlightKey,
) -> Result<Vec<FlightView>, Problem> {
    let mut views = Vec::new();
    let matching = state
        .catalog
        .flights
        .iter()
        .filter(|f| &f.from == from && &f.to == to && (date.is_empty() || &f.date == date));
    for flight in matching {
        let mut fares: BTreeMap<String, FareView> = BTreeMap::new();
        for seat in seat_map(state, flight.id).await?.iter() {
            let fare = fares.entry(seat.class.clone()).or_insert(FareView {
                class: seat.class.clone(),
                price: seat.price,
                seats_total: 0,
                seats_available: 0,
            });
            fare.seats_total = fare.seats_total.saturating_add(1);
            if seat.available {
                fare.seats_available = fare.seats_available.saturating_add(1);
            }
        }
        views.push(FlightView {
            id: flight.id.to_string(),
            number: flight.number.clone(),
            from: flight.from.clone(),
            to: flight.to.clone(),
            date: flight.date.clone(),
            departs_at: flight.departs_at.to_string(),
            fares: fares.into_values().collect(),
        });
    }
    Ok(views)
}
