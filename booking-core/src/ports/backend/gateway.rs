//! For implementors of [`PaymentGateway`](crate::ports::gateway::PaymentGateway): the check
//! every gateway makes of a cancel request's reason.

use crate::ports::gateway::GatewayError;

/// Checks a cancel reason: 1 to 200 characters, else [`GatewayError::InvalidRequest`].
pub fn validate_cancel_reason(reason: &str) -> Result<(), GatewayError> {
    let len = reason.chars().count();
    if (1..=200).contains(&len) {
        Ok(())
    } else {
        Err(GatewayError::InvalidRequest(format!(
            "cancel reason must be 1 to 200 characters, got {len}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_to_two_hundred_characters() {
        assert!(validate_cancel_reason("").is_err());
        assert!(validate_cancel_reason(&"가".repeat(200)).is_ok());
        assert!(validate_cancel_reason(&"가".repeat(201)).is_err());
    }
}
