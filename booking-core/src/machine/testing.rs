//! Checks shared by every machine's tests: agreement with the table, and one checked step.

use std::collections::HashSet;
use std::fmt::Debug;

use super::{Kind, Rejection, StateMachine};
use crate::clock::Timestamp;

/// A timestamp `secs` seconds after an arbitrary fixed origin.
pub(crate) fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// Applies `command` to `before` and asserts what every machine promises:
/// an accepted command is a table row and adds exactly 1 to the version; a refused one names
/// the right state and command, and says `NotAllowed` exactly when the table has no row.
/// Returns the next aggregate if accepted.
pub(crate) fn checked_step<M>(before: &M, command: M::Command, now: Timestamp) -> Option<M>
where
    M: StateMachine + Debug,
    M::Command: Debug + Clone,
{
    let (from, kind) = (before.state_kind(), M::command_kind(&command));
    match before.apply(command.clone(), now) {
        Ok(t) => {
            let to = t.next.state_kind();
            assert!(
                M::TRANSITIONS.contains(&(from, kind, to)),
                "{}: {from} --{kind}--> {to} accepted but not in the table ({before:?}, {command:?})",
                M::NAME
            );
            assert_eq!(
                t.next.version(),
                before.version() + 1,
                "version must grow by exactly 1"
            );
            Some(t.next)
        }
        Err(e) => {
            assert_eq!(
                (e.from, e.command),
                (from, kind),
                "error must name state and command"
            );
            let listed = M::allows(from, kind);
            if e.reason == Rejection::NotAllowed {
                assert!(
                    !listed,
                    "{}: {from} --{kind}--> is a table row but was refused",
                    M::NAME
                );
            } else {
                assert!(
                    listed,
                    "{}: rule {:?} raised for a pair not in the table",
                    M::NAME,
                    e.reason
                );
            }
            None
        }
    }
}

/// Proves `apply` agrees with `M::TRANSITIONS` for every (state kind, command kind) pair:
/// every pair is exercised by some sample, every table row is reached by some sample, and every
/// step satisfies [`checked_step`].
pub(crate) fn assert_agrees_with_table<M>(samples: &[M], commands: &[M::Command], now: Timestamp)
where
    M: StateMachine + Debug,
    M::Command: Debug + Clone,
{
    let mut exercised = HashSet::new();
    let mut reached = HashSet::new();
    for sample in samples {
        for command in commands {
            let (from, kind) = (sample.state_kind(), M::command_kind(command));
            exercised.insert((from.name(), kind.name()));
            if let Some(next) = checked_step(sample, command.clone(), now) {
                reached.insert((from.name(), kind.name(), next.state_kind().name()));
            }
        }
    }
    for &state in M::StateKind::ALL {
        for &command in M::CommandKind::ALL {
            assert!(
                exercised.contains(&(state.name(), command.name())),
                "{}: no sample exercises {state} with {command}",
                M::NAME
            );
        }
    }
    for &(from, command, to) in M::TRANSITIONS {
        assert!(
            reached.contains(&(from.name(), command.name(), to.name())),
            "{}: table row {from} --{command}--> {to} is never taken by apply",
            M::NAME
        );
    }
}

/// Asserts the deadline rules every `Extend` shares, on `live`, an aggregate that accepts
/// `Extend` in its state and whose deadline is `at(100)`: at or after the deadline the command
/// is refused as [`Rejection::Lapsed`]; before it, a deadline that is not later is refused as
/// [`Rejection::NotLater`]. Each refusal names the aggregate's state and the command.
pub(crate) fn assert_extend_deadline_rules<M>(live: &M, extend: impl Fn(i64) -> M::Command)
where
    M: StateMachine + Debug,
{
    let refused = |command: M::Command, now: i64, reason: Rejection| {
        let kind = M::command_kind(&command);
        let err = live.apply(command, at(now)).unwrap_err();
        assert_eq!(
            (err.from, err.command, err.reason),
            (live.state_kind(), kind, reason),
            "{}: {live:?} at {now}",
            M::NAME
        );
    };
    let lapsed = Rejection::Lapsed {
        expired_at: at(100),
    };
    // At the deadline itself the window is already gone.
    for now in [100, 500] {
        refused(extend(900), now, lapsed.clone());
    }
    for secs in [100, 60] {
        let not_later = Rejection::NotLater {
            current: at(100),
            given: at(secs),
        };
        refused(extend(secs), 50, not_later);
    }
}

/// The `n`th fixed order id (fixed so proptest failures replay).
pub(crate) fn order(n: u128) -> crate::ids::OrderId {
    crate::ids::OrderId::from_uuid(uuid::Uuid::from_u128(n))
}

/// The `n`th fixed hold id.
pub(crate) fn hold(n: u128) -> crate::ids::HoldId {
    crate::ids::HoldId::from_uuid(uuid::Uuid::from_u128(n))
}

/// The `n`th fixed payment id.
pub(crate) fn payment(n: u128) -> crate::ids::PaymentId {
    crate::ids::PaymentId::from_uuid(uuid::Uuid::from_u128(n))
}

/// `minor` won.
pub(crate) fn krw(minor: i64) -> crate::money::Money {
    crate::money::Money::new(minor, crate::money::Currency::KRW).unwrap()
}
