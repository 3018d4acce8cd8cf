//! The macros that expand the suite into tests, and the list of every case by section.

/// Runs the whole conformance suite against the backends `$factory` builds: one `#[test]` per
/// case, grouped in a module per section (`store_suite`, `service_suite`, `coupon_suite`,
/// `wallet_suite`, `queue_suite`, `idempotency_suite`, `lock_suite`).
///
/// Invoke it at the top level of an integration test file. Attributes written before the
/// factory go on every generated test; a server-backed backend uses them to have its tests
/// ignored, with the reason shown, when its server is not configured (see the
/// [module docs](crate::testkit)):
///
/// ```no_run
/// # #![allow(unexpected_cfgs)]
/// # use booking_core::testkit::MemoryBackend as PostgresFactory;
/// booking_core::conformance_tests!(
///     #[cfg_attr(no_postgres_url, ignore = "BOOKING_TEST_POSTGRES_URL is not set")]
///     PostgresFactory
/// );
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($($input:tt)*) => {
        $crate::__conformance_attrs!(
            [] $($input)*; store, service, coupon, wallet, queue, idempotency, lock
        );
    };
}

/// Runs the named sections of the conformance suite against the backends `$factory` builds,
/// for a backend that implements only some ports.
///
/// The sections are `store` (the [`BookingStore`](crate::ports::store::BookingStore)),
/// `service` (the [`BookingService`](crate::service::BookingService) over the store, coupons and
/// wallet), `coupon`, `wallet`, `queue`, `idempotency` and `lock`. A section runs only its
/// port, so the factory may leave the other [`Backend`](crate::testkit::Backend) fields to the
/// in-memory ports ([`Backend::in_memory`](crate::testkit::Backend::in_memory)). Attributes
/// before the factory go on every generated test, as with
/// [`conformance_tests!`](crate::conformance_tests).
///
/// ```no_run
/// # #![allow(unexpected_cfgs)]
/// # use booking_core::testkit::MemoryBackend as RedisFactory;
/// booking_core::conformance_sections!(
///     #[cfg_attr(no_redis_url, ignore = "BOOKING_TEST_REDIS_URL is not set")]
///     RedisFactory; lock, idempotency, queue, coupon
/// );
/// ```
#[macro_export]
macro_rules! conformance_sections {
    ($($input:tt)*) => {
        $crate::__conformance_attrs!([] $($input)*);
    };
}

/// Takes the attributes before the factory one at a time (an expression may itself start
/// with an attribute, so one repetition cannot tell them apart), then expands each section.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_attrs {
    ([$($done:tt)*] #[$attr:meta] $($rest:tt)*) => {
        $crate::__conformance_attrs!([$($done)* #[$attr]] $($rest)*);
    };
    ($attrs:tt $factory:expr; $($section:ident),+ $(,)?) => {
        $( $crate::__conformance_section!($section $attrs ($factory)); )+
    };
}

/// Expands one section of the suite into its module of tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_section {
    (store $attrs:tt $factory:tt) => {
        mod store_suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_cases!($attrs $factory; store:
                store_hold_is_all_or_nothing,
                store_lapsed_ticket_hold_is_free_without_sweep,
                store_lapsed_stock_hold_is_free_without_sweep,
                store_stock_capacity_is_exact,
                store_availability_counts_lapsed_holds_as_free,
                store_invalid_requests_change_nothing,
                store_sixty_four_tasks_one_seat,
                store_thousand_tasks_hundred_seats,
                store_thousand_buyers_hundred_units,
            );
            $crate::__conformance_cases!($attrs $factory; store_orders:
                store_order_cas_refuses_stale_versions,
                store_concurrent_payment_updates_have_one_winner,
                store_payments_are_found_by_ref_and_state,
                store_mark_paid_sells_every_item,
                store_mark_paid_sells_own_lapsed_items,
                store_mark_paid_retakes_a_seat_free_again,
                store_mark_paid_fails_with_items_lost_changing_nothing,
                store_mark_paid_retakes_reclaimed_stock,
                store_settle_refund_puts_items_back_on_sale,
                store_cancel_unpaid_releases,
                store_extend_hold_moves_deadlines,
                store_extend_hold_refuses_a_lapsed_hold,
            );
            $crate::__conformance_cases!($attrs $factory; store_upkeep:
                store_expire_due_releases_due_orders,
                store_expire_due_leaves_items_taken_over_alone,
                store_expire_due_skips_payments_in_flight,
                store_expire_due_respects_batch_oldest_first,
                store_expire_due_progresses_past_skipped_orders,
                store_concurrent_sweeps_expire_each_order_once,
                store_concurrent_sweeps_of_ticket_only_orders,
                store_expire_due_writes_the_machines_steps,
                store_confirm_racing_the_sweep_never_both,
                store_outbox_records_events_in_order,
            );
            $crate::__conformance_cases!($attrs $factory; store_outbox:
                store_outbox_pages_concurrent_orders_once,
            );
            $crate::__conformance_cases!($attrs $factory; store_refund:
                store_settle_refund_refuses_an_item_listed_twice,
            );
            $crate::__conformance_cases!($attrs $factory; store_races:
                store_one_order_id_placed_twice_at_once,
                store_one_order_placed_twice_at_once,
                store_losers_are_told_exactly_the_taken_seats,
                store_a_loser_takes_the_seat_its_rival_failed_to_hold,
                store_a_repeat_of_a_lapsed_order_is_told_it_exists,
            );
            $crate::__conformance_cases!($attrs $factory; store_listing:
                store_listing_user_orders_newest_first_and_only_theirs,
                store_listing_event_orders_only_that_event,
                store_listing_pages_walk_every_order_once,
                store_listing_shows_orders_in_every_state,
                store_listing_refuses_invalid_limits,
                store_listing_event_tickets_by_id,
            );
        }
    };
    (service $attrs:tt $factory:tt) => {
        mod service_suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_cases!($attrs $factory; service:
                service_ten_holds_on_one_seat_one_wins,
                service_repeated_hold_request_places_one_order,
                service_point_charge_with_one_key_applies_once,
                service_point_charges_with_distinct_keys_all_apply,
                service_confirm_at_9m59s_races_the_sweeper,
                service_cancel_races_confirm,
                service_sweepers_on_two_nodes,
                service_tampered_amount_changes_nothing,
                service_transient_error_retried_rejection_not,
                service_double_confirm_charges_once,
                service_lost_refund_answer_refunds_once,
                service_double_refund_refunds_once,
                service_first_come_coupon_issues_exactly_budget,
                service_coupon_reserved_committed_released,
                service_double_start_payment_keeps_the_coupon,
                service_abandoned_holds_return_at_expiry,
                service_extended_hold_is_capped,
                service_stock_sells_exactly_capacity,
                service_waiting_room_admits_in_order,
                service_stock_coupon_points_never_deadlock,
                service_unknown_payment_reconciled_once,
                service_seats_lost_cancels_the_charge,
                service_seats_lost_refund_answer_lost_reconciles,
                service_refunds_follow_the_quote_allocation,
                service_rejected_refund_is_abandoned,
                service_refund_request_id_answers_repeats,
                service_declined_double_confirm_answers_the_same,
                service_refund_double_click_under_gateway_faults,
                service_full_refund_double_click_gives_one_receipt,
                service_reused_ids_for_other_requests_are_refused,
                service_refund_torture,
            );
        }
    };
    (coupon $attrs:tt $factory:tt) => {
        mod coupon_suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_cases!($attrs $factory; coupon:
                coupon_thousand_users_hundred_coupons,
                coupon_reserved_by_one_order_and_used_once,
                coupon_concurrent_reserves_have_one_winner,
                coupon_bad_calls_are_typed,
                coupon_holders_list_their_coupons_of_every_campaign,
            );
        }
    };
    (wallet $attrs:tt $factory:tt) => {
        mod wallet_suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_cases!($attrs $factory; wallet:
                wallet_concurrent_debits_never_overdraw,
                wallet_concurrent_movements_lose_nothing,
                wallet_one_reference_applies_once,
                wallet_repeated_debit_returns_the_first_entry,
                wallet_bad_calls_are_typed_and_change_nothing,
            );
        }
    };
    (queue $attrs:tt $factory:tt) => {
        mod queue_suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_cases!($attrs $factory; queue:
                queue_thousand_joiners_fifty_per_cycle,
                queue_join_is_idempotent_per_user,
                queue_rooms_are_independent,
                queue_token_names_its_room,
                queue_gate_refuses_waiting_foreign_and_unknown_tokens,
                queue_leaving_closes_the_gap,
                queue_concurrent_admitters_admit_each_token_once,
            );
        }
    };
    (idempotency $attrs:tt $factory:tt) => {
        mod idempotency_suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_cases!($attrs $factory; idempotency:
                idempotency_completed_request_is_replayed,
                idempotency_expired_claim_is_taken_over,
                idempotency_abandon_frees_the_key,
                idempotency_records_are_forgotten_after_retention,
                idempotency_scopes_never_collide,
                idempotency_zero_lease_is_refused,
                idempotency_concurrent_begin_claims_once,
            );
        }
    };
    (lock $attrs:tt $factory:tt) => {
        mod lock_suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_cases!($attrs $factory; lock:
                lock_held_key_is_busy_and_tokens_grow,
                lock_expired_holder_is_taken_over_and_fenced_out,
                lock_extend_keeps_the_lease,
                lock_many_keys_are_all_or_nothing,
                lock_bounded_wait_gives_up_busy,
                lock_invalid_requests_are_typed,
                lock_with_lock_encloses_the_work,
                lock_opposite_key_orders_never_deadlock,
                lock_parallel_holders_are_exclusive_with_growing_tokens,
            );
        }
    };
    ($other:ident $attrs:tt $factory:tt) => {
        ::std::compile_error!(::std::concat!(
            "unknown conformance section `",
            ::std::stringify!($other),
            "`; the sections are store, service, coupon, wallet, queue, idempotency, lock"
        ));
    };
}

/// Expands the listed cases of one suite module into tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($attrs:tt $factory:tt; $module:ident: $($name:ident),+ $(,)?) => {
        $( $crate::__conformance_case!($attrs $factory; $module::$name); )+
    };
}

/// One case as a `#[test]`, with the caller's attributes, run on a fresh backend.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_case {
    ([$(#[$attr:meta])*] ($factory:expr); $module:ident::$name:ident) => {
        #[test]
        $(#[$attr])*
        fn $name() {
            $crate::testkit::run(&$factory, ::std::stringify!($name), |backend| {
                ::std::boxed::Box::pin($crate::testkit::$module::$name(backend))
            });
        }
    };
}
