//! The [`BookingStore`](crate::ports::store::BookingStore) suite: refunds that ask for
//! something no store can do are refused the same way everywhere, changing nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::Backend;
use super::fixtures::{krw, seats, stock};
use super::store::{held_and_sold, later, outbox_len, ticket, ticket_state, units};
use super::store_orders::{PRICE, TEN_MINUTES, confirming_order, order_step, paid, payment_step};
use crate::clock::Clock;
use crate::ids::{EventId, StockId, TicketId};
use crate::machine::{OrderCommand, OrderStateKind, PaymentCommand, PaymentState, TicketState};
use crate::ports::store::{OrderRecord, PaymentRecord, SettleRefund, StoreError};

/// A paid order of two seats and two units, with a refund of one seat and one unit under way.
pub(super) struct Refunding {
    /// The order's event.
    pub(super) event: EventId,
    /// The two seats.
    pub(super) ids: Vec<TicketId>,
    /// The stock, two units of which were bought.
    pub(super) ga: StockId,
    /// The order as paid.
    pub(super) record: OrderRecord,
    /// The payment as paid.
    pub(super) payment: PaymentRecord,
    /// The order's version while its refund is under way.
    pub(super) cancelling: u64,
    /// The step that settles the refund, restocking the first seat and one unit.
    pub(super) refund: SettleRefund,
}

/// Pays an order of two seats and two units at the clock's time and starts refunding one
/// seat and one unit: two of four units' worth.
pub(super) async fn refunding(b: &Backend) -> Refunding {
    let now = b.clock.now();
    let until = later(now, TEN_MINUTES);
    let event = EventId::new();
    let ids = seats(b, event, 2, PRICE).await;
    let ga = stock(b, event, 5, PRICE).await;
    let items = [ticket(ids[0]), ticket(ids[1]), units(ga, 2)];
    let (record, payment) = confirming_order(b, event, &items, now, until).await;
    let step = paid(&record, &payment, now);
    b.store.mark_paid(&step, now).await.unwrap();
    let (record, payment) = (step.order.next, step.payment.next);

    let amount = krw(2 * PRICE);
    let (cancelling, e1) = order_step(&record, OrderCommand::Refund { amount }, now);
    b.store.update_order(&cancelling, &[e1], now).await.unwrap();
    let (settled, e2) = order_step(&cancelling.next, OrderCommand::SettleCancel, now);
    let (canceled, e3) = payment_step(&payment, PaymentCommand::Cancel { amount }, now);
    let refund = SettleRefund {
        order: settled,
        payment: canceled,
        restock: vec![ticket(ids[0]), units(ga, 1)],
        events: vec![e2, e3],
    };
    Refunding {
        event,
        ids,
        ga,
        record,
        payment,
        cancelling: cancelling.next.version(),
        refund,
    }
}

/// A refund whose `restock` lists one ticket (or one stock) twice is refused with
/// [`StoreError::Invalid`] and changes nothing: no item back on sale, order and payment as they
/// were, no event. The same refund listing each item once then settles.
pub async fn store_settle_refund_refuses_an_item_listed_twice(b: Backend) {
    let Refunding {
        ids,
        ga,
        record,
        payment,
        cancelling,
        refund,
        ..
    } = refunding(&b).await;
    let now = b.clock.now();
    let refund = |restock| SettleRefund {
        restock,
        ..refund.clone()
    };
    let events = outbox_len(&b).await;
    for restock in [
        vec![ticket(ids[0]), ticket(ids[0])],
        vec![ticket(ids[0]), units(ga, 1), ticket(ids[0])],
        vec![units(ga, 1), units(ga, 1)],
        vec![units(ga, 1), ticket(ids[1]), units(ga, 1)],
    ] {
        let got = b.store.settle_refund(&refund(restock.clone()), now).await;
        assert!(
            matches!(got, Err(StoreError::Invalid(_))),
            "{restock:?}: {got:?}"
        );
        for &id in &ids {
            assert!(
                matches!(ticket_state(&b, id).await, TicketState::Sold { .. }),
                "{restock:?} left ticket {id} sold"
            );
        }
        assert_eq!(held_and_sold(&b, ga).await, (0, 2), "{restock:?}");
        let stored = b.store.order(record.order.id()).await.unwrap();
        assert_eq!(stored.version(), cancelling, "{restock:?}");
        assert_eq!(
            b.store
                .payment(payment.payment.id())
                .await
                .unwrap()
                .payment
                .state(),
            PaymentState::Done,
            "{restock:?}"
        );
        assert_eq!(outbox_len(&b).await, events, "{restock:?}: no event");
    }

    b.store
        .settle_refund(&refund(vec![ticket(ids[0]), units(ga, 1)]), now)
        .await
        .unwrap();
    assert_eq!(ticket_state(&b, ids[0]).await, TicketState::Available);
    assert_eq!(held_and_sold(&b, ga).await, (0, 1));
    assert_eq!(
        b.store
            .order(record.order.id())
            .await
            .unwrap()
            .order
            .state()
            .kind(),
        OrderStateKind::PartiallyRefunded
    );
}
