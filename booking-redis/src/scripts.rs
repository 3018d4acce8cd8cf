//! The Lua scripts (`src/lua/*.lua`, each after the shared `prelude.lua`, and the token or
//! gate helpers where they need them) and the reading of their answers.
//!
//! Scripts run with `EVALSHA` (loaded on first use or after a `NOSCRIPT`, which a restarted
//! server or a failed-over replica answers); every key a script touches is passed in `KEYS`
//! and shares one hash tag, so a cluster runs it on one node. `docs/redis.md` states each
//! script's contract.

use std::sync::LazyLock;

use redis::{Script, ScriptInvocation, Value};

use crate::connection::RedisConnection;
use crate::error::RedisFailure;

/// A script with the preludes in front of `body`.
fn script(preludes: &[&str], body: &str) -> Script {
    let mut code = String::from(include_str!("lua/prelude.lua"));
    for prelude in preludes {
        code.push('\n');
        code.push_str(prelude);
    }
    code.push('\n');
    code.push_str(body);
    Script::new(&code)
}

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident = $file:literal $(after $prelude:literal)?;)+) => {$(
        $(#[$doc])*
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            script(
                &[$(include_str!(concat!("lua/", $prelude)))?],
                include_str!(concat!("lua/", $file)),
            )
        });
    )+};
}

scripts! {
    /// Takes lock keys under a new fencing token, all or none.
    LOCK_ACQUIRE = "lock_acquire.lua" after "tokens.lua";
    /// Moves a lease's end, all keys or none.
    LOCK_EXTEND = "lock_extend.lua";
    /// Frees a lease's keys that still carry its token.
    LOCK_RELEASE = "lock_release.lua";
    /// Claims an idempotency record or returns it.
    IDEM_BEGIN = "idem_begin.lua" after "tokens.lua";
    /// Stores a claim's outcome.
    IDEM_COMPLETE = "idem_complete.lua";
    /// Drops a claim.
    IDEM_ABANDON = "idem_abandon.lua";
    /// Forgets records past retention.
    IDEM_PURGE = "idem_purge.lua";
    /// Puts a user in line, or finds their place.
    QUEUE_JOIN = "queue_join.lua";
    /// Where a token stands.
    QUEUE_STATUS = "queue_status.lua";
    /// Admits the next waiting tokens.
    QUEUE_ADMIT = "queue_admit.lua";
    /// Removes a token from its room.
    QUEUE_LEAVE = "queue_leave.lua";
    /// Registers a coupon campaign.
    COUPON_CREATE = "coupon_create.lua";
    /// Issues a coupon while the budget lasts.
    COUPON_ISSUE = "coupon_issue.lua";
    /// Moves an issued coupon for an order.
    COUPON_STEP = "coupon_step.lua";
    /// Reads a campaign's remaining budget or one holder's coupon.
    COUPON_READ = "coupon_read.lua";
    /// Takes units from a gate counter.
    GATE_TAKE = "gate_take.lua" after "gate_prelude.lua";
    /// Sets a gate counter from the store.
    GATE_SYNC = "gate_sync.lua" after "gate_prelude.lua";
    /// Changes one order's units at a gate counter.
    GATE_SETTLE = "gate_settle.lua" after "gate_prelude.lua";
}

/// Runs `invocation` on `conn`.
pub(crate) async fn run(
    invocation: &ScriptInvocation<'_>,
    conn: &RedisConnection,
) -> Result<Value, RedisFailure> {
    let mut conn = conn.clone();
    Ok(invocation.invoke_async(&mut conn).await?)
}

/// The items of an array answer.
pub(crate) fn items(value: Value) -> Result<Vec<Value>, RedisFailure> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(RedisFailure::corrupt(format!(
            "expected an array answer, got {other:?}"
        ))),
    }
}

/// An integer answer (Lua numbers arrive as integers, decimal strings are accepted too).
pub(crate) fn int(value: &Value) -> Result<i64, RedisFailure> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RedisFailure::corrupt("expected a number")),
        other => Err(RedisFailure::corrupt(format!(
            "expected a number, got {other:?}"
        ))),
    }
}

/// A text answer; `None` for Lua's `false` (a nil reply).
pub(crate) fn opt_text(value: &Value) -> Result<Option<String>, RedisFailure> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => String::from_utf8(bytes.clone())
            .map(Some)
            .map_err(|_| RedisFailure::corrupt("expected text")),
        Value::SimpleString(s) => Ok(Some(s.clone())),
        Value::Int(n) => Ok(Some(n.to_string())),
        other => Err(RedisFailure::corrupt(format!(
            "expected text, got {other:?}"
        ))),
    }
}

/// A text answer that must be there.
pub(crate) fn text(value: &Value) -> Result<String, RedisFailure> {
    opt_text(value)?.ok_or_else(|| RedisFailure::corrupt("expected text, got nil"))
}

/// A binary answer; `None` for nil.
pub(crate) fn opt_bytes(value: &Value) -> Result<Option<Vec<u8>>, RedisFailure> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(bytes.clone())),
        other => Err(RedisFailure::corrupt(format!(
            "expected bytes, got {other:?}"
        ))),
    }
}

/// The `i`-th item of an array answer.
pub(crate) fn at(items: &[Value], i: usize) -> Result<&Value, RedisFailure> {
    items
        .get(i)
        .ok_or_else(|| RedisFailure::corrupt(format!("answer has no item {i}")))
}
