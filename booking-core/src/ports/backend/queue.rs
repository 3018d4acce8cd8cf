//! For implementors of [`AdmissionQueue`]: when admissions lapse, and where an admitted token
//! stands.

use std::time::Duration;

use crate::clock::Timestamp;
#[cfg(doc)]
use crate::ports::queue::AdmissionQueue;
use crate::ports::queue::{QueueError, QueueStatus};

/// When admissions granted at `now` for `ttl` lapse, as [`AdmissionQueue::admit_next`] checks
/// its arguments: a zero `ttl`, or one past the clock's range, is
/// [`QueueError::InvalidArgument`].
pub fn admission_expiry(now: Timestamp, ttl: Duration) -> Result<Timestamp, QueueError> {
    if ttl.is_zero() {
        return Err(QueueError::InvalidArgument(
            "admission ttl must be positive",
        ));
    }
    now.checked_add(ttl)
        .map_err(|_| QueueError::InvalidArgument("admission ttl overflows the clock"))
}

/// Where a token admitted until `expires_at` stands at `now`: an admission is valid while
/// `now < expires_at`, and expired from then on.
pub fn admission_status(expires_at: Timestamp, now: Timestamp) -> QueueStatus {
    if now < expires_at {
        QueueStatus::Admitted { expires_at }
    } else {
        QueueStatus::Expired {
            expired_at: expires_at,
        }
    }
}

/// The answer of [`AdmissionQueue::check_admitted`] for a token of the right user that stands
/// at `status`: its expiry while admitted, else the error that says whether to keep waiting or
/// join again.
pub fn admitted(status: QueueStatus) -> Result<Timestamp, QueueError> {
    match status {
        QueueStatus::Admitted { expires_at } => Ok(expires_at),
        QueueStatus::Waiting { position } => Err(QueueError::NotAdmitted { position }),
        QueueStatus::Expired { expired_at } => Err(QueueError::AdmissionExpired { expired_at }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admission_is_valid_until_it_expires() {
        let at = Timestamp::UNIX_EPOCH;
        let later = at.checked_add(Duration::from_secs(1)).unwrap();
        assert_eq!(
            admission_status(later, at),
            QueueStatus::Admitted { expires_at: later }
        );
        assert_eq!(
            admission_status(later, later),
            QueueStatus::Expired { expired_at: later }
        );
    }

    #[test]
    fn only_an_admitted_token_passes_the_gate() {
        let at = Timestamp::UNIX_EPOCH;
        assert_eq!(
            admitted(QueueStatus::Admitted { expires_at: at }).unwrap(),
            at
        );
        assert!(matches!(
            admitted(QueueStatus::Waiting { position: 3 }),
            Err(QueueError::NotAdmitted { position: 3 })
        ));
        assert!(matches!(
            admitted(QueueStatus::Expired { expired_at: at }),
            Err(QueueError::AdmissionExpired { .. })
        ));
    }

    #[test]
    fn admissions_need_a_positive_ttl_within_the_clock() {
        let at = Timestamp::UNIX_EPOCH;
        let ttl = Duration::from_secs(60);
        assert_eq!(
            admission_expiry(at, ttl).unwrap(),
            at.checked_add(ttl).unwrap()
        );
        assert!(matches!(
            admission_expiry(at, Duration::ZERO),
            Err(QueueError::InvalidArgument(_))
        ));
        assert!(matches!(
            admission_expiry(Timestamp::MAX, ttl),
            Err(QueueError::InvalidArgument(_))
        ));
    }
}
