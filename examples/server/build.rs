//! Sets `no_postgres_url`, `no_mysql_url`, `no_redis_url` when `BOOKING_TEST_POSTGRES_URL`,
//! `BOOKING_TEST_MYSQL_URL`, `BOOKING_TEST_REDIS_URL` is unset and `CI` is not: the server's
//! flows on that backend are then ignored, with the reason shown, instead of passing without
//! having run. Under CI no cfg is set, so an unset or unreachable server fails them.

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    let ci = std::env::var_os("CI").is_some();
    for (var, cfg) in [
        ("BOOKING_TEST_POSTGRES_URL", "no_postgres_url"),
        ("BOOKING_TEST_MYSQL_URL", "no_mysql_url"),
        ("BOOKING_TEST_REDIS_URL", "no_redis_url"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if !ci && std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
