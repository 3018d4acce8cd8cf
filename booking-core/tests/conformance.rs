//! booking-core's in-memory backend runs the whole conformance suite.

booking_core::conformance_tests!(booking_core::testkit::MemoryBackend);
