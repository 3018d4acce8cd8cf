//! The summary table and the invariant verdicts.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::args::Args;
use crate::buyer::End;
use crate::invariants::{Check, Figures};
use crate::sale::Sale;
use crate::world::{ADMIT_PER_CYCLE, CYCLE};

/// `n thing` or `n things`.
fn plural(n: impl Into<u64>, thing: &str) -> String {
    match n.into() {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}

/// The report as text.
pub(crate) fn render(
    args: &Args,
    sale: &Sale,
    figures: &Figures,
    checks: &[Check],
    wall: Duration,
) -> String {
    let t = &sale.tally;
    let count = |end: &End| sale.outcomes.iter().filter(|o| &o.end == end).count();
    let script = &sale.script;
    let clicks = sale
        .outcomes
        .iter()
        .filter(|o| o.double_click_agreed.is_some())
        .count();
    let clicks_alike = sale
        .outcomes
        .iter()
        .filter(|o| o.double_click_agreed == Some(true))
        .count();
    let conflicts: u32 = sale.outcomes.iter().map(|o| o.hold_conflicts).sum();
    let sale_minutes = CYCLE.as_secs().saturating_mul(u64::from(t.cycles)) / 60;
    let rows = [
        ("database", sale.world.database.clone()),
        ("buyers", args.buyers.to_string()),
        (
            "admitted",
            format!(
                "{} ({ADMIT_PER_CYCLE} per {} s cycle, {} cycles, ~{sale_minutes} min of sale time)",
                t.admitted,
                CYCLE.as_secs(),
                t.cycles
            ),
        ),
        (
            "paid orders",
            format!(
                "{} ({} buyers paid, {} paid after a lost answer, found by reconciliation)",
                figures.paid_orders, figures.paid_endings, t.reconciled_paid
            ),
        ),
        (
            "sold seats",
            format!(
                "{} of {} ({} bought by paid orders, {} refunded and back on sale)",
                figures.sold_seats, args.seats, figures.seats_bought, figures.seats_refunded
            ),
        ),
        (
            "sold standing places",
            format!(
                "{} of {}",
                figures.sold_standing, sale.world.standing_places
            ),
        ),
        ("revenue (net of refunds)", figures.revenue.to_string()),
        (
            "refunds",
            format!(
                "{} refunds, {} back; {} resent after a lost answer",
                t.refunds, figures.refunded, t.refunds_resent
            ),
        ),
        (
            "expired holds",
            format!(
                "{} orders expired by the sweeper, {} given back",
                t.orders_expired,
                plural(t.coupons_released, "coupon")
            ),
        ),
        (
            "gateway retries",
            format!(
                "{} ({} transient faults, {} scripted)",
                sale.world.calls.retries(),
                script.transient.load(Ordering::SeqCst),
                script.rejections.load(Ordering::SeqCst)
            ),
        ),
        (
            "reconciled payments",
            format!(
                "{} paid, {} failed, {} cancelled, {} unresolved ({} timeouts after charging scripted, {} lookups)",
                t.reconciled_paid,
                t.reconciled_failed,
                t.reconciled_cancelled,
                t.unresolved,
                script.timeouts.load(Ordering::SeqCst),
                sale.world.calls.lookups()
            ),
        ),
        (
            "coupons",
            format!(
                "{} issued of {}, {} used",
                figures.coupons_issued, sale.world.coupon_budget, figures.coupons_used
            ),
        ),
        (
            "buyers' endings",
            format!(
                "paid {}, sold out {}, left at hold {}, left in gateway window {}, rejected {}, \
                 gateway down {}, unknown {}, paid late {}, seats lost {}, expired {}, not admitted {}",
                count(&End::Paid),
                count(&End::SoldOut),
                count(&End::LeftAtHold),
                count(&End::LeftAtWindow),
                count(&End::Rejected),
                count(&End::GatewayDown),
                count(&End::PaymentUnknown),
                sale.outcomes
                    .iter()
                    .filter(|o| o.plan.late && o.end == End::Paid)
                    .count(),
                count(&End::SeatsLost),
                count(&End::Expired),
                count(&End::NotAdmitted),
            ),
        ),
        (
            "hold conflicts",
            format!("{conflicts} (seat taken first, buyer retried)"),
        ),
        (
            "double clicks",
            format!("{clicks} ({clicks_alike} answered alike)"),
        ),
        (
            "locks",
            format!(
                "{} taken (upkeep and refunds, one holder at a time)",
                t.lock_tokens.len()
            ),
        ),
        (
            "hot-stock gate",
            sale.world.gate.as_ref().map_or_else(
                || "none (no --redis)".to_owned(),
                |gate| {
                    let stats = gate.stats();
                    format!(
                        "{} holds sent to the store, {} turned away at Redis",
                        stats.sent_to_store, stats.turned_away
                    )
                },
            ),
        ),
        ("wall time", format!("{:.2?}", wall)),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!(
        "\nflash sale: {} buyers, {} seats, seed {}\n\n",
        args.buyers, args.seats, args.seed
    );
    for (key, value) in rows {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "  {key:<width$}  {value}");
    }
    out.push_str("\ninvariants\n\n");
    for c in checks {
        let mark = if c.held { '✓' } else { '✗' };
        let _ = writeln!(out, "  {mark} {:<44} {}", c.name, c.detail);
    }
    out
}
