//! The [`AdmissionQueue`](crate::ports::queue::AdmissionQueue) suite: exact positions, fair
//! admission in arrival order, admissions that lapse at their TTL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::Backend;
use crate::clock::{Clock, Timestamp};
use crate::ids::{AdmissionToken, EventId, UserId};
use crate::ports::queue::{QueueError, QueueStatus};

const TTL: Duration = Duration::from_secs(60);

/// The suite's clock plus `s` seconds.
fn at(b: &Backend, s: u64) -> Timestamp {
    b.clock.now().checked_add(Duration::from_secs(s)).unwrap()
}

/// 1,000 buyers join at once and 50 are admitted per cycle: every position is exact,
/// admissions follow arrival order, and each admission lapses at its TTL.
pub async fn queue_thousand_joiners_fifty_per_cycle(b: Backend) {
    let event = EventId::new();
    let t0 = at(&b, 0);
    let joins: Vec<_> = (0..1_000)
        .map(|_| {
            let queue = b.queue.clone();
            tokio::spawn(async move {
                let user = UserId::new();
                let entry = queue.join(event, user, t0).await.unwrap();
                (user, entry)
            })
        })
        .collect();
    let mut entries = Vec::new();
    for join in joins {
        entries.push(join.await.unwrap());
    }
    entries.sort_by_key(|(_, e)| e.sequence);
    let sequences: Vec<u64> = entries.iter().map(|(_, e)| e.sequence).collect();
    assert_eq!(
        sequences,
        (0..1_000).collect::<Vec<_>>(),
        "sequences are dense and unique"
    );
    for (i, (_, entry)) in entries.iter().enumerate() {
        let position = u64::try_from(i).unwrap() + 1;
        assert_eq!(
            b.queue.status(entry.token, t0).await.unwrap(),
            QueueStatus::Waiting { position }
        );
    }
    assert_eq!(b.queue.waiting_len(event).await.unwrap(), 1_000);

    for cycle in 0..20_u64 {
        let now = at(&b, cycle * 10);
        let admitted = b.queue.admit_next(event, 50, TTL, now).await.unwrap();
        assert_eq!(admitted.len(), 50);
        let first = usize::try_from(cycle * 50).unwrap();
        for (a, (user, entry)) in admitted.iter().zip(&entries[first..first + 50]) {
            assert_eq!(a.token, entry.token, "admitted in arrival order");
            assert_eq!(a.user, *user);
            assert_eq!(a.expires_at, now.checked_add(TTL).unwrap());
            assert_eq!(
                b.queue.check_admitted(a.token, *user, now).await.unwrap(),
                a.expires_at
            );
        }
        if let Some((_, next)) = entries.get(first + 50) {
            assert_eq!(
                b.queue.status(next.token, now).await.unwrap(),
                QueueStatus::Waiting { position: 1 }
            );
        }
        assert_eq!(
            b.queue.waiting_len(event).await.unwrap(),
            1_000 - (cycle + 1) * 50
        );
    }
    assert!(
        b.queue
            .admit_next(event, 50, TTL, at(&b, 200))
            .await
            .unwrap()
            .is_empty()
    );

    // The last cycle's admissions lapse exactly at admitted-at + TTL.
    let (user, last) = entries[999];
    let lapse = at(&b, 190).checked_add(TTL).unwrap();
    let just_before = lapse.checked_sub(Duration::from_secs(1)).unwrap();
    assert!(
        b.queue
            .check_admitted(last.token, user, just_before)
            .await
            .is_ok()
    );
    assert!(matches!(
        b.queue.check_admitted(last.token, user, lapse).await,
        Err(QueueError::AdmissionExpired { expired_at }) if expired_at == lapse
    ));
    assert_eq!(
        b.queue.status(last.token, lapse).await.unwrap(),
        QueueStatus::Expired { expired_at: lapse }
    );
}

/// Joining again keeps a waiting or admitted user's place; after the admission lapsed, the
/// user joins at the back with a new token.
pub async fn queue_join_is_idempotent_per_user(b: Backend) {
    let event = EventId::new();
    let (alice, bob) = (UserId::new(), UserId::new());
    let a1 = b.queue.join(event, alice, at(&b, 0)).await.unwrap();
    let bob_entry = b.queue.join(event, bob, at(&b, 0)).await.unwrap();
    let a2 = b.queue.join(event, alice, at(&b, 1)).await.unwrap();
    assert_eq!(a1.token, a2.token, "refreshing keeps the place");
    assert_eq!(a1.sequence, a2.sequence);
    assert_eq!(a2.status, QueueStatus::Waiting { position: 1 });
    assert_eq!(b.queue.waiting_len(event).await.unwrap(), 2);

    b.queue.admit_next(event, 1, TTL, at(&b, 10)).await.unwrap();
    let a3 = b.queue.join(event, alice, at(&b, 20)).await.unwrap();
    assert_eq!(
        a3.token, a1.token,
        "an admitted user joining again keeps the admission"
    );
    assert!(matches!(a3.status, QueueStatus::Admitted { .. }));

    let a4 = b.queue.join(event, alice, at(&b, 100)).await.unwrap();
    assert_ne!(a4.token, a1.token, "a lapsed admission means a new place");
    assert!(a4.sequence > bob_entry.sequence);
    assert_eq!(a4.status, QueueStatus::Waiting { position: 2 });
    assert!(
        b.queue
            .check_admitted(a1.token, alice, at(&b, 100))
            .await
            .is_err(),
        "the old token no longer admits"
    );
    assert_eq!(
        b.queue.status(bob_entry.token, at(&b, 100)).await.unwrap(),
        QueueStatus::Waiting { position: 1 }
    );
}

/// Waiting rooms of different events are independent.
pub async fn queue_rooms_are_independent(b: Backend) {
    let (one, two) = (EventId::new(), EventId::new());
    let user = UserId::new();
    let first = b.queue.join(one, user, at(&b, 0)).await.unwrap();
    b.queue.join(two, UserId::new(), at(&b, 0)).await.unwrap();
    let second = b.queue.join(two, user, at(&b, 0)).await.unwrap();
    assert_ne!(first.token, second.token);
    assert_eq!(first.status, QueueStatus::Waiting { position: 1 });
    assert_eq!(second.status, QueueStatus::Waiting { position: 2 });
    let admitted = b.queue.admit_next(one, 10, TTL, at(&b, 0)).await.unwrap();
    assert_eq!(admitted.len(), 1);
    assert_eq!(b.queue.waiting_len(two).await.unwrap(), 2);
    assert_eq!(b.queue.waiting_len(EventId::new()).await.unwrap(), 0);
}

/// A token names the room it joined, waiting and admitted, whoever asks; an unknown or
/// departed token names none.
pub async fn queue_token_names_its_room(b: Backend) {
    let (one, two) = (EventId::new(), EventId::new());
    let user = UserId::new();
    let first = b.queue.join(one, user, at(&b, 0)).await.unwrap();
    let second = b.queue.join(two, user, at(&b, 0)).await.unwrap();
    assert_eq!(b.queue.room(first.token).await.unwrap(), one);
    assert_eq!(b.queue.room(second.token).await.unwrap(), two);
    b.queue.admit_next(one, 1, TTL, at(&b, 0)).await.unwrap();
    assert_eq!(
        b.queue.room(first.token).await.unwrap(),
        one,
        "an admitted token still names its room"
    );
    assert!(matches!(
        b.queue.room(AdmissionToken::new()).await,
        Err(QueueError::UnknownToken)
    ));
    b.queue.leave(second.token).await.unwrap();
    assert!(matches!(
        b.queue.room(second.token).await,
        Err(QueueError::UnknownToken)
    ));
}

/// The gate refuses waiting, foreign and unknown tokens with errors that say what to do, and
/// a zero TTL is an invalid argument.
pub async fn queue_gate_refuses_waiting_foreign_and_unknown_tokens(b: Backend) {
    let event = EventId::new();
    let (alice, mallory) = (UserId::new(), UserId::new());
    let a = b.queue.join(event, alice, at(&b, 0)).await.unwrap();
    assert!(matches!(
        b.queue.check_admitted(a.token, alice, at(&b, 0)).await,
        Err(QueueError::NotAdmitted { position: 1 })
    ));
    assert!(matches!(
        b.queue
            .admit_next(event, 1, Duration::ZERO, at(&b, 0))
            .await,
        Err(QueueError::InvalidArgument(_))
    ));
    assert_eq!(
        b.queue.waiting_len(event).await.unwrap(),
        1,
        "nothing admitted"
    );
    b.queue.admit_next(event, 1, TTL, at(&b, 0)).await.unwrap();
    assert!(matches!(
        b.queue.check_admitted(a.token, mallory, at(&b, 1)).await,
        Err(QueueError::WrongUser)
    ));
    assert!(matches!(
        b.queue
            .check_admitted(AdmissionToken::new(), alice, at(&b, 1))
            .await,
        Err(QueueError::UnknownToken)
    ));
    assert!(matches!(
        b.queue.status(AdmissionToken::new(), at(&b, 1)).await,
        Err(QueueError::UnknownToken)
    ));
}

/// Leaving closes the gap behind the leaver; leaving twice is not an error; an admitted user
/// who leaves is no longer admitted.
pub async fn queue_leaving_closes_the_gap(b: Backend) {
    let event = EventId::new();
    let mut tokens = Vec::new();
    let mut users = Vec::new();
    for _ in 0..5 {
        let user = UserId::new();
        users.push(user);
        tokens.push(b.queue.join(event, user, at(&b, 0)).await.unwrap().token);
    }
    b.queue.leave(tokens[1]).await.unwrap();
    b.queue.leave(tokens[1]).await.unwrap();
    assert!(matches!(
        b.queue.status(tokens[1], at(&b, 0)).await,
        Err(QueueError::UnknownToken)
    ));
    let mut positions = Vec::new();
    for t in [tokens[0], tokens[2], tokens[3], tokens[4]] {
        positions.push(b.queue.status(t, at(&b, 0)).await.unwrap());
    }
    assert_eq!(
        positions,
        (1..=4)
            .map(|position| QueueStatus::Waiting { position })
            .collect::<Vec<_>>()
    );
    assert_eq!(b.queue.waiting_len(event).await.unwrap(), 4);
    let admitted = b.queue.admit_next(event, 2, TTL, at(&b, 0)).await.unwrap();
    assert_eq!(
        admitted.iter().map(|a| a.token).collect::<Vec<_>>(),
        vec![tokens[0], tokens[2]]
    );
    b.queue.leave(tokens[0]).await.unwrap();
    assert!(
        b.queue
            .check_admitted(tokens[0], users[0], at(&b, 1))
            .await
            .is_err()
    );
    // A leaver who comes back joins at the back, with a new token.
    let back = b.queue.join(event, users[0], at(&b, 1)).await.unwrap();
    assert_ne!(back.token, tokens[0]);
    assert_eq!(back.status, QueueStatus::Waiting { position: 3 });
}

/// Admissions from many concurrent operators never admit a token twice or skip one, and
/// still follow arrival order. Repeated.
pub async fn queue_concurrent_admitters_admit_each_token_once(b: Backend) {
    for _ in 0..20 {
        let event = EventId::new();
        let mut joined = Vec::new();
        for _ in 0..200 {
            joined.push(
                b.queue
                    .join(event, UserId::new(), at(&b, 0))
                    .await
                    .unwrap()
                    .token,
            );
        }
        let admitters: Vec<_> = (0..8)
            .map(|_| {
                let queue = b.queue.clone();
                let now = at(&b, 0);
                tokio::spawn(async move { queue.admit_next(event, 30, TTL, now).await.unwrap() })
            })
            .collect();
        let mut all = Vec::new();
        for a in admitters {
            let batch: Vec<AdmissionToken> =
                a.await.unwrap().into_iter().map(|a| a.token).collect();
            // Each call admits a run of consecutive arrivals.
            let first = joined.iter().position(|t| Some(t) == batch.first());
            if let Some(first) = first {
                assert_eq!(batch, joined[first..first + batch.len()]);
            }
            all.extend(batch);
        }
        assert_eq!(all.len(), 200);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 200, "no token admitted twice");
        assert_eq!(b.queue.waiting_len(event).await.unwrap(), 0);
    }
}
