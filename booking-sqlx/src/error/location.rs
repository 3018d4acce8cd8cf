//! Where a failure happened: the database a connection could not reach, and the backend and
//! target of a busy store. Never a password.

use booking_core::ports::store::StoreError;

use super::Backend;

/// A database the store could not reach, or whose connection broke: where, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {target}: {source}")]
pub(crate) struct Unreachable {
    /// Where: host and port and database, or a file (never a password).
    target: String,
    /// The driver's error.
    #[source]
    source: sqlx::Error,
}

/// A failed connection to `target` as a [`StoreError`] of `backend`.
pub(crate) fn unreachable(backend: Backend, target: String, source: sqlx::Error) -> StoreError {
    StoreError::Backend {
        backend: backend.name(),
        source: Box::new(Unreachable { target, source }),
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// Where a server-backed pool connects, as errors name it: `host:port/database` (or the
/// socket's path), never the user's password.
pub(crate) fn server_target(
    host: &str,
    port: u16,
    socket: Option<&std::path::Path>,
    database: Option<&str>,
) -> String {
    let server = match socket {
        Some(path) => path.display().to_string(),
        None => format!("{host}:{port}"),
    };
    match database {
        Some(database) => format!("{server}/{database}"),
        None => server,
    }
}

/// `err` of `backend`, told where it happened (`target`, computed only on these paths): a
/// broken connection becomes [`Unreachable`], a busy database names the backend and target.
pub(crate) fn locate(
    err: StoreError,
    backend: Backend,
    target: impl FnOnce() -> String,
) -> StoreError {
    match err {
        StoreError::Backend { backend: b, source } => match source.downcast::<sqlx::Error>() {
            Ok(sql) if lost_connection(&sql) => StoreError::Backend {
                backend: b,
                source: Box::new(Unreachable {
                    target: target(),
                    source: *sql,
                }),
            },
            Ok(sql) => StoreError::Backend {
                backend: b,
                source: sql,
            },
            Err(source) => StoreError::Backend { backend: b, source },
        },
        StoreError::Busy(message) => {
            StoreError::Busy(format!("{message} ({} at {})", backend.name(), target()))
        }
        other => other,
    }
}

/// Whether `err` says the connection to the database failed or broke.
fn lost_connection(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

#[cfg(test)]
mod tests {
    use super::super::Db;
    use super::super::tests::every_backend;
    use super::*;

    #[test]
    fn a_broken_connection_names_where_and_a_busy_store_its_backend() {
        for (backend, name) in every_backend() {
            let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
            let err: Result<(), _> = Err(sqlx::Error::Io(io));
            let located = locate(err.db(backend).unwrap_err(), backend, || {
                "db.internal:5433/shop".to_owned()
            });
            assert_eq!(
                located.to_string(),
                format!(
                    "{name} store failed: cannot reach db.internal:5433/shop: \
                     error communicating with database: refused"
                )
            );
            let busy = locate(StoreError::Busy("deadlock".into()), backend, || {
                "h:3306/db".to_owned()
            });
            assert_eq!(
                busy.to_string(),
                format!("store busy: deadlock ({name} at h:3306/db)")
            );
            let conflict = StoreError::version_conflict("order", 1, 2);
            assert!(matches!(
                locate(conflict, backend, String::new),
                StoreError::VersionConflict { .. }
            ));
        }
    }

    #[cfg(any(feature = "postgres", feature = "mysql"))]
    #[test]
    fn a_server_is_named_by_host_port_and_database_or_its_socket() {
        let socket = std::path::Path::new("/run/db.sock");
        assert_eq!(server_target("h", 5432, None, Some("shop")), "h:5432/shop");
        assert_eq!(server_target("h", 5432, Some(socket), None), "/run/db.sock");
    }
}
