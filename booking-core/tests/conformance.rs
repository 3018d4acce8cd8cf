//! booking-core's in-memory backend runs the whole conformance suite.

booking_core::conformance_tests!(booking_core::testkit::MemoryBackend);

// The PaymentGateway suite on booking-core's FakeGateway.
booking_core::gateway_conformance_tests!(booking_core::testkit::gateway::MemoryGatewayHarness);
