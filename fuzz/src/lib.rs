//! Helpers shared by the fuzz targets: reading a fuzzer's bytes as choices, and the checks
//! every state machine step must pass.

use booking_core::clock::Timestamp;
use booking_core::machine::{Kind, Rejection, StateMachine};
use libfuzzer_sys::arbitrary::Unstructured;

/// An instant `secs` seconds after a fixed origin (the fuzzer moves time with small steps).
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000_i64.saturating_add(secs)).unwrap_or(Timestamp::MAX)
}

/// A number in `0..n` from the input (0 once the input is used up).
pub fn pick(u: &mut Unstructured<'_>, n: usize) -> usize {
    u.choose_index(n).unwrap_or(0)
}

/// A small integer from the input.
pub fn small(u: &mut Unstructured<'_>, max: u32) -> u32 {
    u.int_in_range(0..=max).unwrap_or(0)
}

/// Applies `command` to `before` and checks what every machine promises: an accepted command
/// is a row of the machine's table and adds exactly one to the version; a refused one names the
/// state and command it was refused in, and is `NotAllowed` exactly when the table has no row.
/// Returns the next aggregate if accepted, `before` unchanged otherwise.
pub fn step<M>(before: &M, command: M::Command, now: Timestamp) -> M
where
    M: StateMachine + std::fmt::Debug + Clone + PartialEq,
    M::Command: std::fmt::Debug + Clone,
{
    let (from, kind) = (before.state_kind(), M::command_kind(&command));
    let snapshot = before.clone();
    let result = before.apply(command.clone(), now);
    assert_eq!(&snapshot, before, "apply changed the aggregate it borrowed");
    match result {
        Ok(t) => {
            let to = t.next.state_kind();
            assert!(
                M::TRANSITIONS.contains(&(from, kind, to)),
                "{}: {} --{}--> {} accepted but not in the table ({before:?}, {command:?})",
                M::NAME,
                from.name(),
                kind.name(),
                to.name()
            );
            assert_eq!(Some(t.next.version()), before.version().checked_add(1));
            t.next
        }
        Err(e) => {
            assert!(
                e.from == from && e.command == kind,
                "error names another step"
            );
            let listed = M::allows(from, kind);
            assert_eq!(
                e.reason == Rejection::NotAllowed,
                !listed,
                "{}: {:?} for {} --{}--> (in the table: {listed})",
                M::NAME,
                e.reason,
                from.name(),
                kind.name()
            );
            before.clone()
        }
    }
}
