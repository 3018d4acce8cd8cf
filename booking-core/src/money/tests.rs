//! Tests of `money`.

use super::*;
use proptest::prelude::*;

fn krw(n: i64) -> Money {
    Money::new(n, Currency::KRW).unwrap()
}

#[test]
fn negative_amounts_are_refused() {
    assert_eq!(Money::new(-1, Currency::KRW), Err(MoneyError::Negative(-1)));
    let json = r#"{"amount":-5,"currency":"KRW"}"#;
    assert!(serde_json::from_str::<Money>(json).is_err());
}

#[test]
fn arithmetic_is_checked() {
    assert_eq!(krw(5).checked_sub(krw(6)), Err(MoneyError::Negative(-1)));
    assert_eq!(krw(i64::MAX).checked_add(krw(1)), Err(MoneyError::Overflow));
    assert_eq!(krw(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
    let usd = Money::new(1, Currency::USD).unwrap();
    assert_eq!(
        krw(1).checked_add(usd),
        Err(MoneyError::CurrencyMismatch {
            left: Currency::KRW,
            right: Currency::USD
        })
    );
    assert_eq!(krw(3).saturating_sub(krw(10)).unwrap(), krw(0));
    assert_eq!(krw(7).checked_mul(3).unwrap(), krw(21));
    assert_eq!(Money::sum(Currency::KRW, [krw(1), krw(2)]).unwrap(), krw(3));
}

#[test]
fn display_groups_thousands_and_shows_minor_digits() {
    assert_eq!(krw(15_000).to_string(), "₩15,000");
    assert_eq!(krw(0).to_string(), "₩0");
    assert_eq!(krw(999).to_string(), "₩999");
    assert_eq!(krw(1_234_567).to_string(), "₩1,234,567");
    assert_eq!(
        Money::new(123_450, Currency::USD).unwrap().to_string(),
        "$1,234.50"
    );
    assert_eq!(Money::new(5, Currency::EUR).unwrap().to_string(), "€0.05");
}

#[test]
fn serde_shape_is_amount_and_code() {
    let json = serde_json::to_string(&krw(15_000)).unwrap();
    assert_eq!(json, r#"{"amount":15000,"currency":"KRW"}"#);
    assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), krw(15_000));
    assert!(serde_json::from_str::<Money>(r#"{"amount":1,"currency":"XXX"}"#).is_err());
    assert_eq!("USD".parse::<Currency>().unwrap(), Currency::USD);
    assert!("usd".parse::<Currency>().is_err());
}

#[test]
fn percentages_round_as_asked() {
    let p = BasisPoints::new(1_000).unwrap();
    assert_eq!(krw(12_345).percent(p, Rounding::Floor), krw(1_234));
    assert_eq!(krw(12_345).percent(p, Rounding::Ceil), krw(1_235));
    assert_eq!(krw(12_345).percent(p, Rounding::HalfUp), krw(1_235));
    assert_eq!(krw(12_345).percent(p, Rounding::HalfEven), krw(1_234));
    assert_eq!(krw(12_355).percent(p, Rounding::HalfEven), krw(1_236));
    assert_eq!(
        krw(i64::MAX).percent(BasisPoints::new(10_000).unwrap(), Rounding::Ceil),
        krw(i64::MAX)
    );
    assert_eq!(
        BasisPoints::new(10_001),
        Err(MoneyError::PercentageTooLarge(10_001))
    );
    assert!(serde_json::from_str::<BasisPoints>("10001").is_err());
    assert_eq!(BasisPoints::new(1_250).unwrap().to_string(), "12.50%");
}

#[test]
fn allocate_edge_cases() {
    assert_eq!(allocate(krw(0), &[]).unwrap(), vec![]);
    assert_eq!(allocate(krw(5), &[]), Err(MoneyError::ZeroWeight));
    assert_eq!(allocate(krw(5), &[0, 0]), Err(MoneyError::ZeroWeight));
    assert_eq!(allocate(krw(0), &[0, 0]).unwrap(), vec![krw(0), krw(0)]);
    assert_eq!(allocate(krw(10), &[0, 1]).unwrap(), vec![krw(0), krw(10)]);
    // Equal remainders: the earlier index gets the extra unit.
    assert_eq!(
        allocate(krw(2), &[1, 1, 1]).unwrap(),
        vec![krw(1), krw(1), krw(0)]
    );
    assert_eq!(
        allocate(krw(i64::MAX), &[u64::MAX, u64::MAX])
            .unwrap()
            .iter()
            .map(|m| i128::from(m.minor()))
            .sum::<i128>(),
        i128::from(i64::MAX)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn allocation_sums_exactly_and_stays_within_one_unit(
        total in 0_i64..=i64::MAX,
        weights in proptest::collection::vec(0_u64..=u64::MAX, 1..20),
    ) {
        prop_assume!(weights.iter().any(|&w| w > 0));
        let parts = allocate(krw(total), &weights).unwrap();
        prop_assert_eq!(parts.len(), weights.len());
        let sum: i128 = parts.iter().map(|m| i128::from(m.minor())).sum();
        prop_assert_eq!(sum, i128::from(total));
        let wsum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        for (part, &w) in parts.iter().zip(&weights) {
            let exact_floor = (total as u128) * u128::from(w) / wsum;
            let got = part.minor() as u128;
            prop_assert!(got == exact_floor || got == exact_floor + 1);
        }
    }

    #[test]
    fn allocation_is_deterministic(
        total in 0_i64..1_000_000,
        weights in proptest::collection::vec(1_u64..1_000, 1..10),
    ) {
        prop_assert_eq!(allocate(krw(total), &weights), allocate(krw(total), &weights));
    }

    #[test]
    fn rounding_modes_bracket_the_exact_value(n in 0_i128..1_000_000_000, d in 1_i128..10_000) {
        let floor = Rounding::Floor.divide(n, d);
        let ceil = Rounding::Ceil.divide(n, d);
        prop_assert!(floor * d <= n && n <= ceil * d);
        prop_assert!(ceil - floor <= 1);
        for mode in [Rounding::HalfUp, Rounding::HalfEven] {
            let v = mode.divide(n, d);
            prop_assert!(v == floor || v == ceil);
            prop_assert!((v * d - n).abs() * 2 <= d);
        }
    }
}
