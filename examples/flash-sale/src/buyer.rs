//! One buyer, as one task: grab a coupon, queue, and once admitted hold seats or standing
//! places, pay (or walk away), answering each error the way an application would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use booking_core::clock::Clock;
use booking_core::discount::CouponCode;
use booking_core::gateways::PointsGateway;
use booking_core::ids::{AdmissionToken, OrderId, TicketId};
use booking_core::memory::{Fault, GatewayOp};
use booking_core::ports::coupon::CouponError;
use booking_core::ports::queue::QueueStatus;
use booking_core::ports::store::{OrderRecord, TicketPage};
use booking_core::ports::wallet::LedgerRef;
use booking_core::service::{BookingError, Confirmation, HoldRequest, ItemRef, PaymentIntent};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::plan::{Leaves, Method, Plan};
use crate::world::{COUPON_CODE, World, krw};

/// Holds tried before a buyer gives up on seats others keep taking first.
const HOLD_ATTEMPTS: u32 = 3;

/// Faults scripted on the card gateway during the sale.
#[derive(Debug, Default)]
pub(crate) struct FaultScript {
    /// Timeouts after charging still to script.
    pub(crate) timeouts_left: AtomicU32,
    /// Outages still to script.
    pub(crate) outages_left: AtomicU32,
    pub(crate) transient: AtomicU32,
    pub(crate) rejections: AtomicU32,
    pub(crate) timeouts: AtomicU32,
}

/// How a buyer's visit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    Paid,
    /// The gateway's answer was lost; reconciliation settles it.
    PaymentUnknown,
    /// Card declined or points short; the order was cancelled.
    Rejected,
    /// The gateway kept failing; the order was cancelled.
    GatewayDown,
    /// The hold lapsed and the seats went to someone else before the payment landed.
    SeatsLost,
    Expired,
    SoldOut,
    LeftAtHold,
    LeftAtWindow,
    NotAdmitted,
    /// Still in the gateway's window; confirms after the hold lapsed.
    Late,
    /// An error no buyer should see: printed, and an invariant fails.
    Unexpected(String),
}

/// What a buyer did, for the summary and the invariant checks.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) plan: Plan,
    pub(crate) orders: Vec<OrderId>,
    pub(crate) intents: Vec<PaymentIntent>,
    pub(crate) end: End,
    pub(crate) hold_conflicts: u32,
    /// For a double click: whether both confirms answered alike.
    pub(crate) double_click_agreed: Option<bool>,
    /// A late buyer's confirmation, sent by the driver once sale time has passed.
    pub(crate) late: Option<Confirmation>,
}

/// A buyer in the waiting room.
#[derive(Debug)]
pub(crate) struct Buyer {
    pub(crate) plan: Plan,
    token: AdmissionToken,
    coupon: Option<CouponCode>,
}

impl Buyer {
    /// The sale opens: top up points, try for a coupon, join the waiting room.
    pub(crate) async fn arrive(plan: Plan, world: World) -> Result<Buyer, String> {
        let now = world.clock.now();
        if plan.points > 0 {
            let reference = LedgerRef::new(format!("topup:{}", plan.user)).map_err(text)?;
            let amount = krw(plan.points).map_err(text)?;
            world
                .wallet
                .credit(plan.user, amount, &reference, now)
                .await
                .map_err(text)?;
        }
        let mut coupon = None;
        if plan.wants_coupon {
            match world.coupons.issue(world.campaign, plan.user, now).await {
                Ok(_) => coupon = Some(CouponCode::new(COUPON_CODE)),
                Err(CouponError::Exhausted) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let entry = world
            .queue
            .join(world.event, plan.user, now)
            .await
            .map_err(text)?;
        Ok(Buyer {
            plan,
            token: entry.token,
            coupon,
        })
    }

    /// Admitted (or not): shop, and say how it ended.
    pub(crate) async fn shop(self, world: World, script: Arc<FaultScript>) -> Outcome {
        let mut out = Outcome {
            plan: self.plan.clone(),
            orders: Vec::new(),
            intents: Vec::new(),
            end: End::NotAdmitted,
            hold_conflicts: 0,
            double_click_agreed: None,
            late: None,
        };
        out.end = match self.visit(&world, &script, &mut out).await {
            Ok(end) => end,
            Err(e) => End::Unexpected(e.to_string()),
        };
        out
    }

    async fn visit(
        &self,
        world: &World,
        script: &FaultScript,
        out: &mut Outcome,
    ) -> Result<End, BookingError> {
        let now = world.clock.now();
        match world.queue.status(self.token, now).await {
            Ok(QueueStatus::Admitted { .. }) => {}
            _ => return Ok(End::NotAdmitted),
        }
        let Some(order) = self.hold(world, out).await? else {
            return Ok(End::SoldOut);
        };
        let id = order.order.id();
        out.orders.push(id);
        if self.plan.leaves == Some(Leaves::AtHold) {
            return Ok(End::LeftAtHold);
        }
        let intent = world
            .service
            .start_payment(id, self.plan.method.gateway())
            .await?;
        out.intents.push(intent.clone());
        // The buyer authenticates in the gateway's window; its success redirect carries the key.
        let payment_key = match self.plan.method {
            Method::Card => world.card.open_session(&intent.order_ref, intent.amount),
            Method::Points => PointsGateway::payment_key(&intent.order_ref),
        }
        .map_err(BookingError::Gateway)?;
        if self.plan.leaves == Some(Leaves::AtWindow) {
            return Ok(End::LeftAtWindow);
        }
        let confirmation = Confirmation::new(intent.order_ref, payment_key, intent.amount);
        if self.plan.late {
            out.late = Some(confirmation);
            return Ok(End::Late);
        }
        if self.plan.method == Method::Card {
            self.script_fault(world, script);
        }
        let answer = if self.plan.double_click {
            let (service, again) = (world.service.clone(), confirmation.clone());
            let second = tokio::spawn(async move { service.confirm_payment(&again).await });
            let first = world.service.confirm_payment(&confirmation).await;
            // A panic in the second click is the sale's own bug: let it surface.
            let second = second
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            out.double_click_agreed = Some(alike(&first, &second));
            first
        } else {
            world.service.confirm_payment(&confirmation).await
        };
        settle(world, id, answer).await
    }

    /// Holds standing places, or picks free seats as a seat map would show them and holds
    /// them (another buyer may take them first, so try a few times). `None`: sold out.
    async fn hold(
        &self,
        world: &World,
        out: &mut Outcome,
    ) -> Result<Option<OrderRecord>, BookingError> {
        if self.plan.standing {
            let places = ItemRef::Stock {
                stock: world.standing,
                quantity: self.plan.seats,
            };
            return match world.service.hold(&self.request(world, vec![places])).await {
                Ok(order) => Ok(Some(order)),
                Err(BookingError::SoldOut { .. }) => Ok(None),
                Err(e) => Err(e),
            };
        }
        let mut rng = SmallRng::seed_from_u64(self.plan.seat_seed);
        for _ in 0..HOLD_ATTEMPTS {
            let seats = free_seats(world, &mut rng, self.plan.seats).await?;
            if seats.is_empty() {
                return Ok(None);
            }
            let items = seats
                .into_iter()
                .map(|ticket| ItemRef::Ticket { ticket })
                .collect();
            match world.service.hold(&self.request(world, items)).await {
                Ok(order) => return Ok(Some(order)),
                Err(BookingError::Unavailable { .. }) => {
                    out.hold_conflicts = out.hold_conflicts.saturating_add(1);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// This buyer's hold of `items`, with their coupon and admission.
    fn request(&self, world: &World, items: Vec<ItemRef>) -> HoldRequest {
        let request = HoldRequest::new(self.plan.user, world.event, items)
            .customer(self.plan.customer.clone())
            .admission(self.token);
        match &self.coupon {
            Some(code) => request.coupon(code.clone()),
            None => request,
        }
    }

    /// Scripts this buyer's fault on the card gateway; whichever confirm comes next plays it.
    fn script_fault(&self, world: &World, script: &FaultScript) {
        let takes_timeout = self.plan.may_time_out
            && script
                .timeouts_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        let fault = if takes_timeout {
            Some(Fault::TimeoutAfterProcessing)
        } else {
            self.plan.fault.clone()
        };
        let counter = match &fault {
            Some(Fault::Transient(_)) => &script.transient,
            Some(Fault::Reject(_)) => &script.rejections,
            Some(_) => &script.timeouts,
            None => return,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        if let Some(fault) = fault {
            world.card.fail_next(GatewayOp::Confirm, fault);
        }
    }
}

/// What the buyer's application does with the confirm's answer: a refused payment cancels the
/// order at once, so its seats go back on sale without waiting for the sweeper.
pub(crate) async fn settle(
    world: &World,
    id: OrderId,
    answer: Result<OrderRecord, BookingError>,
) -> Result<End, BookingError> {
    match answer {
        Ok(_) => Ok(End::Paid),
        Err(BookingError::PaymentRejected { .. }) => {
            world.service.cancel_order(id, "payment rejected").await?;
            Ok(End::Rejected)
        }
        Err(BookingError::GatewayUnavailable { .. }) => {
            world
                .service
                .cancel_order(id, "gateway unavailable")
                .await?;
            Ok(End::GatewayDown)
        }
        Err(BookingError::PaymentUnknown) => Ok(End::PaymentUnknown),
        Err(BookingError::SeatsLost { .. }) => Ok(End::SeatsLost),
        Err(BookingError::Expired) => Ok(End::Expired),
        Err(e) => Err(e),
    }
}

/// Up to `want` seats free now: the event's seat map read as a seat-map page reads it (one
/// page of listings, or a few for a large hall), scanned from a random place.
async fn free_seats(
    world: &World,
    rng: &mut SmallRng,
    want: u32,
) -> Result<Vec<TicketId>, BookingError> {
    let now = world.clock.now();
    let mut map = Vec::new();
    let mut page = Some(TicketPage::first(TicketPage::MAX_LIMIT));
    while let Some(current) = page {
        let listed = world.store.tickets_of_event(world.event, &current).await?;
        page = current.next(&listed);
        map.extend(
            listed
                .into_iter()
                .filter(|l| l.ticket.is_available_at(now))
                .map(|l| l.ticket.id()),
        );
    }
    let start = rng.random_range(0..map.len().max(1));
    let want = usize::try_from(want).unwrap_or(usize::MAX);
    Ok(map
        .iter()
        .cycle()
        .skip(start)
        .take(map.len().min(want))
        .copied()
        .collect())
}

/// Whether two confirms of one payment answered alike: the same order, or errors of one kind.
fn alike(a: &Result<OrderRecord, BookingError>, b: &Result<OrderRecord, BookingError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => std::mem::discriminant(a) == std::mem::discriminant(b),
        _ => false,
    }
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}
