//! The program `docs/guide.md` walks through, compiled and run. The guide quotes it: a test
//! below fails if a code block of the guide is not found verbatim in this file.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use booking_core::clock::{Clock, SystemClock};
use booking_core::discount::{Benefit, CouponCode, Customer, QuotePolicy, Rule, RuleSet};
use booking_core::gateways::PointsGateway;
use booking_core::ids::{AdmissionToken, CouponId, EventId, OrderId, TicketId, UserId};
use booking_core::machine::{OrderStateKind, Ticket};
use booking_core::memory::{
    FakeGateway, MemoryAdmissionQueue, MemoryBookingStore, MemoryCouponStore, MemoryWalletStore,
};
use booking_core::money::{BasisPoints, Currency, Money};
use booking_core::policy::TokioSleeper;
use booking_core::policy::expiry::{ExpiryPolicy, ExpiryPolicyConfig};
use booking_core::ports::coupon::{CouponCampaign, CouponStore};
use booking_core::ports::gateway::{GatewayOrderId, PaymentKey};
use booking_core::ports::queue::{AdmissionQueue, QueueStatus};
use booking_core::ports::store::{BookingStore, OrderRecord, TicketListing};
use booking_core::ports::wallet::{LedgerRef, WalletStore};
use booking_core::service::{
    BookingError, BookingService, Confirmation, HoldRequest, ItemRef, PaymentIntent, Policies,
    Ports, RefundRequest,
};

type BoxError = Box<dyn Error + Send + Sync>;

/// The backend: in memory here; a database-backed store in production.
struct Backend {
    store: Arc<MemoryBookingStore>,
    coupons: Arc<MemoryCouponStore>,
    wallet: Arc<MemoryWalletStore>,
    queue: Arc<MemoryAdmissionQueue>,
    card: FakeGateway,
}

// --- 1. inventory ---
async fn list_seats(
    store: &dyn BookingStore,
    event: EventId,
    count: usize,
) -> Result<Vec<TicketId>, BoxError> {
    let price = Money::new(50_000, Currency::KRW)?;
    let listings: Vec<TicketListing> = (0..count)
        .map(|_| TicketListing::new(Ticket::new(TicketId::new()), event, "R", price).tagged(["R"]))
        .collect();
    store.add_tickets(&listings).await?;
    Ok(listings.iter().map(|l| l.ticket.id()).collect())
}

// --- 2. ports and policies ---
fn build_service(backend: &Backend) -> Result<BookingService, BoxError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let points = PointsGateway::new(backend.wallet.clone(), clock.clone());
    let ports = Ports::new(
        backend.store.clone(),
        backend.coupons.clone(),
        clock,
        Arc::new(TokioSleeper),
    )
    // Chosen per payment by name: "fake" and "points".
    .gateway(Arc::new(backend.card.clone()))
    .gateway(Arc::new(points))
    .waiting_room(backend.queue.clone());
    let rules = RuleSet::new(
        vec![
            Rule::new(
                "gold-10",
                Benefit::Percentage {
                    percent: BasisPoints::new(1_000)?,
                },
            )
            .grades(["GOLD"]),
            Rule::new(
                "welcome",
                Benefit::AmountOff {
                    amount: Money::new(5_000, Currency::KRW)?,
                },
            )
            .coupon("WELCOME5K"),
        ],
        QuotePolicy::default(),
    )?;
    // Defaults: 10-minute holds, the payment retry preset (3 attempts, 2 s then 4 s apart).
    let mut policies = Policies::new(Currency::KRW, rules);
    policies.expiry = ExpiryPolicy::new(ExpiryPolicyConfig {
        hold_ttl: Duration::from_secs(5 * 60),
        ..ExpiryPolicyConfig::default()
    })?;
    Ok(BookingService::new(ports, policies))
}

// --- 3. waiting room ---
async fn join_queue(
    queue: &dyn AdmissionQueue,
    event: EventId,
    user: UserId,
) -> Result<AdmissionToken, BoxError> {
    let entry = queue.join(event, user, SystemClock.now()).await?;
    Ok(entry.token)
}

async fn admit_next_cycle(queue: &dyn AdmissionQueue, event: EventId) -> Result<usize, BoxError> {
    let ttl = Duration::from_secs(5 * 60);
    let admitted = queue.admit_next(event, 50, ttl, SystemClock.now()).await?;
    Ok(admitted.len())
}

// --- 4. hold ---
fn hold_request(
    event: EventId,
    user: UserId,
    seats: &[TicketId],
    coupon: Option<CouponCode>,
    admission: AdmissionToken,
) -> HoldRequest {
    let items = seats
        .iter()
        .map(|&ticket| ItemRef::Ticket { ticket })
        .collect();
    // `new` picks the order id: create the request once when checkout opens and resend the
    // same request on retry.
    let request = HoldRequest::new(user, event, items)
        .customer(Customer::member("GOLD"))
        .admission(admission);
    match coupon {
        Some(code) => request.coupon(code),
        None => request,
    }
}

// --- 5. start payment ---
async fn checkout(
    service: &BookingService,
    request: &HoldRequest,
    gateway: &str,
) -> Result<PaymentIntent, BookingError> {
    let order = service.hold(request).await?;
    service.start_payment(order.order.id(), gateway).await
}

// --- 6. the gateway's redirect ---
async fn on_success_redirect(
    service: &BookingService,
    order_id: &str,
    payment_key: &str,
    amount: i64,
) -> Result<OrderRecord, BookingError> {
    let confirmation = Confirmation::new(
        GatewayOrderId::new(order_id).map_err(BookingError::Gateway)?,
        PaymentKey::new(payment_key).map_err(BookingError::Gateway)?,
        Money::new(amount, Currency::KRW).map_err(|e| BookingError::invalid("amount", e))?,
    );
    service.confirm_payment(&confirmation).await
}

// --- 7. refunds ---
async fn refund_first_seat(
    service: &BookingService,
    order: OrderId,
) -> Result<Money, BookingError> {
    let record = service.order(order).await?;
    let Some(line) = record.lines.first() else {
        return Err(BookingError::invalid("order", "the order has no line"));
    };
    let request = RefundRequest::new(order, "guest cannot attend")
        .line(line.line.clone())
        // The same id on a repeat (a double click) gets this refund's answer.
        .request_id(format!("refund-first-seat:{order}"));
    Ok(service.refund_lines(&request).await?.amount)
}

// --- 8. upkeep ---
fn spawn_upkeep(service: BookingService) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = service.policies().expiry.config().sweep_interval;
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            // Both are safe on many nodes at once; a failed run is simply tried next tick.
            if let Err(e) = service.sweep().await {
                eprintln!("sweep failed: {e}");
            }
            if let Err(e) = service.reconcile(100).await {
                eprintln!("reconcile failed: {e}");
            }
        }
    })
}

// --- 9. coupons ---
async fn open_coupon_campaign(coupons: &dyn CouponStore) -> Result<CouponId, BoxError> {
    let campaign = CouponCampaign {
        id: CouponId::new(),
        code: "WELCOME5K".to_owned(),
        budget: 100,
        issue_until: None,
    };
    coupons.create_campaign(&campaign).await?;
    Ok(campaign.id)
}

async fn grab_coupon(
    coupons: &dyn CouponStore,
    campaign: CouponId,
    user: UserId,
) -> Result<CouponCode, BoxError> {
    // Once per user: a second call returns the coupon already issued.
    let issued = coupons.issue(campaign, user, SystemClock.now()).await?;
    Ok(CouponCode::new(issued.coupon().code.as_str()))
}

// --- 10. points ---
async fn top_up(wallet: &dyn WalletStore, user: UserId, won: i64) -> Result<(), BoxError> {
    let reference = LedgerRef::new(format!("topup:{user}"))?;
    let amount = Money::new(won, Currency::KRW)?;
    wallet
        .credit(user, amount, &reference, SystemClock.now())
        .await?;
    Ok(())
}

async fn pay_with_points(
    service: &BookingService,
    intent: &PaymentIntent,
) -> Result<OrderRecord, BookingError> {
    let payment_key =
        PointsGateway::payment_key(&intent.order_ref).map_err(BookingError::Gateway)?;
    let confirmation = Confirmation::new(intent.order_ref.clone(), payment_key, intent.amount);
    service.confirm_payment(&confirmation).await
}

// --- 11. errors ---
/// An HTTP status (as the error documents it) and what the client should do next.
fn respond(error: &BookingError) -> (u16, &'static str) {
    let next = match error {
        BookingError::Unavailable { .. } | BookingError::SoldOut { .. } => {
            "taken: offer other seats"
        }
        BookingError::NotAdmitted(_) => "not admitted: back to the waiting room",
        BookingError::Coupon(_) => "coupon not usable: drop it or pick another",
        BookingError::AmountMismatch { .. } => "amount differs from the order: nothing charged",
        BookingError::PaymentRejected { .. } => "declined: pay again, another card or method",
        BookingError::GatewayUnavailable { .. } => "gateway down: nothing charged, try later",
        BookingError::PaymentUnknown => "checking with the gateway: do not pay again",
        BookingError::InProgress => "already being processed: ask again shortly",
        BookingError::Expired => "the hold expired: start over",
        BookingError::SeatsLost { .. } => "seats gone after the hold lapsed: payment returned",
        BookingError::Conflict { .. } => "changed concurrently: read again and retry",
        BookingError::NotFound { .. } => "no such order",
        BookingError::Invalid { .. } | BookingError::RequestMismatch { .. } => {
            "fix the request: the error names the field"
        }
        BookingError::InvalidState { .. }
        | BookingError::Refused(_)
        | BookingError::ExtensionLimit { .. } => "not allowed now: show the order as it is",
        // Store and gateway failures, and variants added later: safe to call again.
        _ => "try again",
    };
    (error.http_status(), next)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guide_runs() -> Result<(), BoxError> {
    let backend = Backend {
        store: Arc::new(MemoryBookingStore::new()),
        coupons: Arc::new(MemoryCouponStore::new()),
        wallet: Arc::new(MemoryWalletStore::new()),
        queue: Arc::new(MemoryAdmissionQueue::new()),
        card: FakeGateway::new(Arc::new(SystemClock)),
    };
    let event = EventId::new();
    let seats = list_seats(backend.store.as_ref(), event, 4).await?;
    let service = build_service(&backend)?;
    let upkeep = spawn_upkeep(service.clone());
    let campaign = open_coupon_campaign(backend.coupons.as_ref()).await?;

    // A card buyer with a coupon, through the waiting room.
    let alice = UserId::new();
    let coupon = grab_coupon(backend.coupons.as_ref(), campaign, alice).await?;
    let token = join_queue(backend.queue.as_ref(), event, alice).await?;
    let early = hold_request(event, alice, &seats[..2], Some(coupon.clone()), token);
    assert_eq!(respond(&service.hold(&early).await.unwrap_err()).0, 403);
    assert_eq!(admit_next_cycle(backend.queue.as_ref(), event).await?, 1);
    assert!(matches!(
        backend.queue.status(token, SystemClock.now()).await?,
        QueueStatus::Admitted { .. }
    ));
    let request = hold_request(event, alice, &seats[..2], Some(coupon), token);
    let intent = checkout(&service, &request, "fake").await?;
    // 100,000 - 10 % (gold) - 5,000 (coupon).
    assert_eq!(intent.amount, Money::new(85_000, Currency::KRW)?);
    // The buyer authenticates in the gateway's window, which redirects back with a key.
    let key = backend
        .card
        .open_session(&intent.order_ref, intent.amount)?;
    let tampered = on_success_redirect(&service, intent.order_ref.as_str(), key.as_str(), 1_000);
    assert_eq!(respond(&tampered.await.unwrap_err()).0, 422);
    let paid =
        on_success_redirect(&service, intent.order_ref.as_str(), key.as_str(), 85_000).await?;
    assert_eq!(paid.order.state().kind(), OrderStateKind::Confirmed);
    let back = refund_first_seat(&service, intent.order).await?;
    assert_eq!(back, Money::new(42_500, Currency::KRW)?);

    // A points buyer; the first seat is back on sale after the refund.
    let bob = UserId::new();
    top_up(backend.wallet.as_ref(), bob, 100_000).await?;
    let token = join_queue(backend.queue.as_ref(), event, bob).await?;
    admit_next_cycle(backend.queue.as_ref(), event).await?;
    let taken = hold_request(event, bob, &seats[1..2], None, token);
    assert_eq!(respond(&service.hold(&taken).await.unwrap_err()).0, 409);
    let request = hold_request(event, bob, &seats[..1], None, token);
    let intent = checkout(&service, &request, "points").await?;
    let paid = pay_with_points(&service, &intent).await?;
    assert_eq!(paid.order.total(), Money::new(45_000, Currency::KRW)?);
    assert_eq!(
        backend.wallet.balance(bob, Currency::KRW).await?,
        Money::new(55_000, Currency::KRW)?
    );
    upkeep.abort();
    Ok(())
}

#[test]
fn every_code_block_of_the_guide_is_quoted_from_this_file() {
    let guide = include_str!("../../../docs/guide.md");
    let source = include_str!("guide.rs");
    let mut blocks = 0;
    for block in guide.split("```rust\n").skip(1) {
        let code = block.split("```").next().unwrap_or_default();
        assert!(source.contains(code), "not in guide.rs:\n{code}");
        blocks += 1;
    }
    assert!(blocks >= 10, "only {blocks} code blocks found");
    // Nothing the blocks need is left out of the guide: every import is shown.
    for line in source.lines().filter(|l| l.starts_with("use ")) {
        assert!(
            guide.contains(line),
            "import not shown in the guide: {line}"
        );
    }
}
