//! Fetched documents kept for a while, so that views of a page do not each fetch again, and
//! concurrent fetches of one document share one request. Failures are kept for a short while
//! too (a host that does not answer is not asked again on every view). At most [`ENTRIES`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::Fetched;

const ENTRIES: usize = 256;
/// How long a failure is kept.
const FAILURE_TTL: Duration = Duration::from_secs(2);

struct Slot {
    created: Instant,
    result: OnceCell<Result<Fetched, String>>,
}

impl Slot {
    fn fresh(&self, ttl: Duration) -> bool {
        match self.result.get() {
            None => true,
            Some(Ok(_)) => self.created.elapsed() < ttl,
            Some(Err(_)) => self.created.elapsed() < FAILURE_TTL.min(ttl),
        }
    }
}

#[derive(Default)]
pub(crate) struct Cache(Mutex<HashMap<String, Arc<Slot>>>);

impl Cache {
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        key: String,
        ttl: Duration,
        fetch: F,
    ) -> Result<Fetched, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, String>>,
    {
        let slot = {
            let mut map = self.0.lock().expect("fetch cache lock");
            match map.get(&key).filter(|s| s.fresh(ttl)) {
                Some(slot) => slot.clone(),
                None => {
                    if map.len() >= ENTRIES {
                        map.retain(|_, s| s.fresh(ttl));
                        if map.len() >= ENTRIES
                            && let Some(oldest) = map
                                .iter()
                                .min_by_key(|(_, s)| s.created)
                                .map(|(k, _)| k.clone())
                        {
                            map.remove(&oldest);
                        }
                    }
                    let slot = Arc::new(Slot {
                        created: Instant::now(),
                        result: OnceCell::new(),
                    });
                    map.insert(key, slot.clone());
                    slot
                }
            }
        };
        slot.result.get_or_init(fetch).await.clone()
    }
}
