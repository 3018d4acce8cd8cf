//! Sets `no_redis_url` when `BOOKING_TEST_REDIS_URL` is unset and `CI` is not: the server's
//! tests on Redis are then ignored, with the reason shown, instead of passing without having
//! run. Under CI the cfg is never set, so an unset or unreachable Redis fails them.

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=BOOKING_TEST_REDIS_URL");
    println!("cargo::rustc-check-cfg=cfg(no_redis_url)");
    let ci = std::env::var_os("CI").is_some();
    if !ci && std::env::var_os("BOOKING_TEST_REDIS_URL").is_none_or(|v| v.is_empty()) {
        println!("cargo::rustc-cfg=no_redis_url");
    }
}
