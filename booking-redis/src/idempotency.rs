//! [`RedisIdempotencyStore`]: idempotency records with leased claims on Redis.
//!
//! Each record is a hash under its scope and key (`{p/idem/<bucket>}:<tenant>:<user>:<key>`,
//! see [`keys`](crate::keys)): the fingerprint, the claim's token, the lease's end, the
//! retention's end, and once completed the status and body. Three scripts change it:
//!
//! - `begin` claims the record when it is absent, dropped, past retention, or an in-flight
//!   claim of the same request whose lease ended (a takeover); otherwise it returns the
//!   record unchanged and [`begin_answer`] — the rule every store applies — says replay,
//!   in flight or mismatch. One script reads and claims, so among concurrent `begin`s at most
//!   one claims.
//! - `complete` and `abandon` act only while the record still carries the claim's token and
//!   is neither done nor past retention; otherwise the claim is [`IdempotencyError::Lost`].
//!   `abandon` keeps the token so that the next claim's is larger.
//!
//! Claim tokens come from the same rule as fencing tokens (the larger of the last + 1 and
//! Redis's clock in microseconds), so no two claims of a key share one, across restarts too.
//! Leases and retention run on the store's [`Clock`]; the record's real-time `PEXPIRE` is the
//! retention, a bound for Redis to collect what nobody purges. Records spread over 16 hash
//! tags per namespace, each with a sorted set of retention ends that
//! [`purge_expired`](IdempotencyStore::purge_expired) walks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use booking_core::clock::{Clock, Timestamp};
use booking_core::ports::idempotency::{
    BeginOutcome, Claim, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, Scope,
    StoredOutcome,
};

use crate::connection::RedisConnection;
use crate::error::{Port, RedisFailure};
use crate::keys::{IDEMPOTENCY_BUCKETS, Namespace, record_keys, retention_index};
use crate::port_rules::{
    ClaimTerms, RecordState, StoredRecord, begin_answer, claim, retained_until,
};
use crate::scripts::{
    IDEM_ABANDON, IDEM_BEGIN, IDEM_COMPLETE, IDEM_PURGE, at, int, items, opt_bytes, opt_text, run,
    text,
};
use crate::time::{instant, nanos, px_until, score_down, score_up};

/// [`IdempotencyStore`] on standalone Redis or Redis Cluster; see the [module docs](self).
/// Cloning is cheap: clones share the connection.
#[derive(Clone)]
pub struct RedisIdempotencyStore {
    conn: RedisConnection,
    ns: Namespace,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl fmt::Debug for RedisIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisIdempotencyStore")
            .field("namespace", &self.ns)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// `at` as the scripts take it.
fn instant_arg(at: Timestamp) -> Result<String, IdempotencyError> {
    nanos(at).map_err(|_| IdempotencyError::Invalid {
        reason: "the instant is before 1970",
    })
}

/// A stored instant as read back.
fn stored_instant(value: &redis::Value, what: &str) -> Result<Timestamp, RedisFailure> {
    let raw = text(value)?;
    instant(&raw).ok_or_else(|| RedisFailure::corrupt(format!("{what} {raw:?}")))
}

/// The answer `begin` gives for a record the script returned unclaimed.
fn answer_for(
    found: &[redis::Value],
    fingerprint: &Fingerprint,
    now: Timestamp,
) -> Result<BeginOutcome, RedisFailure> {
    let stored_fp = opt_bytes(at(found, 1)?)?.unwrap_or_default();
    let state = match opt_text(at(found, 2)?)? {
        Some(status) => RecordState::Done(StoredOutcome {
            status: status
                .parse()
                .map_err(|_| RedisFailure::corrupt(format!("status {status:?}")))?,
            body: opt_bytes(at(found, 3)?)?.unwrap_or_default(),
        }),
        None => RecordState::InFlight {
            lease_expires_at: stored_instant(at(found, 4)?, "lease end")?,
        },
    };
    let record = StoredRecord {
        fingerprint: &stored_fp,
        state,
        retain_until: stored_instant(at(found, 5)?, "retention end")?,
    };
    begin_answer(Some(record), fingerprint, now).ok_or_else(|| {
        RedisFailure::corrupt("the begin script kept a record the rules say may be claimed")
    })
}

impl RedisIdempotencyStore {
    /// Records under `namespace` on `conn`, kept for `retention` after completion, on
    /// `clock`'s time.
    pub fn new(
        conn: RedisConnection,
        namespace: Namespace,
        clock: Arc<dyn Clock>,
        retention: Duration,
    ) -> Self {
        RedisIdempotencyStore {
            conn,
            ns: namespace,
            clock,
            retention,
        }
    }

    /// Runs `complete` or `abandon` (`script`) on the claim's record with the extra
    /// arguments `more`; `Lost` unless it changed the record.
    async fn on_claim(
        &self,
        script: &redis::Script,
        claim: &Claim,
        more: impl FnOnce(&mut redis::ScriptInvocation<'_>) -> Result<(), IdempotencyError>,
    ) -> Result<(), IdempotencyError> {
        let keys = record_keys(&self.ns, claim.scope(), claim.key());
        let mut invocation = script.key(&keys.record);
        invocation
            .key(&keys.index)
            .arg(claim.token())
            .arg(instant_arg(self.clock.now())?);
        more(&mut invocation)?;
        match int(&run(&invocation, &self.conn).await.port()?).port()? {
            1 => Ok(()),
            _ => Err(IdempotencyError::Lost),
        }
    }
}

#[async_trait]
impl IdempotencyStore for RedisIdempotencyStore {
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        lease: Duration,
    ) -> Result<BeginOutcome, IdempotencyError> {
        let now = self.clock.now();
        let terms = ClaimTerms::new(now, lease, self.retention)?;
        let keys = record_keys(&self.ns, scope, key);
        let mut invocation = IDEM_BEGIN.key(&keys.record);
        invocation
            .key(&keys.index)
            .arg(fingerprint.as_bytes().as_slice())
            .arg(instant_arg(now)?)
            .arg(instant_arg(terms.lease_expires_at)?)
            .arg(instant_arg(terms.retain_until)?)
            .arg(score_up(terms.retain_until))
            .arg(px_until(now, terms.retain_until));
        let answer = items(run(&invocation, &self.conn).await.port()?).port()?;
        if int(at(&answer, 0).port()?).port()? != 1 {
            return answer_for(&answer, fingerprint, now).port();
        }
        let raw = text(at(&answer, 1).port()?).port()?;
        let token = raw
            .parse::<u64>()
            .map_err(|_| RedisFailure::corrupt(format!("claim token {raw:?}")))
            .port()?;
        Ok(BeginOutcome::Claimed(claim(
            scope.clone(),
            key.clone(),
            *fingerprint,
            token,
            terms.lease_expires_at,
        )))
    }

    async fn complete(
        &self,
        claim: &Claim,
        outcome: StoredOutcome,
    ) -> Result<(), IdempotencyError> {
        let now = self.clock.now();
        let retain_until = retained_until(now, self.retention);
        self.on_claim(&IDEM_COMPLETE, claim, |invocation| {
            invocation
                .arg(outcome.status)
                .arg(outcome.body.as_slice())
                .arg(instant_arg(retain_until)?)
                .arg(score_up(retain_until))
                .arg(px_until(now, retain_until));
            Ok(())
        })
        .await
    }

    async fn abandon(&self, claim: &Claim) -> Result<(), IdempotencyError> {
        self.on_claim(&IDEM_ABANDON, claim, |_| Ok(())).await
    }

    async fn purge_expired(&self, limit: usize) -> Result<usize, IdempotencyError> {
        let now = self.clock.now();
        let mut purged = 0_usize;
        for bucket in 0..IDEMPOTENCY_BUCKETS {
            let left = limit.saturating_sub(purged);
            if left == 0 {
                break;
            }
            let index = retention_index(&self.ns, bucket);
            let mut invocation = IDEM_PURGE.key(&index);
            invocation
                .arg(instant_arg(now)?)
                .arg(score_down(now))
                .arg(left);
            let n = int(&run(&invocation, &self.conn).await.port()?).port()?;
            purged = purged.saturating_add(usize::try_from(n).unwrap_or(0));
        }
        Ok(purged)
    }
}
