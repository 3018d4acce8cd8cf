//! Hold and quote: a cart priced by the discount rules and its items held, all or nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BookingError, BookingService, order_step};
use crate::discount::{Cart, CartLine, CouponCode, Customer, LineId, Quote, quote};
use crate::ids::{AdmissionToken, CouponId, EventId, HoldId, OrderId, UserId};
use crate::machine::{Order, OrderCommand};
use crate::policy::expiry::ExpiryError;
use crate::ports::coupon::CouponUse;
use crate::ports::store::{Cas, ItemRef, OrderLine, OrderRecord, StoreError};

/// A buyer's request to hold items and price them.
///
/// ```
/// # use booking_core::{discount::Customer, ids::{EventId, TicketId, UserId}};
/// # use booking_core::service::{HoldRequest, ItemRef};
/// let (user, event, seat) = (UserId::new(), EventId::new(), TicketId::new());
/// let request = HoldRequest::new(user, event, vec![ItemRef::Ticket { ticket: seat }])
///     .customer(Customer::member("GOLD"));
/// assert_eq!(request.items.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HoldRequest {
    /// The order's id, chosen by the caller (`OrderId::new()`); a repeat of the request with the
    /// same id returns the order placed the first time instead of placing another. The id of
    /// an order placed for other items, another event or another buyer is
    /// [`BookingError::RequestMismatch`].
    pub order: OrderId,
    /// The buyer.
    pub user: UserId,
    /// The buyer's member grade, for pricing.
    pub customer: Customer,
    /// The event the items belong to.
    pub event: EventId,
    /// What to hold, all or nothing.
    pub items: Vec<ItemRef>,
    /// Coupon codes the buyer presents; each must be a coupon issued to them and still free.
    #[serde(default)]
    pub coupons: Vec<CouponCode>,
    /// The waiting-room token, when the service has a waiting room.
    #[serde(default)]
    pub admission: Option<AdmissionToken>,
}

impl HoldRequest {
    /// A request by `user` (a guest, no coupons, no waiting-room token) for `items` of
    /// `event`, under a new order id.
    pub fn new(user: UserId, event: EventId, items: Vec<ItemRef>) -> Self {
        HoldRequest {
            order: OrderId::new(),
            user,
            customer: Customer::guest(),
            event,
            items,
            coupons: Vec::new(),
            admission: None,
        }
    }

    /// Uses `order` as the order's id: the id a repeat of the request must carry again.
    #[must_use]
    pub fn order_id(mut self, order: OrderId) -> Self {
        self.order = order;
        self
    }

    /// Prices the order for `customer` (a member grade).
    #[must_use]
    pub fn customer(mut self, customer: Customer) -> Self {
        self.customer = customer;
        self
    }

    /// Presents a coupon code.
    #[must_use]
    pub fn coupon(mut self, code: CouponCode) -> Self {
        self.coupons.push(code);
        self
    }

    /// Carries the buyer's waiting-room token.
    #[must_use]
    pub fn admission(mut self, token: AdmissionToken) -> Self {
        self.admission = Some(token);
        self
    }

    /// Whether `record` is the order this request places: same buyer, event and items.
    fn placed(&self, record: &OrderRecord) -> bool {
        let key = |item: &ItemRef| match *item {
            ItemRef::Ticket { ticket } => (0, *ticket.as_uuid(), 1),
            ItemRef::Stock { stock, quantity } => (1, *stock.as_uuid(), quantity),
        };
        let mut asked: Vec<_> = self.items.iter().map(key).collect();
        let mut placed: Vec<_> = record.lines.iter().map(|l| key(&l.item)).collect();
        asked.sort_unstable();
        placed.sort_unstable();
        record.user == self.user && record.event == self.event && asked == placed
    }
}

/// The line id of an item in an order's quote.
fn line_id(item: &ItemRef) -> LineId {
    match item {
        ItemRef::Ticket { ticket } => LineId::new(format!("ticket:{ticket}")),
        ItemRef::Stock { stock, .. } => LineId::new(format!("stock:{stock}")),
    }
}

impl BookingService {
    /// Prices `request` as [`hold`](Self::hold) would, without holding anything.
    pub async fn quote(&self, request: &HoldRequest) -> Result<Quote, BookingError> {
        Ok(self.price(request).await?.0)
    }

    /// Prices the request: the quote, the order lines, and the coupons the quote applied.
    async fn price(
        &self,
        request: &HoldRequest,
    ) -> Result<(Quote, Vec<OrderLine>, Vec<CouponId>), BookingError> {
        if request.items.is_empty() {
            return Err(BookingError::invalid("items", "nothing to hold"));
        }
        let mut cart_lines = Vec::with_capacity(request.items.len());
        let mut lines = Vec::with_capacity(request.items.len());
        // Seats visibly taken fail before pricing; the store's atomic hold is the real check.
        let now = self.now();
        let mut taken = Vec::new();
        for item in &request.items {
            let (event, name, tags, price, quantity) = match *item {
                ItemRef::Ticket { ticket } => {
                    let l = self.store.ticket(ticket).await?;
                    if !l.ticket.is_available_at(now) {
                        taken.push(ticket);
                    }
                    (l.event, l.item, l.tags, l.price, 1)
                }
                ItemRef::Stock { stock, quantity } => {
                    let l = self.store.stock(stock).await?;
                    (l.event, l.item, l.tags, l.price, quantity)
                }
            };
            if event != request.event {
                return Err(BookingError::invalid(
                    "items",
                    format!("{item:?} is not part of event {}", request.event),
                ));
            }
            let id = line_id(item);
            cart_lines.push(CartLine::new(id.clone(), name, price, quantity).tagged(tags));
            lines.push(OrderLine {
                line: id,
                item: *item,
                refunded_units: 0,
            });
        }
        if !taken.is_empty() {
            return Err(BookingError::Unavailable { tickets: taken });
        }
        let cart = Cart::new(self.policies.currency, cart_lines)
            .map_err(|e| BookingError::invalid("items", e))?;
        let held = self.coupons_presented(request).await?;
        let codes: Vec<CouponCode> = held.keys().cloned().collect();
        let quoted = quote(
            &cart,
            &request.customer,
            self.now(),
            &codes,
            &self.policies.rules,
        )
        .map_err(|e| BookingError::invalid("items", e))?;
        let used = quoted
            .applied()
            .iter()
            .filter_map(|applied| self.policies.rules.get(&applied.rule))
            .filter_map(|rule| rule.conditions.coupon.as_ref())
            .filter_map(|code| held.get(code).copied())
            .collect();
        Ok((quoted, lines, used))
    }

    /// The presented codes, each matched to a free coupon the buyer holds.
    async fn coupons_presented(
        &self,
        request: &HoldRequest,
    ) -> Result<BTreeMap<CouponCode, CouponId>, BookingError> {
        if request.coupons.is_empty() {
            return Ok(BTreeMap::new());
        }
        let held = self.coupons.coupons_of(request.user).await?;
        let mut found = BTreeMap::new();
        for code in &request.coupons {
            let coupon =
                held.iter()
                    .find(|c| c.code == code.as_str())
                    .ok_or(BookingError::Coupon(
                        crate::ports::coupon::CouponError::NotIssued,
                    ))?;
            if coupon.state != CouponUse::Issued {
                return Err(BookingError::Coupon(
                    crate::ports::coupon::CouponError::Unavailable {
                        state: coupon.state,
                    },
                ));
            }
            found.insert(code.clone(), coupon.coupon);
        }
        Ok(found)
    }

    /// Holds every requested item for the buyer (all or nothing), prices the order with the
    /// discount rules, and places it. The quoted total is fixed on the order: it is what will
    /// be charged and what refunds are computed from. The answer's
    /// [`lines`](OrderRecord::lines) carry the line id of every item (see
    /// [`OrderRecord::line_of`]), which refunds name.
    ///
    /// Idempotent by `request.order`: repeating the request returns the order placed first.
    /// The id of an order placed for other items, another event or another buyer is refused
    /// with [`BookingError::RequestMismatch`].
    pub async fn hold(&self, request: &HoldRequest) -> Result<OrderRecord, BookingError> {
        let now = self.now();
        if let Some(queue) = &self.waiting_room {
            let token = request.admission.ok_or(BookingError::NotAdmitted(
                crate::ports::queue::QueueError::UnknownToken,
            ))?;
            queue
                .check_admitted(token, request.user, now)
                .await
                .map_err(BookingError::NotAdmitted)?;
        }
        if let Some(existing) = self.existing_order(request).await? {
            return Ok(existing);
        }
        let (quoted, lines, coupons) = match self.price(request).await {
            Ok(priced) => priced,
            // The seats may be taken by a concurrent repeat of this very request.
            Err(unavailable @ BookingError::Unavailable { .. }) => {
                return self.existing_order(request).await?.ok_or(unavailable);
            }
            Err(e) => return Err(e),
        };
        if quoted.total().is_zero() {
            return Err(BookingError::invalid(
                "items",
                "the order's total is zero: nothing to pay",
            ));
        }
        let expires_at = self
            .policies
            .expiry
            .hold_expires_at(now)
            .map_err(|_| BookingError::Inconsistent("the hold's deadline is out of range"))?;
        let record = OrderRecord {
            order: Order::new(request.order, quoted.total(), expires_at),
            user: request.user,
            event: request.event,
            hold: HoldId::new(),
            lines,
            quote: quoted,
            coupons,
            payment: None,
            refunds_started: 0,
            pending_refund: None,
            refund_answers: Vec::new(),
            created_at: now,
        };
        match self.store.place_order(&record, now).await {
            Ok(()) => Ok(record),
            // A concurrent repeat of the same request placed it first.
            Err(StoreError::AlreadyExists { .. }) => self
                .existing_order(request)
                .await?
                .ok_or_else(|| BookingError::Conflict {
                    what: "order",
                    id: request.order.to_string(),
                }),
            Err(e) => Err(e.into()),
        }
    }

    /// The order `request.order` if this request placed it already; a mismatch if another
    /// request did.
    async fn existing_order(
        &self,
        request: &HoldRequest,
    ) -> Result<Option<OrderRecord>, BookingError> {
        match self.store.order(request.order).await {
            Ok(record) if request.placed(&record) => Ok(Some(record)),
            Ok(_) => Err(BookingError::RequestMismatch {
                what: "order",
                id: request.order.to_string(),
            }),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Extends the order's hold by the policy's TTL, never past its maximum lifetime.
    pub async fn extend_hold(&self, order: OrderId) -> Result<OrderRecord, BookingError> {
        let now = self.now();
        let record = self.store.order(order).await?;
        let expires_at = self
            .policies
            .expiry
            .extend_hold(record.created_at, record.order.expires_at(), now)
            .map_err(|e| match e {
                ExpiryError::HoldExpired { .. } => BookingError::Expired,
                ExpiryError::LifetimeReached { cap } => BookingError::ExtensionLimit { cap },
                ExpiryError::OutOfRange => {
                    BookingError::Inconsistent("the hold's deadline is out of range")
                }
            })?;
        let t = order_step(
            &record,
            OrderCommand::Extend { expires_at },
            "extend the hold",
            now,
        )?;
        let next = OrderRecord {
            order: t.next,
            ..record.clone()
        };
        let change = Cas {
            expected: record.version(),
            next,
        };
        self.store.extend_hold(&change, &[t.event], now).await?;
        Ok(change.next)
    }
}
