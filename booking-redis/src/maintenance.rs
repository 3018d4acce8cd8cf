//! Removing a namespace: every key the ports wrote under it, when a sale (or a test) is over.

use redis::{AsyncCommands, ScanOptions};

use crate::error::RedisFailure;
use crate::keys::{Namespace, UNTAGGED};

/// `text` with the glob characters of `SCAN MATCH` escaped.
fn glob_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `key` is one of `ns`'s (see [`keys`](crate::keys)): `{p}…`, `{p/…`, or
/// `p:<kind>:…` for an untagged kind. A key of another namespace never is.
fn is_of(key: &str, ns: &Namespace) -> bool {
    let p = ns.as_str();
    if let Some(rest) = key.strip_prefix('{').and_then(|k| k.strip_prefix(p)) {
        return rest.starts_with('}') || rest.starts_with('/');
    }
    key.strip_prefix(p)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| {
            UNTAGGED
                .iter()
                .any(|kind| rest.strip_prefix(kind).is_some_and(|r| r.starts_with(':')))
        })
}

/// Deletes every key of `ns` on the Redis nodes at `nodes`: one URL for a standalone server,
/// every node's URL for a cluster (replicas are skipped: their masters delete the keys).
/// Keys are scanned, not listed, so the servers keep serving meanwhile. Returns how many keys
/// were deleted.
///
/// # Errors
/// [`RedisFailure`] if a node cannot be reached or refuses a command; the keys deleted so far
/// stay deleted.
pub async fn delete_namespace<I, S>(nodes: I, ns: &Namespace) -> Result<u64, RedisFailure>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut deleted = 0;
    for url in nodes {
        let client = redis::Client::open(url.as_ref())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
        if !matches!(role.first(), Some(redis::Value::BulkString(r)) if r.as_slice() == b"master") {
            continue;
        }
        // One pass over the node's keys, a thousand at a time.
        let options = ScanOptions::default()
            .with_pattern(format!("*{}*", glob_escaped(ns.as_str())))
            .with_count(1_000);
        let mut keys = Vec::new();
        {
            let mut iter: redis::AsyncIter<'_, String> = conn.scan_options(options).await?;
            while let Some(key) = iter.next_item().await {
                let key = key?;
                if is_of(&key, ns) {
                    keys.push(key);
                }
            }
        }
        for chunk in keys.chunks(1_000) {
            let mut unlink = redis::pipe();
            for key in chunk {
                unlink.unlink(key);
            }
            let counts: Vec<u64> = unlink.query_async(&mut conn).await?;
            deleted += counts.iter().sum::<u64>();
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_namespace_s_keys_are_its_own() {
        let ns = Namespace::new("shop").unwrap();
        for key in [
            "{shop}:lock:a",
            "{shop/event:1}:fence",
            "{shop/idem/3}:t:*:k",
            "shop:queue-token:x",
            "shop:coupons-of:u",
        ] {
            assert!(is_of(key, &ns), "{key}");
        }
        for key in [
            "{shop:x}:lock:a",
            "{shopping}:lock:a",
            "shop:x:queue-token:y",
            "shop:other:z",
            "other",
        ] {
            assert!(!is_of(key, &ns), "{key}");
        }
        assert_eq!(glob_escaped("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
