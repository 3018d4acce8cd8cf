//! The browser's return from Toss's payment window: [`SuccessRedirect`] and [`FailRedirect`].
//!
//! On success Toss appends `paymentType`, `orderId`, `paymentKey` and `amount` to the
//! merchant's success URL; on failure `code`, `message` and `orderId` to the fail URL. Anything
//! in a URL can be edited by the buyer, so these are claims: [`SuccessRedirect::confirmation`]
//! turns one into a [`Confirmation`] for `BookingService::confirm_payment`, which checks the
//! amount against the stored order before anything is sent to Toss.

use booking_core::money::{Currency, Money};
use booking_core::ports::gateway::{GatewayOrderId, PaymentKey};
use booking_core::service::Confirmation;
use reqwest::Url;

use crate::open_enum::open_enum;

open_enum!(
    /// The kind of payment the widget made.
    RedirectPaymentType {
        /// A normal payment.
        Normal => "NORMAL",
        /// BrandPay.
        Brandpay => "BRANDPAY",
        /// Key-in payment.
        Keyin => "KEYIN",
    }
);

/// Why a redirect could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// A required parameter is missing.
    #[error("the redirect has no {0}")]
    Missing(&'static str),
    /// A parameter appears more than once (Toss sends each once: someone edited the URL).
    #[error("the redirect has {0} more than once")]
    Repeated(&'static str),
    /// A parameter is malformed.
    #[error("the redirect's {name} is invalid: {reason}")]
    Invalid {
        /// Which parameter.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// What the success redirect claims. Parsed strictly: every parameter once, the amount digits
/// only. Parameters the merchant put on its own success URL are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessRedirect {
    /// `paymentType`.
    pub payment_type: RedirectPaymentType,
    /// `orderId`: the order id given to the widget.
    pub order_ref: GatewayOrderId,
    /// `paymentKey`.
    pub payment_key: PaymentKey,
    /// `amount` in won: a claim, checked against the stored order.
    pub amount: i64,
}

impl SuccessRedirect {
    /// Reads the query string of a success redirect (`paymentType=…&orderId=…&…`, with or
    /// without a leading `?`).
    ///
    /// # Errors
    /// [`RedirectError`] naming the parameter.
    pub fn from_query(query: &str) -> Result<Self, RedirectError> {
        let params = Params::parse(query);
        let order_ref =
            GatewayOrderId::new(params.one("orderId")?).map_err(|e| RedirectError::Invalid {
                name: "orderId",
                reason: e.to_string(),
            })?;
        let payment_key =
            PaymentKey::new(params.one("paymentKey")?).map_err(|e| RedirectError::Invalid {
                name: "paymentKey",
                reason: e.to_string(),
            })?;
        let amount = parse_amount(&params.one("amount")?)?;
        let payment_type = RedirectPaymentType::from(params.one("paymentType")?.as_str());
        Ok(SuccessRedirect {
            payment_type,
            order_ref,
            payment_key,
            amount,
        })
    }

    /// Reads a whole success URL.
    ///
    /// # Errors
    /// [`RedirectError::Invalid`] if `url` is not a URL, else as [`from_query`](Self::from_query).
    pub fn from_url(url: &str) -> Result<Self, RedirectError> {
        SuccessRedirect::from_query(url_query(url)?.as_str())
    }

    /// The confirmation to pass to `BookingService::confirm_payment` (amounts in won).
    ///
    /// # Errors
    /// [`RedirectError::Invalid`] if the amount is not a valid amount of won.
    pub fn confirmation(&self) -> Result<Confirmation, RedirectError> {
        let amount =
            Money::new(self.amount, Currency::KRW).map_err(|e| RedirectError::Invalid {
                name: "amount",
                reason: e.to_string(),
            })?;
        Ok(Confirmation::new(
            self.order_ref.clone(),
            self.payment_key.clone(),
            amount,
        ))
    }
}

/// What the fail redirect reports (the buyer cancelled, the card company refused, …). No
/// payment was made; the buyer may try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailRedirect {
    /// `code`, e.g. `PAY_PROCESS_CANCELED`.
    pub code: String,
    /// `message`, for the buyer.
    pub message: String,
    /// `orderId`, when Toss sends it.
    pub order_id: Option<String>,
}

impl FailRedirect {
    /// Reads the query string of a fail redirect.
    ///
    /// # Errors
    /// [`RedirectError`] if `code` is missing or a parameter repeats.
    pub fn from_query(query: &str) -> Result<Self, RedirectError> {
        let params = Params::parse(query);
        Ok(FailRedirect {
            code: params.one("code")?,
            message: params.optional("message")?.unwrap_or_default(),
            order_id: params.optional("orderId")?,
        })
    }
}

/// Decoded query parameters.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Self {
        let query = query.strip_prefix('?').unwrap_or(query);
        // `Url` does the form decoding (`+` and percent escapes).
        let pairs = Url::parse("http://redirect.invalid/")
            .map(|mut url| {
                url.set_query(Some(query));
                url.query_pairs().into_owned().collect()
            })
            .unwrap_or_default();
        Params(pairs)
    }

    fn optional(&self, name: &'static str) -> Result<Option<String>, RedirectError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => Ok(Some(value.clone())),
            (Some(_), Some(_)) => Err(RedirectError::Repeated(name)),
        }
    }

    fn one(&self, name: &'static str) -> Result<String, RedirectError> {
        self.optional(name)?.ok_or(RedirectError::Missing(name))
    }
}

fn url_query(url: &str) -> Result<String, RedirectError> {
    let url = Url::parse(url).map_err(|e| RedirectError::Invalid {
        name: "url",
        reason: e.to_string(),
    })?;
    Ok(url.query().unwrap_or_default().to_owned())
}

/// Digits only (no sign, no spaces, no decimals), at most 18 of them.
fn parse_amount(text: &str) -> Result<i64, RedirectError> {
    let invalid = |reason: &str| RedirectError::Invalid {
        name: "amount",
        reason: reason.to_owned(),
    };
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("not a whole number of won"));
    }
    text.parse().map_err(|_| invalid("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6";

    #[test]
    fn a_success_redirect_reads_in_any_order_beside_the_merchants_params() {
        let url = format!(
            "https://shop.example/pay/success?cart=7&amount=15000&orderId=a4CWyWY5m89PNh7xJwhk1\
             &paymentKey={KEY}&paymentType=NORMAL"
        );
        let redirect = SuccessRedirect::from_url(&url).unwrap();
        assert_eq!(redirect.amount, 15_000);
        assert_eq!(redirect.payment_type, RedirectPaymentType::Normal);
        let confirmation = redirect.confirmation().unwrap();
        assert_eq!(
            confirmation.amount,
            Money::new(15_000, Currency::KRW).unwrap()
        );
        assert_eq!(confirmation.payment_key.as_str(), KEY);
    }

    #[test]
    fn edited_redirects_are_refused() {
        let base = format!("paymentType=NORMAL&orderId=order-123&paymentKey={KEY}");
        for amount in [
            "",
            "-100",
            "+100",
            "100.5",
            "1e3",
            " 100",
            "99999999999999999999",
        ] {
            let query = format!("{base}&amount={amount}");
            assert!(
                matches!(
                    SuccessRedirect::from_query(&query),
                    Err(RedirectError::Invalid { name: "amount", .. })
                ),
                "{amount:?}"
            );
        }
        assert_eq!(
            SuccessRedirect::from_query(&format!("{base}&amount=1&amount=15000")),
            Err(RedirectError::Repeated("amount"))
        );
        assert_eq!(
            SuccessRedirect::from_query("paymentType=NORMAL&amount=1"),
            Err(RedirectError::Missing("orderId"))
        );
        assert!(SuccessRedirect::from_query(&format!("{base}&orderId=x&amount=1")).is_err());
    }

    #[test]
    fn a_fail_redirect_reads_its_code() {
        let fail = FailRedirect::from_query(
            "?code=PAY_PROCESS_CANCELED&message=%EC%B7%A8%EC%86%8C&orderId=order-123",
        )
        .unwrap();
        assert_eq!(fail.code, "PAY_PROCESS_CANCELED");
        assert_eq!(fail.message, "취소");
        assert_eq!(fail.order_id.as_deref(), Some("order-123"));
    }
}
