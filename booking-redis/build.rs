//! Sets `no_redis_url`, `no_redis_cluster_url`, `no_postgres_url` when the server's variable
//! (`BOOKING_TEST_REDIS_URL`, `BOOKING_TEST_REDIS_CLUSTER_URLS`, `BOOKING_TEST_POSTGRES_URL`)
//! is unset, and `no_redis_server` when `redis-server` is not on the `PATH` — only when `CI`
//! is not set. The tests that need that server are then ignored, with the reason shown,
//! instead of passing without having run. Under CI no cfg is set: an unset or unreachable
//! server fails the tests.

use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var_os("CI").is_some();
    for (var, cfg) in [
        ("BOOKING_TEST_REDIS_URL", "no_redis_url"),
        ("BOOKING_TEST_REDIS_CLUSTER_URLS", "no_redis_cluster_url"),
        ("BOOKING_TEST_POSTGRES_URL", "no_postgres_url"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if !ci && std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    println!("cargo::rustc-check-cfg=cfg(no_redis_server)");
    let installed = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ci && !installed {
        println!("cargo::rustc-cfg=no_redis_server");
    }
}
