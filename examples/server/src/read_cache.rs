//! Short-lived caches of the hot reads: seat maps and flight searches.
//!
//! A burst of identical reads loads the store once (concurrent misses of one key wait for one
//! load), and each answer is kept for `SEARCH_CACHE_TTL` (1 s by default). A hold, cancel or
//! refund through this server drops the entries of its sale at once; changes the server does
//! not see (a hold lapsing, another node's writes) show within the TTL. A seat map is a hint:
//! the hold is the real check, atomic in the store.

use std::sync::Arc;
use std::time::Duration;

use booking_core::ids::EventId;
use moka::future::Cache;

use crate::problem::Problem;
use crate::routes::catalog::{FlightView, SeatView};

/// A flight search's key: from, to, date (empty: any).
pub type FlightKey = (String, String, String);

/// The caches; clones share them.
#[derive(Debug, Clone)]
pub struct ReadCache {
    seats: Cache<EventId, Arc<Vec<SeatView>>>,
    flights: Cache<FlightKey, Arc<Vec<FlightView>>>,
}

impl ReadCache {
    /// Caches keeping each answer for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        ReadCache {
            seats: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            flights: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The seat map of `sale`, from the cache or `load`.
    pub async fn seats(
        &self,
        sale: EventId,
        load: impl Future<Output = Result<Vec<SeatView>, Problem>>,
    ) -> Result<Arc<Vec<SeatView>>, Problem> {
        self.seats
            .try_get_with(sale, async move { load.await.map(Arc::new) })
            .await
            .map_err(|e: Arc<Problem>| (*e).clone())
    }

    /// The flights matching `key`, from the cache or `load`.
    pub async fn flights(
        &self,
        key: FlightKey,
        load: impl Future<Output = Result<Vec<FlightView>, Problem>>,
    ) -> Result<Arc<Vec<FlightView>>, Problem> {
        self.flights
            .try_get_with(key, async move { load.await.map(Arc::new) })
            .await
            .map_err(|e: Arc<Problem>| (*e).clone())
    }

    /// Forgets what `sale`'s availability was: its seat map and every flight search.
    pub async fn changed(&self, sale: EventId) {
        self.seats.invalidate(&sale).await;
        // A handful of flight searches at most: dropping them all is simpler than indexing.
        self.flights.invalidate_all();
    }
}
