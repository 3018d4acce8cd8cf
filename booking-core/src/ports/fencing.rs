//! The fencing contract every store that accepts lock tokens keeps.
//!
//! A lease can run out while its holder still works (a long GC pause, a stalled network);
//! another holder then takes the key with a larger [`FencingToken`]. Mutual exclusion is
//! only restored if the *resource* refuses the first holder's late writes:
//!
//! > A store that accepts fencing tokens remembers, per resource, the largest token it has
//! > accepted. A write carrying token `t` is refused once that resource has seen a token
//! > larger than `t`. A write carrying the largest token seen (or a larger one) is accepted
//! > and, if larger, becomes the new largest.
//!
//! In SQL that is a `fence_token` column and `UPDATE … SET …, fence_token = $t WHERE id = $id
//! AND fence_token <= $t`, checked for a row count of one, in the same transaction as the write.
//! [`FenceCheck`] is that rule as a value; [`FencedResource`] wraps a value with it, for tests
//! and for in-process resources.

use std::sync::{Mutex, PoisonError};

use super::lock::FencingToken;

/// A write was refused because a newer lock holder has written to the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fencing token {token} is stale: the resource has seen token {highest}")]
pub struct StaleToken {
    /// The token the refused write carried.
    pub token: FencingToken,
    /// The largest token the resource has accepted.
    pub highest: FencingToken,
}

/// The largest token a resource has accepted, and the rule for admitting the next write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FenceCheck {
    highest: Option<FencingToken>,
}

impl FenceCheck {
    /// A resource that has accepted no token yet.
    pub const fn new() -> Self {
        FenceCheck { highest: None }
    }

    /// The largest token accepted so far.
    pub const fn highest(&self) -> Option<FencingToken> {
        self.highest
    }

    /// Admits a write carrying `token`, recording it as the largest if it is.
    ///
    /// # Errors
    /// [`StaleToken`] if a larger token was accepted before; nothing changes.
    pub fn admit(&mut self, token: FencingToken) -> Result<(), StaleToken> {
        match self.highest {
            Some(highest) if token < highest => Err(StaleToken { token, highest }),
            _ => {
                self.highest = Some(token);
                Ok(())
            }
        }
    }
}

/// A value guarded by the fencing rule: every write presents a token.
#[derive(Debug, Default)]
pub struct FencedResource<T> {
    state: Mutex<(FenceCheck, T)>,
}

impl<T> FencedResource<T> {
    /// A resource holding `value`, which has seen no token.
    pub fn new(value: T) -> Self {
        FencedResource {
            state: Mutex::new((FenceCheck::new(), value)),
        }
    }

    /// Applies `write` to the value if `token` is not stale, atomically with the check.
    ///
    /// # Errors
    /// [`StaleToken`] if a newer holder has written; `write` does not run.
    pub fn write<R>(
        &self,
        token: FencingToken,
        write: impl FnOnce(&mut T) -> R,
    ) -> Result<R, StaleToken> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0.admit(token)?;
        Ok(write(&mut state.1))
    }

    /// Reads the value.
    pub fn read<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        read(&state.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_tokens_are_refused_once_a_newer_one_was_seen() {
        let mut fence = FenceCheck::new();
        fence.admit(FencingToken::new(3)).unwrap();
        fence.admit(FencingToken::new(3)).unwrap();
        assert_eq!(
            fence.admit(FencingToken::new(2)),
            Err(StaleToken {
                token: FencingToken::new(2),
                highest: FencingToken::new(3)
            })
        );
        fence.admit(FencingToken::new(7)).unwrap();
        assert_eq!(fence.highest(), Some(FencingToken::new(7)));
    }

    #[test]
    fn a_refused_write_changes_nothing() {
        let seat = FencedResource::new(Vec::<&str>::new());
        seat.write(FencingToken::new(5), |v| v.push("new holder"))
            .unwrap();
        assert!(
            seat.write(FencingToken::new(4), |v| v.push("stale"))
                .is_err()
        );
        assert_eq!(seat.read(Clone::clone), vec!["new holder"]);
    }
}
