//! Sets `no_postgres_url`, `no_mysql_url`, `no_redis_url` when `BOOKING_TEST_POSTGRES_URL`,
//! `BOOKING_TEST_MYSQL_URL`, `BOOKING_TEST_REDIS_URL` is unset and `CI` is not: the server's
//! flows on that backend are then ignored, with the reason shown, instead of passing without
//! having run. Under CI no cfg is set, so an unset or unreachable server fails them.
//!
//! The same for the seat map's browser test: it finds chromedriver and Chromium
//! (`BOOKING_TEST_CHROMEDRIVER`, `BOOKING_TEST_CHROMIUM`, else on `PATH`), hands their paths
//! to the test as `BOOKING_CHROMEDRIVER_PATH` and `BOOKING_CHROMIUM_PATH`, and sets
//! `no_chromedriver` when either is missing and `CI` is not set.

use std::path::{Path, PathBuf};

/// Names Chromium goes by on `PATH`, most likely first.
const CHROMIUM_NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

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

    println!("cargo::rustc-check-cfg=cfg(no_chromedriver)");
    println!("cargo::rerun-if-env-changed=PATH");
    let driver = browser_binary("BOOKING_TEST_CHROMEDRIVER", &["chromedriver"]);
    let chromium = browser_binary("BOOKING_TEST_CHROMIUM", CHROMIUM_NAMES);
    let shown = |p: &Option<PathBuf>| p.as_deref().map(Path::display).map(|d| d.to_string());
    println!(
        "cargo::rustc-env=BOOKING_CHROMEDRIVER_PATH={}",
        shown(&driver).unwrap_or_default()
    );
    println!(
        "cargo::rustc-env=BOOKING_CHROMIUM_PATH={}",
        shown(&chromium).unwrap_or_default()
    );
    if !ci && (driver.is_none() || chromium.is_none()) {
        println!("cargo::rustc-cfg=no_chromedriver");
    }
}

/// The binary `var` names (a path), else the first of `names` on `PATH`. A binary found is
/// watched so that its removal reruns this script; when none is, the `PATH` directories are,
/// so that installing one does.
fn browser_binary(var: &str, names: &[&str]) -> Option<PathBuf> {
    println!("cargo::rerun-if-env-changed={var}");
    let found = match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => {
            let dirs: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default();
            let found = names
                .iter()
                .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
                .find(|p| p.is_file());
            if found.is_none() {
                for dir in dirs.iter().filter(|d| d.is_dir()) {
                    println!("cargo::rerun-if-changed={}", dir.display());
                }
            }
            found
        }
    };
    if let Some(path) = &found {
        println!("cargo::rerun-if-changed={}", path.display());
    }
    found
}
