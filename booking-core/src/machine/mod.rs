//! The four aggregates as pure state machines: [`Ticket`], [`Stock`], [`Order`], [`Payment`].
//!
//! Each aggregate carries a `version`. Its one transition function,
//! `apply(&self, command, now)`, either returns a [`Transition`] — the next aggregate, its
//! version exactly one higher, and the [`DomainEvent`] to write to the outbox — or a
//! [`TransitionError`] naming the state it was in, the command it refused and why. A refused
//! command changes nothing: `apply` borrows the aggregate and never mutates it.
//!
//! A store persists a transition by compare-and-set on the old version (see
//! `docs/adr/0001-state-cas-over-locks.md`), so two writers that both computed a transition from
//! the same version cannot both win.
//!
//! Every machine publishes its transition table as data ([`StateMachine::TRANSITIONS`]); the
//! tests prove `apply` agrees with it for every (state, command) pair, and that
//! `docs/state-machines.md` shows the same table.
//!
//! Inputs are called *commands* (what a caller asks for: `Hold`, `Cancel`) to keep them apart
//! from the *domain events* the machines emit (what happened: `TicketHeld`, `PaymentCanceled`).
//!
//! # Example: hold → pay → confirm → partial refund
//!
//! ```
//! use booking_core::clock::Timestamp;
//! use booking_core::ids::{HoldId, OrderId, PaymentId, TicketId};
//! use booking_core::machine::*;
//! use booking_core::money::{Currency, Money};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = Timestamp::from_second(1_800_000_000)?;
//! let hold_until = Timestamp::from_second(1_800_000_600)?; // a ten-minute hold
//! let price = Money::new(120_000, Currency::KRW)?;
//! let (order_id, hold_id, payment_id) = (OrderId::new(), HoldId::new(), PaymentId::new());
//!
//! // Hold two seats for the order.
//! let hold = TicketCommand::Hold { order: order_id, hold: hold_id, expires_at: hold_until };
//! let seat_a = Ticket::new(TicketId::new()).apply(hold, now)?.next;
//! let seat_b = Ticket::new(TicketId::new()).apply(hold, now)?.next;
//! assert_eq!(seat_a.state().kind(), TicketStateKind::Held);
//!
//! // The order waits for its payment; the payment is confirmed with the gateway.
//! let total = price.checked_mul(2)?;
//! let order = Order::new(order_id, total, hold_until);
//! let order = order.apply(OrderCommand::StartPayment { payment: payment_id }, now)?.next;
//! let payment = Payment::new(payment_id, order_id, total, hold_until);
//! let payment = payment.apply(PaymentCommand::Start, now)?.next;
//! // Confirming: from here on no sweeper may expire this payment.
//! let payment = payment.apply(PaymentCommand::BeginConfirm { amount: total }, now)?.next;
//! let approved = payment.apply(PaymentCommand::Approve, now)?;
//! assert!(matches!(approved.event, DomainEvent::PaymentApproved { .. }));
//! let payment = approved.next;
//!
//! // Paid: order, payment and seats move together (one store transaction in a service).
//! let order = order.apply(OrderCommand::MarkPaid { payment: payment_id, amount: total }, now)?.next;
//! let seat_a = seat_a.apply(TicketCommand::Sell { order: order_id }, now)?.next;
//! let seat_b = seat_b.apply(TicketCommand::Sell { order: order_id }, now)?.next;
//! let order = order.apply(OrderCommand::Confirm, now)?.next;
//! assert_eq!(order.state().kind(), OrderStateKind::Confirmed);
//!
//! // The buyer returns one seat: refund its price.
//! let order = order.apply(OrderCommand::Refund { amount: price }, now)?.next;
//! let payment = payment.apply(PaymentCommand::Cancel { amount: price }, now)?.next;
//! let order = order.apply(OrderCommand::SettleCancel, now)?.next;
//! let seat_b = seat_b.apply(TicketCommand::Refund { order: order_id }, now)?.next;
//! let seat_b = seat_b.apply(TicketCommand::Relist, now)?.next;
//!
//! assert_eq!(order.state().kind(), OrderStateKind::PartiallyRefunded);
//! assert_eq!(order.refunded(), price);
//! assert_eq!(payment.state(), PaymentState::PartiallyCanceled);
//! assert_eq!(payment.balance(), price);
//! assert_eq!(seat_a.state().kind(), TicketStateKind::Sold);
//! assert_eq!(seat_b.state().kind(), TicketStateKind::Available);
//! assert_eq!(seat_b.version(), 4); // hold, sell, refund, relist
//!
//! // A command the table does not allow is a typed error, and changes nothing.
//! let err = seat_a.apply(TicketCommand::Relist, now).unwrap_err();
//! assert_eq!(err.from, TicketStateKind::Sold);
//! assert_eq!(err.command, TicketCommandKind::Relist);
//! assert_eq!(err.reason, Rejection::NotAllowed);
//! # Ok(())
//! # }
//! ```

mod error;
mod event;
mod kind;
mod order;
mod payment;
mod stock;
mod ticket;

use crate::clock::Timestamp;

pub use error::{Rejection, TransitionError};
pub use event::DomainEvent;
pub use kind::Kind;
pub use order::{
    Order, OrderCommand, OrderCommandKind, OrderError, OrderState, OrderStateKind, RefundOrigin,
};
pub use payment::{Payment, PaymentCommand, PaymentCommandKind, PaymentError, PaymentState};
pub use stock::{Stock, StockCommand, StockCommandKind, StockError, StockState};
pub use ticket::{
    Ticket, TicketCommand, TicketCommandKind, TicketError, TicketState, TicketStateKind,
};

/// An accepted command: the aggregate after it and the event that records it.
///
/// `next.version()` is exactly one more than the version `apply` was called on. Exactly one
/// event is emitted per transition, so the type itself guarantees an accepted command is never
/// silent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a transition does nothing until its aggregate and event are stored"]
pub struct Transition<A> {
    /// The aggregate after the command.
    pub next: A,
    /// What happened, for the outbox.
    pub event: DomainEvent,
}

/// What the four machines have in common, for code that handles any of them generically
/// (stores, the conformance tests, the table checks).
pub trait StateMachine: Sized {
    /// The machine's state, without data.
    type StateKind: Kind;
    /// What a caller can ask of the machine.
    type Command;
    /// The command, without data.
    type CommandKind: Kind;

    /// The machine's name, as it heads its section of `docs/state-machines.md`.
    const NAME: &'static str;

    /// Every accepted `(from, command, to)`. A pair with several rows reaches one of them
    /// depending on the command's data (a partial cancel that empties the balance ends in
    /// `Canceled`, a smaller one in `PartiallyCanceled`). A pair with no row is refused with
    /// [`Rejection::NotAllowed`].
    const TRANSITIONS: &'static [(Self::StateKind, Self::CommandKind, Self::StateKind)];

    /// The current state, without data.
    fn state_kind(&self) -> Self::StateKind;

    /// The version: how many commands this aggregate has accepted since it was created.
    fn version(&self) -> u64;

    /// The kind of `command`.
    fn command_kind(command: &Self::Command) -> Self::CommandKind;

    /// Applies `command` at `now`: the next aggregate and its event, or why it was refused.
    fn apply(
        &self,
        command: Self::Command,
        now: Timestamp,
    ) -> Result<Transition<Self>, TransitionError<Self::StateKind, Self::CommandKind>>;

    /// Whether the table has any row for `(from, command)`.
    fn allows(from: Self::StateKind, command: Self::CommandKind) -> bool {
        Self::TRANSITIONS
            .iter()
            .any(|&(f, c, _)| f == from && c == command)
    }
}

/// The version after `version`, or an error when a stored aggregate is at `u64::MAX`.
fn next_version<S: Kind, C: Kind>(
    version: u64,
    from: S,
    command: C,
) -> Result<u64, TransitionError<S, C>> {
    version.checked_add(1).ok_or(TransitionError::new(
        from,
        command,
        Rejection::VersionExhausted,
    ))
}

/// Checks moving a deadline from `current` to `given` at `now`: the deadline must still be in
/// the future (a lapsed one is gone under lazy expiry, whoever has or has not taken over) and
/// `given` must be later, so an extension never shortens a window someone relies on.
fn check_extension(current: Timestamp, given: Timestamp, now: Timestamp) -> Result<(), Rejection> {
    if current <= now {
        return Err(Rejection::Lapsed {
            expired_at: current,
        });
    }
    if given <= current {
        return Err(Rejection::NotLater { current, given });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Path of the human-readable tables, relative to this crate.
    const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/state-machines.md");

    /// The `| from | command | to |` rows under each `## Machine` heading.
    fn doc_rows(text: &str) -> BTreeSet<(String, String, String, String)> {
        let mut rows = BTreeSet::new();
        let mut section = String::new();
        for line in text.lines() {
            if let Some(heading) = line.strip_prefix("## ") {
                section = heading.trim().to_owned();
                continue;
            }
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            let is_row = line.trim_start().starts_with('|') && cells.len() == 3;
            if is_row && cells[0] != "from" && !cells[0].starts_with("---") {
                rows.insert((
                    section.clone(),
                    cells[0].to_owned(),
                    cells[1].to_owned(),
                    cells[2].to_owned(),
                ));
            }
        }
        rows
    }

    fn code_rows<M: StateMachine>() -> BTreeSet<(String, String, String, String)> {
        M::TRANSITIONS
            .iter()
            .map(|&(f, c, t)| {
                (
                    M::NAME.to_owned(),
                    f.name().to_owned(),
                    c.name().to_owned(),
                    t.name().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn docs_tables_match_the_code() {
        let text =
            std::fs::read_to_string(DOC).unwrap_or_else(|e| panic!("cannot read {DOC}: {e}"));
        let doc = doc_rows(&text);
        let mut code = code_rows::<Ticket>();
        code.extend(code_rows::<Stock>());
        code.extend(code_rows::<Order>());
        code.extend(code_rows::<Payment>());
        let only_doc: Vec<_> = doc.difference(&code).collect();
        let only_code: Vec<_> = code.difference(&doc).collect();
        assert!(
            only_doc.is_empty() && only_code.is_empty(),
            "docs/state-machines.md and the code disagree.\nonly in the doc: {only_doc:#?}\nonly in the code: {only_code:#?}"
        );
    }

    #[test]
    fn tables_have_no_duplicate_rows() {
        fn check<M: StateMachine>() {
            let rows: BTreeSet<_> = M::TRANSITIONS
                .iter()
                .map(|&(f, c, t)| (f.name(), c.name(), t.name()))
                .collect();
            assert_eq!(
                rows.len(),
                M::TRANSITIONS.len(),
                "{}: duplicate rows",
                M::NAME
            );
        }
        check::<Ticket>();
        check::<Stock>();
        check::<Order>();
        check::<Payment>();
    }

    #[test]
    fn a_rejected_command_reads_as_a_sentence() {
        let err = TransitionError::new(
            TicketStateKind::Sold,
            TicketCommandKind::Hold,
            Rejection::NotAllowed,
        );
        assert_eq!(
            err.to_string(),
            "Hold refused in state Sold: no such transition"
        );
    }
}
