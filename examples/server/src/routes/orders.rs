//! Orders: place (hold seats or stock, priced with the discount rules), read, extend, cancel
//! and refund. A user reaches only their own orders: another's is a 404.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use booking_core::discount::{CouponCode, Customer, LineId};
use booking_core::ids::{AdmissionToken, EventId, OrderId, StockId, TicketId};
use booking_core::ports::queue::QueueError;
use booking_core::ports::store::{ItemRef, OrderRecord};
use booking_core::service::{BookingError, HoldRequest, RefundRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::extract::JsonBody;
use crate::problem::{ApiResult, Problem, internal};
use crate::routes::path_id;
use crate::routes::views::OrderView;
use crate::state::AppState;

/// The header carrying an admitted waiting-room token.
pub const QUEUE_TOKEN_HEADER: &str = "queue-token";
/// Most seats in one order.
pub const MAX_SEATS: usize = 10;
/// Most units of one stock in one order.
pub const MAX_UNITS: u32 = 10;

/// What to hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// The performance, flight or flash sale.
    #[schema(value_type = String)]
    pub sale: EventId,
    /// Seats (ticket ids from `/v1/performances/{id}/seats`), at most 10.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub seats: Vec<TicketId>,
    /// Units of counted stock.
    #[serde(default)]
    pub stock: Vec<StockUnits>,
    /// A coupon code the user claimed.
    #[serde(default)]
    pub coupon: Option<String>,
}

/// Units of one stock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockUnits {
    /// The stock (from `/v1/events/{id}/performances`).
    #[schema(value_type = String)]
    pub stock: StockId,
    /// 1 to 10.
    pub quantity: u32,
}

/// Places an order: holds every item (all or nothing) for the hold's lifetime, priced with the
/// discount rules. A sale whose event has a waiting room needs an admitted `Queue-Token`.
#[utoipa::path(post, path = "/v1/orders", tag = "orders",
    request_body = NewOrder,
    params(("Queue-Token" = Option<String>, Header, description = "an admitted waiting-room token"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key on a retry")),
    responses((status = 201, body = OrderView),
        (status = 403, body = Problem, description = "not admitted by the waiting room"),
        (status = 409, body = Problem, description = "seats taken (listed in `seats`) or sold out"),
        (status = 422, body = Problem)))]
pub async fn place(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewOrder>,
) -> ApiResult<Response> {
    if !state.catalog.has_sale(body.sale) {
        return Err(Problem::invalid_field(
            "sale",
            "no performance, flight or sale has this id",
        ));
    }
    check_items(&state, &body)?;
    let mut items: Vec<ItemRef> = body
        .seats
        .iter()
        .map(|&ticket| ItemRef::Ticket { ticket })
        .collect();
    for units in &body.stock {
        items.push(ItemRef::Stock {
            stock: units.stock,
            quantity: units.quantity,
        });
    }
    let customer = user
        .grade
        .clone()
        .map_or_else(Customer::guest, Customer::member);
    let mut request = HoldRequest::new(user.id, body.sale, items).customer(customer);
    if let Some(code) = body.coupon {
        request = request.coupon(CouponCode::new(code));
    }
    if let Some(room) = state.catalog.waiting_room_of(body.sale) {
        let token = queue_token(&headers)?;
        // The token must have joined this sale's room; any process sharing the waiting room
        // can tell which room that is.
        match state.backend.queue.room(token).await {
            Ok(joined) if joined == room => {}
            Ok(_) | Err(QueueError::UnknownToken) => {
                return Err(Problem::from(BookingError::NotAdmitted(
                    QueueError::UnknownToken,
                )));
            }
            Err(e) => return Err(internal(&e)),
        }
        request = request.admission(token);
    }
    let record = state.service_for(body.sale).hold(&request).await?;
    state.reads.changed(body.sale).await;
    tracing::Span::current().record("order", tracing::field::display(record.order.id()));
    let kind = if body.stock.is_empty() {
        "seats"
    } else {
        "stock"
    };
    crate::metrics::hold_placed(kind);
    let location = format!("/v1/orders/{}", record.order.id());
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(OrderView::from(&record)),
    )
        .into_response())
}

/// Checks the items against the catalog, so that a problem names the item's path: at most
/// [`MAX_SEATS`] seats, each a seat of the sale and listed once; each stock of the sale, listed
/// once, with 1 to [`MAX_UNITS`] units.
fn check_items(state: &AppState, body: &NewOrder) -> Result<(), Problem> {
    if body.seats.len() > MAX_SEATS {
        return Err(Problem::invalid_field(
            "seats",
            format!("at most {MAX_SEATS} seats"),
        ));
    }
    if body.seats.is_empty() && body.stock.is_empty() {
        return Err(Problem::invalid_field(
            "seats",
            "name seats or stock to hold",
        ));
    }
    let seats = state.catalog.seats_of(body.sale).unwrap_or_default();
    for (i, seat) in body.seats.iter().enumerate() {
        if !seats.iter().any(|s| s.ticket == *seat) {
            return Err(Problem::invalid_field(
                &format!("seats[{i}]"),
                "not a seat of this sale",
            ));
        }
        if body.seats[..i].contains(seat) {
            return Err(Problem::invalid_field(
                &format!("seats[{i}]"),
                "listed twice",
            ));
        }
    }
    let stock = state.catalog.stock_of(body.sale);
    for (i, units) in body.stock.iter().enumerate() {
        if !stock.iter().any(|s| s.stock == units.stock) {
            return Err(Problem::invalid_field(
                &format!("stock[{i}].stock"),
                "not a stock of this sale",
            ));
        }
        if body.stock[..i].iter().any(|u| u.stock == units.stock) {
            return Err(Problem::invalid_field(
                &format!("stock[{i}].stock"),
                "listed twice",
            ));
        }
        if !(1..=MAX_UNITS).contains(&units.quantity) {
            return Err(Problem::invalid_field(
                &format!("stock[{i}].quantity"),
                format!("1 to {MAX_UNITS}"),
            ));
        }
    }
    Ok(())
}

/// The `Queue-Token` header as a token; missing or malformed is a 403 problem.
fn queue_token(headers: &HeaderMap) -> Result<AdmissionToken, Problem> {
    headers
        .get(QUEUE_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Problem::from(BookingError::NotAdmitted(
                booking_core::ports::queue::QueueError::UnknownToken,
            ))
            .with("field", "Queue-Token")
        })
}

/// The order `id` if it is `user`'s; a 404 otherwise, as if it did not exist.
pub(crate) async fn owned_order(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
) -> Result<OrderRecord, Problem> {
    let id: OrderId = path_id(id, "order")?;
    let record = state.service.order(id).await?;
    if record.user != user.id {
        return Err(Problem::not_found("order"));
    }
    tracing::Span::current().record("order", tracing::field::display(id));
    Ok(record)
}

/// One of the user's orders.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "an order id")),
    responses((status = 200, body = OrderView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let record = owned_order(&state, &user, &id).await?;
    Ok(Json(OrderView::from(&record)))
}

/// Extends the order's hold by the hold lifetime, never past its maximum.
#[utoipa::path(post, path = "/v1/orders/{id}/extend", tag = "orders",
    params(("id" = String, Path, description = "an order id")),
    responses((status = 200, body = OrderView), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "at the maximum hold lifetime")))]
pub async fn extend(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let record = owned_order(&state, &user, &id).await?;
    let extended = state.service.extend_hold(record.order.id()).await?;
    Ok(Json(OrderView::from(&extended)))
}

/// Why an order is cancelled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    /// 1 to 200 characters.
    pub reason: String,
}

/// Cancels an unpaid order (its seats go back on sale at once) or refunds everything not
/// refunded yet of a paid one.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders",
    request_body = CancelOrder,
    params(("id" = String, Path, description = "an order id")),
    responses((status = 200, body = OrderView), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CancelOrder>,
) -> ApiResult<Json<OrderView>> {
    check_reason(&body.reason)?;
    let record = owned_order(&state, &user, &id).await?;
    let cancelled = state
        .service
        .cancel_order(record.order.id(), &body.reason)
        .await?;
    state.reads.changed(cancelled.event).await;
    Ok(Json(OrderView::from(&cancelled)))
}

/// Which lines to refund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// Lines (from the order's `lines`), each whole or some units.
    pub lines: Vec<RefundLine>,
    /// 1 to 200 characters.
    pub reason: String,
}

/// A line to refund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    /// The line's id.
    pub line: String,
    /// Units to refund; omitted: every unit not refunded yet.
    #[serde(default)]
    pub units: Option<u32>,
}

/// A settled refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundView {
    /// KRW returned by this refund: what the lines cost under the order's quote.
    pub amount: i64,
    /// The order after it.
    pub order: OrderView,
}

/// Refunds lines of a paid order, exactly what they cost under its quote; the seats go back on
/// sale.
#[utoipa::path(post, path = "/v1/orders/{id}/refunds", tag = "orders",
    request_body = NewRefund,
    params(("id" = String, Path, description = "an order id")),
    responses((status = 201, body = RefundView), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn refund(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewRefund>,
) -> ApiResult<(StatusCode, Json<RefundView>)> {
    check_reason(&body.reason)?;
    if body.lines.is_empty() {
        return Err(Problem::invalid_field("lines", "name at least one line"));
    }
    let record = owned_order(&state, &user, &id).await?;
    let mut request = RefundRequest::new(record.order.id(), body.reason);
    for (i, line) in body.lines.into_iter().enumerate() {
        let id = LineId::new(line.line);
        if record.lines.iter().all(|l| l.line != id) {
            return Err(Problem::invalid_field(
                &format!("lines[{i}].line"),
                "the order has no such line",
            ));
        }
        request = match line.units {
            Some(0) => {
                return Err(Problem::invalid_field(
                    &format!("lines[{i}].units"),
                    "at least 1",
                ));
            }
            Some(units) => request.units(id, units),
            None => request.line(id),
        };
    }
    let receipt = state.service.refund_lines(&request).await?;
    state.reads.changed(receipt.order.event).await;
    Ok((
        StatusCode::CREATED,
        Json(RefundView {
            amount: receipt.amount.minor(),
            order: OrderView::from(&receipt.order),
        }),
    ))
}

fn check_reason(reason: &str) -> Result<(), Problem> {
    if reason.trim().is_empty() || reason.chars().count() > 200 {
        return Err(Problem::invalid_field("reason", "1 to 200 characters"));
    }
    Ok(())
}
