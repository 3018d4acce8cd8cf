//! Sets `no_postgres_url` (`no_mysql_url`) when `BOOKING_TEST_POSTGRES_URL`
//! (`BOOKING_TEST_MYSQL_URL`) is unset and `CI` is not: the server's flows on that database are
//! then ignored, with the reason shown, instead of passing without having run. Under CI the cfg
//! is never set, so an unset or unreachable server fails them.

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    let ci = std::env::var_os("CI").is_some();
    for (var, cfg) in [
        ("BOOKING_TEST_POSTGRES_URL", "no_postgres_url"),
        ("BOOKING_TEST_MYSQL_URL", "no_mysql_url"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if !ci && std::env::var_os(var).is_none() {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
