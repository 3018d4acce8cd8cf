//! The command line: `--buyers N --seats N --seed N --database URL --redis URL`, parsed by
//! hand (five flags do not need a parser crate).

use crate::database::Database;

/// What the sale simulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    /// Buyers who arrive when the sale opens.
    pub(crate) buyers: u32,
    /// Seats on sale.
    pub(crate) seats: u32,
    /// Fixes every buyer's plan and the fault script.
    pub(crate) seed: u64,
    /// Where the records are kept.
    pub(crate) database: Database,
    /// Redis nodes to coordinate on (locks, waiting room, coupons, hot-stock gate), if any.
    pub(crate) redis: Option<Vec<String>>,
}

pub(crate) const USAGE: &str = "\
usage: example-flash-sale [--buyers N] [--seats N] [--seed N] [--database URL] [--redis URL]

  --buyers N       buyers arriving when the sale opens (default 1000, at most 100000)
  --seats N        seats on sale (default 100, at most 10000)
  --seed N         seed of every buyer's plan and of the fault script (default 42)
  --database URL   where the records are kept (default: a new SQLite file in the temp dir,
                   removed afterwards):
                     sqlite://FILE       a new SQLite file, kept afterwards
                     postgres://…        a PostgreSQL server (a schema for this sale)
                     mysql://…           a MySQL/MariaDB server (a database for this sale)
                     memory              booking-core's in-memory ports
  --redis URL      coordinate on Redis: locks, the waiting room, coupons and a hot-stock
                   gate in front of the database (redis://host:port; several URLs separated
                   by commas: the nodes of a Redis Cluster). Its keys are removed afterwards";

impl Default for Args {
    fn default() -> Self {
        Args {
            buyers: 1_000,
            seats: 100,
            seed: 42,
            database: Database::default(),
            redis: None,
        }
    }
}

/// What the command line asked for instead of a sale.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ArgsError {
    /// `--help`.
    Help,
    /// Something unusable, said in words.
    Invalid(String),
}

impl Args {
    /// Parses the arguments after the program name.
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
        let mut parsed = Args::default();
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(ArgsError::Help);
            }
            let value = args
                .next()
                .ok_or_else(|| ArgsError::Invalid(format!("{flag} needs a value")))?;
            match flag.as_str() {
                "--buyers" => parsed.buyers = number(&flag, &value, 1, 100_000)?,
                "--seats" => parsed.seats = number(&flag, &value, 1, 10_000)?,
                "--seed" => {
                    parsed.seed = value.parse().map_err(|_| {
                        ArgsError::Invalid(format!("{flag}: {value:?} is not a number"))
                    })?;
                }
                "--database" => {
                    parsed.database = value
                        .parse()
                        .map_err(|why| ArgsError::Invalid(format!("{flag}: {why}")))?;
                }
                "--redis" => parsed.redis = Some(redis_nodes(&flag, &value)?),
                _ => return Err(ArgsError::Invalid(format!("unknown argument {flag:?}"))),
            }
        }
        Ok(parsed)
    }
}

/// The node URLs of `--redis`: one or more `redis://` URLs separated by commas.
fn redis_nodes(flag: &str, value: &str) -> Result<Vec<String>, ArgsError> {
    let nodes: Vec<String> = value.split(',').map(|u| u.trim().to_owned()).collect();
    if nodes
        .iter()
        .any(|u| !u.starts_with("redis://") || u.len() == "redis://".len())
    {
        return Err(ArgsError::Invalid(format!(
            "{flag}: {value:?} is not redis://host:port (or several, separated by commas)"
        )));
    }
    Ok(nodes)
}

fn number(flag: &str, value: &str, min: u32, max: u32) -> Result<u32, ArgsError> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ArgsError::Invalid(format!(
            "{flag}: {value:?} is not a whole number from {min} to {max}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args, ArgsError> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn flags_in_any_order_with_defaults() {
        assert_eq!(parse("").unwrap(), Args::default());
        let args = parse("--seed 7 --seats 30 --database memory --buyers 200").unwrap();
        assert_eq!((args.buyers, args.seats, args.seed), (200, 30, 7));
        assert_eq!(args.database, Database::Memory);
        let args = parse("--redis redis://a:1,redis://b:2").unwrap();
        assert_eq!(
            args.redis,
            Some(vec!["redis://a:1".to_owned(), "redis://b:2".to_owned()])
        );
    }

    #[test]
    fn nonsense_is_refused_in_words() {
        assert_eq!(parse("--help"), Err(ArgsError::Help));
        for bad in [
            "--buyers",
            "--buyers 0",
            "--seats -3",
            "--seed x",
            "--fast 1",
            "--database redis://localhost",
            "--redis localhost:6379",
            "--redis redis://a,",
        ] {
            assert!(matches!(parse(bad), Err(ArgsError::Invalid(_))), "{bad}");
        }
    }
}
