//! booking-core's gateway conformance suite on `TossGateway` against the fake Toss server.

use std::sync::Arc;

use async_trait::async_trait;
use booking_core::clock::ManualClock;
use booking_core::memory::{Fault, GatewayOp};
use booking_core::money::Money;
use booking_core::ports::gateway::{GatewayOrderId, PaymentGateway, PaymentKey};
use booking_core::testkit::gateway::{GatewayHarness, GatewayHarnessFactory, MoneyMoves};
use booking_toss::Amount;
use booking_toss::fake::{FakeFault, FakeOp, SessionSpec};

use crate::support::Toss;

/// A fresh fake Toss server and gateway per test.
pub(crate) struct TossHarnessFactory;

/// `TossGateway` with the fake behind it.
struct TossHarness(Toss);

#[async_trait]
impl GatewayHarness for TossHarness {
    fn gateway(&self) -> Arc<dyn PaymentGateway> {
        Arc::new(self.0.gateway.clone())
    }

    async fn authenticate(&self, order_ref: &GatewayOrderId, amount: Money) -> PaymentKey {
        let spec = SessionSpec::card(order_ref.as_str(), Amount::from_money(amount).unwrap());
        PaymentKey::new(self.0.fake().authenticate(&spec).payment_key).unwrap()
    }

    async fn fail_next(&self, op: GatewayOp, fault: Fault) {
        let op = match op {
            GatewayOp::Confirm => FakeOp::Confirm,
            GatewayOp::Cancel => FakeOp::Cancel,
            GatewayOp::Lookup => FakeOp::Lookup,
        };
        let fault = match fault {
            // A card refusal on confirm aborts the payment, as at Toss.
            Fault::Reject(code) if op == FakeOp::Confirm => FakeFault::Decline { code },
            Fault::Transient(code) | Fault::Reject(code) => FakeFault::error(&code),
            Fault::TimeoutBeforeProcessing => FakeFault::DropRequest,
            Fault::TimeoutAfterProcessing => FakeFault::LoseResponse,
        };
        self.0.fake().fail_next(op, fault);
    }

    async fn money_moves(&self) -> MoneyMoves {
        let stats = self.0.fake().stats();
        MoneyMoves {
            charges: stats.charges,
            refunds: stats.refunds,
        }
    }
}

#[async_trait]
impl GatewayHarnessFactory for TossHarnessFactory {
    async fn harness(&self, clock: ManualClock) -> Option<Arc<dyn GatewayHarness>> {
        let toss = Toss::on(clock, |config| config, booking_toss::Timeouts::default()).await;
        Some(Arc::new(TossHarness(toss)))
    }
}

booking_core::gateway_conformance_tests!(TossHarnessFactory);
