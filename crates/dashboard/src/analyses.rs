//! The sweep page's [`reports::Analysis`] (bootstrap intervals and fits: seconds for a sweep of
//! a hundred cells), kept per sweep and recomputed only when a run standing for one of its
//! cells changes — so the page, its SVG and every reload after a change cost one computation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reports::Analysis;
use tracking::{Status, Store};

use crate::pages::PageError;

/// Sweeps whose analysis is kept; past that, one is dropped to make room.
const KEPT: usize = 32;

/// What an analysis depends on that can change: each standing run, its status and its end.
type Stamp = Vec<(i64, Status, Option<i64>)>;

#[derive(Default)]
pub(crate) struct Analyses {
    kept: Mutex<HashMap<i64, (Stamp, Arc<Analysis>)>>,
}

impl Analyses {
    /// The analysis of `sweep`, from the cache while its cells' runs are unchanged.
    pub fn get(&self, store: &Store, sweep: i64) -> Result<Arc<Analysis>, PageError> {
        let stamp: Stamp = store
            .runs(Some(sweep))?
            .iter()
            .map(|r| (r.id, r.status, r.ended_at))
            .collect();
        if let Some((kept, analysis)) = self.lock().get(&sweep)
            && *kept == stamp
        {
            return Ok(Arc::clone(analysis));
        }
        // Computed outside the lock: other sweeps' pages need not wait for this one.
        let analysis = Arc::new(Analysis::compute(store, sweep)?);
        let mut kept = self.lock();
        if kept.len() >= KEPT && !kept.contains_key(&sweep) {
            let drop = kept.keys().next().copied();
            drop.map(|k| kept.remove(&k));
        }
        kept.insert(sweep, (stamp, Arc::clone(&analysis)));
        Ok(analysis)
    }

    /// The map, even after a panic elsewhere poisoned it (it holds only finished values).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (Stamp, Arc<Analysis>)>> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
