//! What the SQL waiting rooms share: instants as the `*_ns` columns store them, a token's
//! status from its stored admission, and admitted rows as [`Admission`]s in arrival order.

use booking_core::clock::Timestamp;
use booking_core::ids::{AdmissionToken, EventId, UserId};
use booking_core::ports::backend::queue::admission_status;
use booking_core::ports::queue::{Admission, QueueError, QueueStatus};
use uuid::Uuid;

use crate::codec::{instant, nanos};
use crate::error::DbError;

/// `at` as stored, or `InvalidArgument` outside the years the store keeps (1678 to 2262).
pub(crate) fn stored_instant(at: Timestamp) -> Result<i64, QueueError> {
    nanos(at).map_err(|_| QueueError::InvalidArgument("instant outside the years 1678 to 2262"))
}

/// Where a token whose `admitted_until_ns` column holds `until_ns` stands at `now`.
pub(crate) fn admitted_status(until_ns: i64, now: Timestamp) -> Result<QueueStatus, DbError> {
    Ok(admission_status(instant(until_ns)?, now))
}

/// The room of a token from its row's `event_id`, or `UnknownToken` when there is no row.
pub(crate) fn room_of(event_id: Option<Uuid>) -> Result<EventId, QueueError> {
    event_id
        .map(EventId::from_uuid)
        .ok_or(QueueError::UnknownToken)
}

/// Admitted `(sequence, token, user_id)` rows as admissions lapsing at `expires_at`, earliest
/// arrival first (an `UPDATE … RETURNING` gives its rows in no particular order).
pub(crate) fn admissions_in_order(
    mut rows: Vec<(i64, Uuid, Uuid)>,
    expires_at: Timestamp,
) -> Vec<Admission> {
    rows.sort_unstable_by_key(|(sequence, ..)| *sequence);
    rows.into_iter()
        .map(|(_, token, user)| Admission {
            token: AdmissionToken::from_uuid(token),
            user: UserId::from_uuid(user),
            expires_at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_past_the_stored_range_are_invalid_arguments() {
        assert_eq!(stored_instant(Timestamp::UNIX_EPOCH).unwrap(), 0);
        assert!(matches!(
            stored_instant(Timestamp::MAX),
            Err(QueueError::InvalidArgument(_))
        ));
    }

    #[test]
    fn a_stored_admission_is_valid_before_its_end() {
        let now = Timestamp::UNIX_EPOCH;
        assert!(matches!(
            admitted_status(1, now).unwrap(),
            QueueStatus::Admitted { .. }
        ));
        assert!(matches!(
            admitted_status(0, now).unwrap(),
            QueueStatus::Expired { .. }
        ));
    }

    #[test]
    fn admissions_come_in_arrival_order() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let rows = vec![(7, b, b), (3, a, a)];
        let admitted = admissions_in_order(rows, Timestamp::UNIX_EPOCH);
        let tokens: Vec<_> = admitted.iter().map(|a| *a.token.as_uuid()).collect();
        assert_eq!(tokens, [a, b]);
    }
}
