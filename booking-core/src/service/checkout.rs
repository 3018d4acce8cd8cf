//! Hold, quote, start payment, confirm: from a cart to a paid order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BookingError, BookingService, order_step, payment_step};
use crate::clock::Timestamp;
use crate::discount::{Cart, CartLine, CouponCode, Customer, LineId, Quote, quote};
use crate::ids::{AdmissionToken, CouponId, EventId, HoldId, OrderId, PaymentId, UserId};
use crate::machine::{
    Kind, Order, OrderCommand, OrderStateKind, Payment, PaymentCommand, PaymentState,
};
use crate::money::Money;
use crate::policy::expiry::ExpiryError;
use crate::policy::retry::{GaveUp, RetryDecision};
use crate::ports::coupon::CouponUse;
use crate::ports::gateway::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayIdempotencyKey, GatewayOrderId, PaymentKey,
};
use crate::ports::store::{
    Cas, FailureCause, ItemRef, MarkPaid, OrderLine, OrderRecord, PaymentFailure, PaymentRecord,
    StoreError,
};

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

/// What the buyer's client needs to open the gateway's payment window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentIntent {
    /// Our order.
    pub order: OrderId,
    /// Our payment attempt.
    pub payment: PaymentId,
    /// The order id to give the gateway (6-64 of `[A-Za-z0-9_-]`).
    pub order_ref: GatewayOrderId,
    /// The amount to authenticate: the order's quoted total.
    pub amount: Money,
    /// A short name for the order, shown by the gateway.
    pub order_name: String,
    /// The gateway to use.
    pub gateway: String,
    /// The payment must be confirmed before this instant.
    pub confirm_by: Timestamp,
}

/// The buyer's authenticated payment, as the gateway's success redirect reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Confirmation {
    /// The order id the gateway saw.
    pub order_ref: GatewayOrderId,
    /// The gateway's payment key.
    pub payment_key: PaymentKey,
    /// The amount the redirect claims: checked against the stored order, never trusted.
    pub amount: Money,
}

impl Confirmation {
    /// What the gateway's success redirect carried: its order id, its payment key and the
    /// amount it claims (checked against the stored order, never trusted).
    pub fn new(order_ref: GatewayOrderId, payment_key: PaymentKey, amount: Money) -> Self {
        Confirmation {
            order_ref,
            payment_key,
            amount,
        }
    }
}

/// The line id of an item in an order's quote.
fn line_id(item: &ItemRef) -> LineId {
    match item {
        ItemRef::Ticket { ticket } => LineId::new(format!("ticket:{ticket}")),
        ItemRef::Stock { stock, .. } => LineId::new(format!("stock:{stock}")),
    }
}

/// What the gateway's answer means for the retry loop.
pub(super) fn classify(error: &GatewayError) -> RetryDecision {
    match error {
        GatewayError::Retryable {
            retry_after: Some(wait),
            ..
        } => RetryDecision::RetryAfter(*wait),
        GatewayError::Retryable {
            retry_after: None, ..
        } => RetryDecision::Retry,
        // Money may have moved: only a lookup can tell.
        GatewayError::Unknown { .. } | GatewayError::AlreadyProcessed { .. } => {
            RetryDecision::Reconcile
        }
        GatewayError::Rejected { .. }
        | GatewayError::NotFound
        | GatewayError::InvalidRequest(_) => RetryDecision::Stop,
    }
}

/// What a confirm keeps of the gateway's failure, and the error it reports now; a repeated
/// confirm of the failed payment answers [`failed_confirm`] of what was kept.
fn confirm_failure(error: GatewayError, reason: GaveUp) -> (PaymentFailure, BookingError) {
    let failure = |cause, code: &str, message: String| PaymentFailure {
        cause,
        code: code.to_owned(),
        message,
    };
    let kept = match &error {
        GatewayError::Rejected { code, message } => {
            failure(FailureCause::Rejected, code, message.clone())
        }
        GatewayError::Retryable { code, message, .. } => failure(
            FailureCause::Unavailable,
            code,
            format!("{message} ({reason})"),
        ),
        GatewayError::NotFound => failure(FailureCause::Invalid, "NOT_FOUND", error.to_string()),
        other => failure(FailureCause::Invalid, "INVALID_REQUEST", other.to_string()),
    };
    let answer = match error {
        GatewayError::Rejected { .. } | GatewayError::Retryable { .. } => failed_confirm(&kept),
        other => BookingError::Gateway(other),
    };
    (kept, answer)
}

/// The answer to a confirm of a payment that failed with `failure`.
fn failed_confirm(failure: &PaymentFailure) -> BookingError {
    let PaymentFailure {
        cause,
        code,
        message,
    } = failure.clone();
    match cause {
        FailureCause::Rejected => BookingError::PaymentRejected { code, message },
        FailureCause::Unavailable => BookingError::GatewayUnavailable { code, message },
        FailureCause::Invalid if code == "NOT_FOUND" => {
            BookingError::Gateway(GatewayError::NotFound)
        }
        FailureCause::Invalid => BookingError::Gateway(GatewayError::InvalidRequest(message)),
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

    /// Starts paying for a held order through `gateway`: reserves its coupons, records the
    /// payment attempt, and returns what the buyer's client needs to open the gateway's window.
    ///
    /// Idempotent by nature: for an order already awaiting this payment, returns the same intent,
    /// also to a start racing the first (a double click), which leaves its coupons reserved.
    pub async fn start_payment(
        &self,
        order: OrderId,
        gateway: &str,
    ) -> Result<PaymentIntent, BookingError> {
        let now = self.now();
        let gateway = self.gateway(gateway)?.name();
        let record = self.store.order(order).await?;
        if let (OrderStateKind::AwaitingPayment, Some(payment)) =
            (record.order.state().kind(), record.payment)
        {
            let existing = self.store.payment(payment).await?;
            match existing.payment.state() {
                PaymentState::InProgress if existing.gateway == gateway => {
                    return Ok(intent(&record, &existing));
                }
                // The buyer switched gateways before authenticating: abandon the open attempt.
                PaymentState::InProgress | PaymentState::Ready => {
                    self.set_payment(&existing, PaymentCommand::Abort, now)
                        .await?;
                }
                // The last attempt is over without taking money: a new one may start.
                PaymentState::Failed | PaymentState::Expired | PaymentState::Aborted => {}
                PaymentState::Confirming | PaymentState::Unknown => {
                    return Err(BookingError::InProgress);
                }
                state => {
                    return Err(BookingError::InvalidState {
                        what: "payment",
                        state: state.name(),
                        action: "start another payment",
                    });
                }
            }
        }
        if record.order.expires_at() <= now {
            return Err(BookingError::Expired);
        }
        let payment_id = PaymentId::new();
        let t = order_step(
            &record,
            OrderCommand::StartPayment {
                payment: payment_id,
            },
            "start a payment",
            now,
        )?;
        let confirm_by = self
            .policies
            .expiry
            .confirm_deadline(now)
            .map_err(|_| BookingError::Inconsistent("the confirm deadline is out of range"))?
            .min(record.order.expires_at().max(now));
        let started = Payment::new(payment_id, order, record.order.total(), confirm_by)
            .apply(PaymentCommand::Start, now)
            .map_err(|e| BookingError::Refused(e.reason))?;
        let payment = PaymentRecord {
            payment: started.next,
            gateway: gateway.to_owned(),
            order_ref: GatewayOrderId::for_payment(payment_id),
            payment_key: None,
            customer: record.user,
            updated_at: now,
            failure: None,
        };
        self.reserve_coupons(&record).await?;
        let next = OrderRecord {
            order: t.next,
            payment: Some(payment_id),
            ..record.clone()
        };
        let change = Cas {
            expected: record.version(),
            next,
        };
        if let Err(e) = self
            .store
            .start_payment(&change, &payment, &[t.event, started.event], now)
            .await
        {
            return self.start_failed(&record, gateway, e).await;
        }
        Ok(intent(&change.next, &payment))
    }

    /// The intent of the order's payment if one is in progress on `gateway`.
    async fn intent_in_progress(
        &self,
        record: &OrderRecord,
        gateway: &str,
    ) -> Result<Option<PaymentIntent>, BookingError> {
        if let (OrderStateKind::AwaitingPayment, Some(payment)) =
            (record.order.state().kind(), record.payment)
        {
            let existing = self.store.payment(payment).await?;
            if existing.payment.state() == PaymentState::InProgress && existing.gateway == gateway {
                return Ok(Some(intent(record, &existing)));
            }
        }
        Ok(None)
    }

    /// A start whose write failed. If a concurrent start of the same order (a double click)
    /// won, its payment now owns the coupons both reserved: answer with its intent and leave
    /// them reserved. Otherwise give back what this call reserved.
    async fn start_failed(
        &self,
        record: &OrderRecord,
        gateway: &str,
        error: StoreError,
    ) -> Result<PaymentIntent, BookingError> {
        match self.store.order(record.order.id()).await {
            Ok(current) if current.order.state().kind() == OrderStateKind::AwaitingPayment => {
                match self.intent_in_progress(&current, gateway).await? {
                    Some(started) => Ok(started),
                    None => Err(error.into()),
                }
            }
            _ => {
                self.release_coupons(record).await;
                Err(error.into())
            }
        }
    }

    async fn reserve_coupons(&self, record: &OrderRecord) -> Result<(), BookingError> {
        for (i, coupon) in record.coupons.iter().enumerate() {
            if let Err(e) = self
                .coupons
                .reserve(*coupon, record.user, record.order.id())
                .await
            {
                for done in record.coupons.iter().take(i) {
                    // Best effort: a coupon left reserved is released by the next sweep.
                    let _ = self
                        .coupons
                        .release(*done, record.user, record.order.id())
                        .await;
                }
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Gives the order's reserved coupons back. Failures are left for the sweeper (a release is
    /// idempotent), so they are not reported.
    pub(super) async fn release_coupons(&self, record: &OrderRecord) {
        for coupon in &record.coupons {
            let _ = self
                .coupons
                .release(*coupon, record.user, record.order.id())
                .await;
        }
    }

    /// Confirms the buyer's authenticated payment: checks the amount against the stored order,
    /// moves the payment to confirming (from here no sweeper can expire it), asks the gateway
    /// under the retry policy with one idempotency key per payment, and marks the order paid
    /// with its items sold, atomically.
    ///
    /// A duplicate (double click) waits for the first and answers the same, also when the
    /// gateway declined the payment (the failure is kept on the payment). If the hold lapsed
    /// and another buyer took items meanwhile, the charge is cancelled at the gateway and
    /// [`BookingError::SeatsLost`] returned. An unknown gateway outcome leaves the payment for
    /// [`reconcile`](Self::reconcile) and returns [`BookingError::PaymentUnknown`].
    pub async fn confirm_payment(
        &self,
        confirmation: &Confirmation,
    ) -> Result<OrderRecord, BookingError> {
        // Time spent waiting for a concurrent confirm of the same payment (a double click).
        let mut waited = std::time::Duration::ZERO;
        loop {
            let payment = self
                .store
                .payment_by_order_ref(&confirmation.order_ref)
                .await?;
            if confirmation.amount != payment.payment.amount() {
                return Err(BookingError::AmountMismatch {
                    expected: payment.payment.amount(),
                    given: confirmation.amount,
                });
            }
            // A repeat of a declined confirm (a double click) answers as the first did.
            if let (PaymentState::Failed, Some(failure)) =
                (payment.payment.state(), &payment.failure)
            {
                return Err(failed_confirm(failure));
            }
            match payment.payment.state() {
                PaymentState::InProgress => {}
                PaymentState::Confirming => {
                    self.wait_for_duplicate(&mut waited).await?;
                    continue;
                }
                PaymentState::Done | PaymentState::PartiallyCanceled | PaymentState::Canceled => {
                    if payment.payment_key.as_ref() != Some(&confirmation.payment_key) {
                        return Err(BookingError::InvalidState {
                            what: "payment",
                            state: payment.payment.state().name(),
                            action: "confirm with another payment key",
                        });
                    }
                    let order = self.store.order(payment.payment.order()).await?;
                    return if order.order.state().kind() == OrderStateKind::Cancelled {
                        Err(BookingError::SeatsLost {
                            tickets: Vec::new(),
                            stock: Vec::new(),
                        })
                    } else {
                        Ok(order)
                    };
                }
                PaymentState::Unknown => return Err(BookingError::PaymentUnknown),
                PaymentState::Expired | PaymentState::Aborted => return Err(BookingError::Expired),
                state @ (PaymentState::Ready | PaymentState::Failed) => {
                    return Err(BookingError::InvalidState {
                        what: "payment",
                        state: state.name(),
                        action: "confirm",
                    });
                }
            }
            let now = self.now();
            let t = payment_step(
                &payment,
                PaymentCommand::BeginConfirm {
                    amount: confirmation.amount,
                },
                "confirm",
                now,
            )?;
            let confirming = PaymentRecord {
                payment: t.next,
                payment_key: Some(confirmation.payment_key.clone()),
                updated_at: now,
                ..payment.clone()
            };
            let change = Cas {
                expected: payment.version(),
                next: confirming,
            };
            match self.store.update_payment(&change, &[t.event], now).await {
                Ok(()) => return self.confirm_at_gateway(change.next).await,
                // Someone else moved it first (a duplicate confirm, or the sweeper): look again.
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits a little for a concurrent duplicate (a confirm of the same payment, a send of the
    /// same refund) to finish, up to the policy's limit. Counts the pauses it makes rather than
    /// reading the clock, so the limit holds whatever clock and sleeper the service runs on.
    pub(super) async fn wait_for_duplicate(
        &self,
        waited: &mut std::time::Duration,
    ) -> Result<(), BookingError> {
        const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
        if *waited >= self.policies.duplicate_wait {
            return Err(BookingError::InProgress);
        }
        self.sleeper.sleep(PAUSE).await;
        *waited = waited.saturating_add(PAUSE);
        Ok(())
    }

    /// Calls the gateway for a payment now confirming, and settles the result.
    async fn confirm_at_gateway(
        &self,
        payment: PaymentRecord,
    ) -> Result<OrderRecord, BookingError> {
        let gateway = self.gateway(&payment.gateway)?;
        let payment_key = payment
            .payment_key
            .clone()
            .ok_or(BookingError::Inconsistent(
                "a confirming payment has no payment key",
            ))?;
        let request = ConfirmRequest {
            payment_key,
            order_ref: payment.order_ref.clone(),
            amount: payment.payment.amount(),
            customer: payment.customer,
            idempotency_key: GatewayIdempotencyKey::new(format!(
                "confirm:{}",
                payment.payment.id()
            ))
            .map_err(|_| BookingError::Inconsistent("a confirm key is not a valid key"))?,
        };
        let outcome = self
            .retrier
            .retry(&classify, |_| gateway.confirm(&request))
            .await;
        let now = self.now();
        match outcome {
            Ok(_) => self.settle_paid(payment, now).await,
            Err(failure) if failure.needs_reconcile() => {
                self.set_payment(&payment, PaymentCommand::MarkUnknown, now)
                    .await?;
                Err(BookingError::PaymentUnknown)
            }
            Err(failure) => {
                let (kept, answer) = confirm_failure(failure.error, failure.reason);
                let failed = PaymentRecord {
                    failure: Some(kept),
                    ..payment
                };
                self.set_payment(&failed, PaymentCommand::Fail, now).await?;
                let record = self.store.order(failed.payment.order()).await?;
                self.release_coupons(&record).await;
                Err(answer)
            }
        }
    }

    /// Applies `command` to a payment and stores it by CAS.
    pub(super) async fn set_payment(
        &self,
        payment: &PaymentRecord,
        command: PaymentCommand,
        now: Timestamp,
    ) -> Result<PaymentRecord, BookingError> {
        let t = payment_step(payment, command, "settle the payment", now)?;
        let change = Cas {
            expected: payment.version(),
            next: PaymentRecord {
                payment: t.next,
                updated_at: now,
                ..payment.clone()
            },
        };
        self.store.update_payment(&change, &[t.event], now).await?;
        Ok(change.next)
    }

    /// The gateway collected the money for a confirming (or unknown) payment: payment done,
    /// order paid and confirmed, items sold, coupons spent — or, if items were lost, the charge
    /// cancelled.
    pub(super) async fn settle_paid(
        &self,
        payment: PaymentRecord,
        now: Timestamp,
    ) -> Result<OrderRecord, BookingError> {
        let record = self.store.order(payment.payment.order()).await?;
        let approved = payment_step(&payment, PaymentCommand::Approve, "approve", now)?;
        let amount = payment.payment.amount();
        let paid = order_step(
            &record,
            OrderCommand::MarkPaid {
                payment: payment.payment.id(),
                amount,
            },
            "mark paid",
            now,
        )?;
        let confirmed = paid
            .next
            .apply(OrderCommand::Confirm, now)
            .map_err(|e| BookingError::Refused(e.reason))?;
        let step = MarkPaid {
            order: Cas {
                expected: record.version(),
                next: OrderRecord {
                    order: confirmed.next,
                    ..record.clone()
                },
            },
            payment: Cas {
                expected: payment.version(),
                next: PaymentRecord {
                    payment: approved.next,
                    updated_at: now,
                    ..payment.clone()
                },
            },
            events: vec![approved.event, paid.event, confirmed.event],
        };
        match self.store.mark_paid(&step, now).await {
            Ok(()) => {
                for coupon in &record.coupons {
                    // A coupon that fails to commit stays reserved for this paid order; the
                    // order still holds it and nobody else can use it.
                    let _ = self
                        .coupons
                        .commit(*coupon, record.user, record.order.id())
                        .await;
                }
                Ok(step.order.next)
            }
            Err(StoreError::ItemsLost { tickets, stock }) => {
                self.refund_lost(record, step.payment.next, step.events.first().cloned(), now)
                    .await?;
                Err(BookingError::SeatsLost { tickets, stock })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The buyer paid but items are gone: cancel the whole charge at the gateway, then the
    /// payment and the order, and release what the order still holds.
    pub(super) async fn refund_lost(
        &self,
        record: OrderRecord,
        approved: PaymentRecord,
        approve_event: Option<crate::machine::DomainEvent>,
        now: Timestamp,
    ) -> Result<(), BookingError> {
        let gateway = self.gateway(&approved.gateway)?;
        let Some(payment_key) = approved.payment_key.clone() else {
            return Err(BookingError::Inconsistent(
                "a paid payment has no payment key",
            ));
        };
        let request = CancelRequest {
            payment_key,
            amount: None,
            reason: "items sold out while the payment was confirmed".to_owned(),
            idempotency_key: GatewayIdempotencyKey::new(format!("lost:{}", approved.payment.id()))
                .map_err(|_| BookingError::Inconsistent("a cancel key is not a valid key"))?,
        };
        // The payment as stored is still confirming (or unknown); `approved` is its next step.
        let stored = self.store.payment(approved.payment.id()).await?;
        if self
            .retrier
            .retry(&classify, |_| gateway.cancel(&request))
            .await
            .is_err()
        {
            // Reconciliation looks the payment up, finds it charged, and comes back here.
            if stored.payment.state() == PaymentState::Confirming {
                self.set_payment(&stored, PaymentCommand::MarkUnknown, now)
                    .await?;
            }
            return Ok(());
        }
        let canceled = approved
            .payment
            .apply(
                PaymentCommand::Cancel {
                    amount: approved.payment.amount(),
                },
                now,
            )
            .map_err(|e| BookingError::Refused(e.reason))?;
        let events: Vec<_> = approve_event.into_iter().chain([canceled.event]).collect();
        let change = Cas {
            expected: stored.version(),
            next: PaymentRecord {
                payment: canceled.next,
                updated_at: now,
                ..approved
            },
        };
        self.store.update_payment(&change, &events, now).await?;
        let cancelling = order_step(&record, OrderCommand::Cancel, "cancel", now)?;
        let cancelled = cancelling
            .next
            .apply(OrderCommand::SettleCancel, now)
            .map_err(|e| BookingError::Refused(e.reason))?;
        let order_change = Cas {
            expected: record.version(),
            next: OrderRecord {
                order: cancelled.next,
                ..record.clone()
            },
        };
        self.store
            .cancel_unpaid(&order_change, &[cancelling.event, cancelled.event], now)
            .await?;
        self.release_coupons(&record).await;
        Ok(())
    }
}

fn intent(record: &OrderRecord, payment: &PaymentRecord) -> PaymentIntent {
    let units = record
        .lines
        .iter()
        .fold(0_u32, |n, l| n.saturating_add(l.units()));
    let order_name = if units == 1 {
        "1 item".to_owned()
    } else {
        format!("{units} items")
    };
    PaymentIntent {
        order: record.order.id(),
        payment: payment.payment.id(),
        order_ref: payment.order_ref.clone(),
        amount: payment.payment.amount(),
        order_name,
        gateway: payment.gateway.clone(),
        confirm_by: payment.payment.expires_at(),
    }
}
