//! The invariants, checked against three independent records of the sale: the store (orders,
//! tickets, the outbox of domain events), the gateways (the fake card gateway's payments, the
//! points ledgers) and the coupon store.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::error::Error;

use booking_core::discount::RuleId;
use booking_core::ids::{OrderId, TicketId};
use booking_core::machine::{DomainEvent, OrderStateKind, PaymentState, TicketState};
use booking_core::money::{Currency, Money};
use booking_core::ports::coupon::CouponUse;
use booking_core::ports::store::{ItemRef, OrderRecord};

use crate::buyer::End;
use crate::ledgers::{card_totals, points_totals};
use crate::sale::Sale;

/// One invariant and whether it held.
#[derive(Debug)]
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) held: bool,
    /// The figures behind the verdict.
    pub(crate) detail: String,
}

/// Figures the checks computed, for the summary.
#[derive(Debug)]
pub(crate) struct Figures {
    pub(crate) sold_seats: usize,
    /// Seats of paid orders, refunded ones included.
    pub(crate) seats_bought: usize,
    /// Seats refunded (back on sale, perhaps bought again by another order).
    pub(crate) seats_refunded: usize,
    /// Standing places (counted stock) sold and not refunded.
    pub(crate) sold_standing: u32,
    pub(crate) paid_orders: usize,
    /// Buyers whose journey ended paid.
    pub(crate) paid_endings: usize,
    pub(crate) revenue: Money,
    pub(crate) refunded: Money,
    pub(crate) coupons_issued: usize,
    pub(crate) coupons_used: usize,
}

fn is_paid(kind: OrderStateKind) -> bool {
    matches!(
        kind,
        OrderStateKind::Paid
            | OrderStateKind::Confirmed
            | OrderStateKind::PartiallyRefunded
            | OrderStateKind::Refunded
    )
}

pub(crate) fn sum(amounts: impl IntoIterator<Item = Money>) -> Result<Money, Box<dyn Error>> {
    Ok(Money::sum(Currency::KRW, amounts)?)
}

pub(crate) fn check(name: &'static str, held: bool, detail: String) -> Check {
    Check { name, held, detail }
}

/// Reads every record and checks every invariant.
pub(crate) async fn verify(sale: &Sale) -> Result<(Figures, Vec<Check>), Box<dyn Error>> {
    let world = &sale.world;
    let mut orders: HashMap<OrderId, OrderRecord> = HashMap::new();
    for id in sale.outcomes.iter().flat_map(|o| &o.orders) {
        orders.insert(*id, world.service.order(*id).await?);
    }
    let events: Vec<DomainEvent> = world
        .store
        .outbox(0, u32::MAX)
        .await?
        .into_iter()
        .map(|e| e.event)
        .collect();
    let mut tickets = HashMap::new();
    for &id in world.seats.iter() {
        tickets.insert(id, world.store.ticket(id).await?.ticket.state());
    }
    let paid: Vec<&OrderRecord> = orders
        .values()
        .filter(|r| is_paid(r.order.state().kind()))
        .collect();
    let mut checks = Vec::new();

    // No seat sold twice: replay the event log, and cross the final tickets with paid orders.
    let mut sold_now: HashMap<TicketId, i32> = HashMap::new();
    let mut double_sales = 0;
    for event in &events {
        match event {
            DomainEvent::TicketSold { ticket, .. } => {
                let n = sold_now.entry(*ticket).or_default();
                *n += 1;
                if *n > 1 {
                    double_sales += 1;
                }
            }
            DomainEvent::TicketRefunded { ticket, .. } => {
                *sold_now.entry(*ticket).or_default() -= 1;
            }
            _ => {}
        }
    }
    let mut owned: HashMap<TicketId, OrderId> = HashMap::new();
    let mut mismatched = 0;
    for record in &paid {
        for line in record.lines.iter().filter(|l| l.refunded_units == 0) {
            if let ItemRef::Ticket { ticket } = line.item {
                let order = record.order.id();
                let sold_to_it = tickets.get(&ticket) == Some(&TicketState::Sold { order });
                if owned.insert(ticket, order).is_some() || !sold_to_it {
                    mismatched += 1;
                }
            }
        }
    }
    let sold_seats = tickets
        .values()
        .filter(|s| matches!(s, TicketState::Sold { .. }))
        .count();
    checks.push(check(
        "no seat sold twice",
        double_sales == 0 && mismatched == 0 && owned.len() == sold_seats,
        format!(
            "{double_sales} double sales in the event log; {sold_seats} sold tickets, {} owned by paid orders, {mismatched} mismatched",
            owned.len()
        ),
    ));
    checks.push(check(
        "sold seats <= seats",
        sold_seats <= world.seats.len(),
        format!("{sold_seats} <= {}", world.seats.len()),
    ));
    // The summary's figures agree: every paid order is a buyer who paid or a payment settled
    // by reconciliation, and every sold seat is a seat of a paid order not refunded.
    let ticket_lines = || {
        paid.iter()
            .flat_map(|r| &r.lines)
            .filter(|l| matches!(l.item, ItemRef::Ticket { .. }))
    };
    let seats_bought = ticket_lines().count();
    let seats_refunded = ticket_lines().filter(|l| l.refunded_units > 0).count();
    let paid_endings = sale.outcomes.iter().filter(|o| o.end == End::Paid).count();
    let reconciled = usize::try_from(sale.tally.reconciled_paid)?;
    checks.push(check(
        "the summary's figures agree",
        paid.len() == paid_endings + reconciled && sold_seats + seats_refunded == seats_bought,
        format!(
            "paid orders {} = paid endings {paid_endings} + reconciled {reconciled}; \
             sold {sold_seats} + refunded {seats_refunded} = bought {seats_bought}",
            paid.len()
        ),
    ));
    let standing = crate::standing::check(sale, &paid, &events).await?;
    checks.push(standing.check);

    // Revenue, three ways.
    let by_orders = sum(paid.iter().map(|r| r.order.remaining()))?;
    let refunded = sum(paid.iter().map(|r| r.order.refunded()))?;
    let mut paid_in = Vec::new();
    let mut paid_back = Vec::new();
    let mut paid_and_expired = 0;
    let mut paid_orders = HashSet::new();
    let mut expired_orders = HashSet::new();
    for event in &events {
        match event {
            DomainEvent::OrderPaid { order, amount, .. } => {
                paid_in.push(*amount);
                paid_orders.insert(*order);
            }
            DomainEvent::OrderRefunded { amount, .. } => paid_back.push(*amount),
            DomainEvent::OrderExpired { order, .. } => {
                expired_orders.insert(*order);
            }
            _ => {}
        }
    }
    paid_and_expired += paid_orders.intersection(&expired_orders).count();
    let by_events = sum(paid_in)?.checked_sub(sum(paid_back)?)?;
    let (card_charged, card_refunded, card_charges) = card_totals(sale)?;
    let (points_charged, points_refunded, ledgers_ok) = points_totals(sale).await?;
    let by_gateways = card_charged
        .checked_add(points_charged)?
        .checked_sub(card_refunded.checked_add(points_refunded)?)?;
    checks.push(check(
        "revenue: orders == events == gateways",
        by_orders == by_events && by_events == by_gateways,
        format!("{by_orders} == {by_events} == {by_gateways}"),
    ));
    let stats = world.card.stats();
    checks.push(check(
        "each payment charged at most once",
        stats.charges == card_charges,
        format!(
            "card gateway charged {} times for {card_charges} payments",
            stats.charges
        ),
    ));
    let clicks: Vec<bool> = sale
        .outcomes
        .iter()
        .filter_map(|o| o.double_click_agreed.filter(|_| o.end == End::Paid))
        .collect();
    checks.push(check(
        "a paid double click answers the same twice",
        clicks.iter().all(|&agreed| agreed),
        format!(
            "{} of {} paid double clicks agreed",
            clicks.iter().filter(|&&a| a).count(),
            clicks.len()
        ),
    ));
    checks.push(check(
        "no order both paid and expired",
        paid_and_expired == 0 && expired_but_charged(sale, &orders).await? == 0,
        format!(
            "{} paid, {} expired, {paid_and_expired} both",
            paid_orders.len(),
            expired_orders.len()
        ),
    ));

    let (coupon_check, coupons_issued, coupons_used) = coupons(sale, &orders).await?;
    checks.push(coupon_check);
    checks.push(check(
        "wallets never negative, ledgers sum",
        ledgers_ok,
        "every balance is the running sum of its ledger".to_owned(),
    ));
    checks.push(resolved(sale, &orders, &tickets, standing.held).await?);
    let tokens = &sale.tally.lock_tokens;
    checks.push(check(
        "locks: one holder at a time, tokens grow",
        tokens.windows(2).all(|w| w[0] < w[1]),
        format!(
            "{} upkeep and refund locks, fencing tokens strictly increasing",
            tokens.len()
        ),
    ));
    let unexpected: Vec<&str> = sale
        .outcomes
        .iter()
        .filter_map(|o| match &o.end {
            End::Unexpected(e) => Some(e.as_str()),
            _ => None,
        })
        .chain(sale.tally.errors.iter().map(String::as_str))
        .collect();
    checks.push(check(
        "every call answered as documented",
        unexpected.is_empty(),
        unexpected.first().map_or_else(
            || "no unexpected error".to_owned(),
            |first| format!("{} unexpected errors, first: {first}", unexpected.len()),
        ),
    ));
    let figures = Figures {
        sold_seats,
        seats_bought,
        seats_refunded,
        sold_standing: standing.sold,
        paid_orders: paid.len(),
        paid_endings,
        revenue: by_orders,
        refunded,
        coupons_issued,
        coupons_used,
    };
    Ok((figures, checks))
}

/// Expired orders whose payment kept money: must be none.
async fn expired_but_charged(
    sale: &Sale,
    orders: &HashMap<OrderId, OrderRecord>,
) -> Result<usize, Box<dyn Error>> {
    let mut found = 0;
    for record in orders.values() {
        if record.order.state().kind() != OrderStateKind::Expired {
            continue;
        }
        if let Some(payment) = record.payment {
            let state = sale.world.store.payment(payment).await?.payment.state();
            if matches!(state, PaymentState::Done | PaymentState::PartiallyCanceled) {
                found += 1;
            }
        }
    }
    Ok(found)
}

/// Coupons: issued within budget, each used at most once and only by a paid order that applied
/// it, none left reserved.
async fn coupons(
    sale: &Sale,
    orders: &HashMap<OrderId, OrderRecord>,
) -> Result<(Check, usize, usize), Box<dyn Error>> {
    let world = &sale.world;
    let coupon_rule = RuleId::new("open-coupon");
    let mut issued = 0;
    let mut used_by = BTreeSet::new();
    let mut reused = 0;
    let mut reserved = 0;
    let mut misused = 0;
    for plan in sale.outcomes.iter().map(|o| &o.plan) {
        for coupon in world.coupons.coupons_of(plan.user).await? {
            issued += 1;
            match coupon.state {
                CouponUse::Issued => {}
                CouponUse::Reserved { .. } => reserved += 1,
                CouponUse::Used { order } => {
                    if !used_by.insert(order) {
                        reused += 1;
                    }
                    let applied = orders.get(&order).is_some_and(|r| {
                        is_paid(r.order.state().kind())
                            && r.quote.applied().iter().any(|a| a.rule == coupon_rule)
                    });
                    if !applied {
                        misused += 1;
                    }
                }
            }
        }
    }
    let remaining = world.coupons.remaining(world.campaign).await?;
    let budget = usize::try_from(world.coupon_budget)?;
    let held = issued <= budget
        && issued + usize::try_from(remaining)? == budget
        && reused == 0
        && reserved == 0
        && misused == 0;
    let detail = format!(
        "{issued} issued of {budget}, {} used, {reused} reused, {misused} by unpaid orders, {reserved} left reserved",
        used_by.len()
    );
    Ok((
        check("coupons within budget, each used once", held, detail),
        issued,
        used_by.len(),
    ))
}

/// After the final sweep every order is settled, no seat or standing place (`standing_held`)
/// is held, no payment is open.
async fn resolved(
    sale: &Sale,
    orders: &HashMap<OrderId, OrderRecord>,
    tickets: &HashMap<TicketId, TicketState>,
    standing_held: u32,
) -> Result<Check, Box<dyn Error>> {
    let open_orders = orders
        .values()
        .filter(|r| {
            !matches!(
                r.order.state().kind(),
                OrderStateKind::Confirmed
                    | OrderStateKind::PartiallyRefunded
                    | OrderStateKind::Refunded
                    | OrderStateKind::Cancelled
                    | OrderStateKind::Expired
            )
        })
        .count();
    let held = tickets
        .values()
        .filter(|s| matches!(s, TicketState::Held { .. }))
        .count();
    let mut open_payments = 0;
    for intent in sale.outcomes.iter().flat_map(|o| &o.intents) {
        let state = sale
            .world
            .store
            .payment(intent.payment)
            .await?
            .payment
            .state();
        if matches!(
            state,
            PaymentState::Ready
                | PaymentState::InProgress
                | PaymentState::Confirming
                | PaymentState::Unknown
        ) {
            open_payments += 1;
        }
    }
    Ok(check(
        "every hold sold, released or expired",
        open_orders == 0 && held == 0 && standing_held == 0 && open_payments == 0,
        format!(
            "{} orders: {open_orders} open; {held} seats and {standing_held} standing places still held; {open_payments} payments open",
            orders.len()
        ),
    ))
}
