//! The key layout: every key this crate writes, built in one place.
//!
//! All keys start with the application's [`Namespace`]. Keys that one script touches
//! together share a *hash tag* (the part in `{…}`), so Redis Cluster keeps them on one slot
//! and the script runs on one node:
//!
//! | port | keys (`p` = namespace) |
//! |---|---|
//! | locks | `{p/<scope>}:lock:<key>`, `{p/<scope>}:fence` (`{p}:…` for keys without a hash tag) |
//! | idempotency | `{p/idem/<bucket>}:<tenant>:<user or *>:<key>`, `{p/idem/<bucket>}:retention` |
//! | waiting room | `{p/queue/<event>}:seq`, `:waiting`, `:admitted`, `:users`, `:tokens`; `p:queue-token:<token>` |
//! | coupons | `{p/coupon/<campaign>}:campaign`, `:states`, `:issued-at`; `p:coupons-of:<user>` |
//! | hot-stock gate | `{p/gate/<stock>}:left`, `:holds`, `:units`, `:synced` |
//!
//! Caller-given text inside a key (tenants, users, idempotency keys) is percent-escaped so that
//! no two inputs share a key and none can open a hash tag of its own.

use std::fmt::{self, Write as _};

use booking_core::ids::{AdmissionToken, CouponId, EventId, StockId, UserId};
use booking_core::ports::idempotency::{IdempotencyKey, Scope};
use booking_core::ports::lock::LockError;
use sha2::{Digest, Sha256};

/// The longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// How many slots the idempotency records of one namespace spread over (each with its own
/// retention index).
pub(crate) const IDEMPOTENCY_BUCKETS: u8 = 16;

/// A namespace that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Redis namespace {namespace:?}: {reason}")]
pub struct InvalidNamespace {
    /// The namespace given.
    pub namespace: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The prefix of every key a port writes, so that several applications (or tests) share one
/// Redis without seeing each other's keys: 1 to 64 printable ASCII characters without
/// spaces, braces or `/`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// Checks and wraps `prefix`.
    ///
    /// # Errors
    /// [`InvalidNamespace`] saying what is wrong with it.
    pub fn new(prefix: impl Into<String>) -> Result<Self, InvalidNamespace> {
        let namespace = prefix.into();
        let reason = if namespace.is_empty() {
            Some("it is empty")
        } else if namespace.len() > MAX_NAMESPACE_LEN {
            Some("it is longer than 64 bytes")
        } else if !namespace.bytes().all(|b| b.is_ascii_graphic()) {
            Some("it holds a space or a character outside printable ASCII")
        } else if namespace.contains(['{', '}', '/']) {
            Some("it holds a brace or a slash, which the key layout reserves")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidNamespace { namespace, reason }),
            None => Ok(Namespace(namespace)),
        }
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag `{p/<what>}` (or `{p}` with no `what`).
    fn tag(&self, what: fmt::Arguments<'_>) -> String {
        let mut key = String::with_capacity(64);
        // Writing to a String cannot fail.
        let _ = write!(key, "{{{}{}}}", self.0, what);
        key
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Namespace").field(&self.0).finish()
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends `text` with `%`, `:`, `*`, braces, `/` and every byte outside printable ASCII
/// written as `%XX`.
fn push_escaped(key: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b'%' | b':' | b'*' | b'{' | b'}' | b'/') {
            key.push(char::from(b));
        } else {
            let _ = write!(key, "%{b:02X}");
        }
    }
}

/// The hash tag of a lock key as Redis Cluster reads one: the text between the first `{` and
/// the first `}` after it, if not empty.
pub(crate) fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = &key[open + 1..];
    let close = rest.find('}')?;
    Some(&rest[..close]).filter(|tag| !tag.is_empty())
}

/// The Redis keys of one lock request: the scope's fencing counter and each lock key, all on
/// the scope's slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockKeys {
    /// `{p/<scope>}:fence`.
    pub(crate) fence: String,
    /// `{p/<scope>}:lock:<key>`, in the order of the keys given.
    pub(crate) locks: Vec<String>,
}

/// The keys of a lock over `keys`, which must all have the same hash tag (or none).
///
/// # Errors
/// [`LockError::Invalid`] if the keys name two scopes: one script cannot take them
/// atomically on a cluster.
pub(crate) fn lock_keys(ns: &Namespace, keys: &[String]) -> Result<LockKeys, LockError> {
    let scope = keys.first().and_then(|k| hash_tag(k));
    if keys.iter().any(|k| hash_tag(k) != scope) {
        return Err(LockError::Invalid {
            reason: "the keys have different hash tags ({scope}): one lease covers one scope",
        });
    }
    let tag = match scope {
        Some(scope) => ns.tag(format_args!("/{scope}")),
        None => ns.tag(format_args!("")),
    };
    Ok(LockKeys {
        fence: format!("{tag}:fence"),
        locks: keys.iter().map(|k| format!("{tag}:lock:{k}")).collect(),
    })
}

/// The keys of one idempotency record: the record and its bucket's retention index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordKeys {
    /// `{p/idem/<bucket>}:<tenant>:<user or *>:<key>`.
    pub(crate) record: String,
    /// `{p/idem/<bucket>}:retention`.
    pub(crate) index: String,
}

/// Which bucket a record falls in: a hash of its scope and key, so records spread evenly.
fn bucket(scope: &Scope, key: &IdempotencyKey) -> u8 {
    let mut hasher = Sha256::new();
    for part in [
        scope.tenant_id(),
        scope.user_id().unwrap_or("*"),
        key.as_str(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update([u8::from(scope.user_id().is_some())]);
    hasher.finalize()[0] % IDEMPOTENCY_BUCKETS
}

/// The retention index of bucket `b`.
pub(crate) fn retention_index(ns: &Namespace, b: u8) -> String {
    format!("{}:retention", ns.tag(format_args!("/idem/{b}")))
}

/// The keys of the record of `key` in `scope`.
pub(crate) fn record_keys(ns: &Namespace, scope: &Scope, key: &IdempotencyKey) -> RecordKeys {
    let b = bucket(scope, key);
    let mut record = ns.tag(format_args!("/idem/{b}"));
    record.push(':');
    push_escaped(&mut record, scope.tenant_id());
    record.push(':');
    match scope.user_id() {
        Some(user) => push_escaped(&mut record, user),
        // `*` never appears unescaped in a user, so a tenant-wide key is its own.
        None => record.push('*'),
    }
    record.push(':');
    push_escaped(&mut record, key.as_str());
    RecordKeys {
        record,
        index: retention_index(ns, b),
    }
}

/// The keys of one waiting room, in the order the queue scripts take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoomKeys {
    /// The arrival counter.
    pub(crate) seq: String,
    /// Waiting tokens scored by arrival sequence.
    pub(crate) waiting: String,
    /// Admitted tokens scored by their admission's end (microseconds).
    pub(crate) admitted: String,
    /// Each user's live token.
    pub(crate) users: String,
    /// Each token's user, sequence and admission end.
    pub(crate) tokens: String,
}

/// The keys of `event`'s waiting room.
pub(crate) fn room_keys(ns: &Namespace, event: EventId) -> RoomKeys {
    let tag = ns.tag(format_args!("/queue/{event}"));
    RoomKeys {
        seq: format!("{tag}:seq"),
        waiting: format!("{tag}:waiting"),
        admitted: format!("{tag}:admitted"),
        users: format!("{tag}:users"),
        tokens: format!("{tag}:tokens"),
    }
}

/// The kinds of keys outside any hash tag (`p:<kind>:…`): one per token or user, spread
/// over the cluster.
pub(crate) const UNTAGGED: [&str; 2] = [QUEUE_TOKEN, COUPONS_OF];
const QUEUE_TOKEN: &str = "queue-token";
const COUPONS_OF: &str = "coupons-of";

/// Which waiting room `token` belongs to (the token alone does not say).
pub(crate) fn token_room(ns: &Namespace, token: AdmissionToken) -> String {
    format!("{ns}:{QUEUE_TOKEN}:{token}")
}

/// The keys of one coupon campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CampaignKeys {
    /// Code, budget and issuance deadline.
    pub(crate) campaign: String,
    /// Each holder's coupon state.
    pub(crate) states: String,
    /// When each holder's coupon was issued.
    pub(crate) issued_at: String,
}

/// The keys of campaign `coupon`.
pub(crate) fn campaign_keys(ns: &Namespace, coupon: CouponId) -> CampaignKeys {
    let tag = ns.tag(format_args!("/coupon/{coupon}"));
    CampaignKeys {
        campaign: format!("{tag}:campaign"),
        states: format!("{tag}:states"),
        issued_at: format!("{tag}:issued-at"),
    }
}

/// The campaigns `user` may hold a coupon of (a superset: checked against each campaign).
pub(crate) fn coupons_of(ns: &Namespace, user: UserId) -> String {
    format!("{ns}:{COUPONS_OF}:{user}")
}

/// The keys of one gate counter, in the order the gate scripts take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GateKeys {
    /// Units the gate lets through.
    pub(crate) left: String,
    /// Orders holding units, scored by their hold's end (microseconds).
    pub(crate) holds: String,
    /// Each order's units and hold end.
    pub(crate) units: String,
    /// When the counter was last set from the store (the caller's clock), and the stock's
    /// event: `"<ns> <event>"`.
    pub(crate) synced: String,
}

/// The keys of `stock`'s counter.
pub(crate) fn gate_keys(ns: &Namespace, stock: StockId) -> GateKeys {
    let tag = ns.tag(format_args!("/gate/{stock}"));
    GateKeys {
        left: format!("{tag}:left"),
        holds: format!("{tag}:holds"),
        units: format!("{tag}:units"),
        synced: format!("{tag}:synced"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespace {
        Namespace::new("app").unwrap()
    }

    #[test]
    fn namespaces_are_checked() {
        for bad in ["", "a b", "a{b", "a}b", "a/b", "é"] {
            assert!(Namespace::new(bad).is_err(), "{bad:?}");
        }
        assert!(Namespace::new("a".repeat(65)).is_err());
        assert_eq!(
            Namespace::new("app:booking").unwrap().as_str(),
            "app:booking"
        );
    }

    #[test]
    fn hash_tags_follow_redis_cluster() {
        assert_eq!(hash_tag("{event:1}:seat:2"), Some("event:1"));
        assert_eq!(hash_tag("seat:{event:1}"), Some("event:1"));
        assert_eq!(hash_tag("{}seat"), None);
        assert_eq!(hash_tag("seat:1"), None);
        assert_eq!(hash_tag("{a{b}c"), Some("a{b"));
    }

    #[test]
    fn lock_keys_of_one_scope_share_a_slot_and_two_scopes_are_refused() {
        let keys = ["{event:1}:a".to_owned(), "{event:1}:b".to_owned()];
        let got = lock_keys(&ns(), &keys).unwrap();
        assert_eq!(got.fence, "{app/event:1}:fence");
        assert_eq!(
            got.locks,
            [
                "{app/event:1}:lock:{event:1}:a",
                "{app/event:1}:lock:{event:1}:b"
            ]
        );
        let plain = lock_keys(&ns(), &["a".to_owned(), "b".to_owned()]).unwrap();
        assert_eq!(plain.fence, "{app}:fence");
        assert_eq!(plain.locks, ["{app}:lock:a", "{app}:lock:b"]);
        let mixed = ["{event:1}:a".to_owned(), "{event:2}:b".to_owned()];
        assert!(matches!(
            lock_keys(&ns(), &mixed),
            Err(LockError::Invalid { .. })
        ));
        let half = ["{event:1}:a".to_owned(), "b".to_owned()];
        assert!(matches!(
            lock_keys(&ns(), &half),
            Err(LockError::Invalid { .. })
        ));
    }

    #[test]
    fn record_keys_never_collide_and_open_no_tag() {
        let key = IdempotencyKey::new("k:{1}").unwrap();
        let tenant = record_keys(&ns(), &Scope::tenant("a"), &key);
        let user = record_keys(&ns(), &Scope::user("a", "*"), &key);
        let colon = record_keys(&ns(), &Scope::user("a:b", "c"), &key);
        let other = record_keys(&ns(), &Scope::user("a", "b:c"), &key);
        assert_ne!(tenant.record, user.record);
        assert_ne!(colon.record, other.record);
        assert!(
            tenant.record.ends_with(":a:*:k%3A%7B1%7D"),
            "{}",
            tenant.record
        );
        assert_eq!(hash_tag(&tenant.record), hash_tag(&tenant.index));
        assert!(hash_tag(&tenant.record).unwrap().starts_with("app/idem/"));
    }

    #[test]
    fn rooms_campaigns_and_gates_keep_their_keys_on_one_slot() {
        let room = room_keys(&ns(), EventId::new());
        for key in [&room.waiting, &room.admitted, &room.users, &room.tokens] {
            assert_eq!(hash_tag(key), hash_tag(&room.seq));
        }
        let campaign = campaign_keys(&ns(), CouponId::new());
        assert_eq!(hash_tag(&campaign.states), hash_tag(&campaign.campaign));
        assert_eq!(hash_tag(&campaign.issued_at), hash_tag(&campaign.campaign));
        let gate = gate_keys(&ns(), StockId::new());
        for key in [&gate.holds, &gate.units, &gate.synced] {
            assert_eq!(hash_tag(key), hash_tag(&gate.left));
        }
    }
}
