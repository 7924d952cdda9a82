//! Inputs loaded one step ahead: a scoped loader thread reads and crops the next batch (or
//! evaluation group) from the feature cache while the current one trains or predicts.
//!
//! The loader runs the very iterator the caller would have run, with its seeded generators,
//! and hands the items over in order, so what the model sees, and every result, is unchanged
//! (a run's bits do not depend on the loader's timing). Burn tensors are still made on the
//! caller's thread: the loader deals in plain `Vec<f32>`.
//!
//! A run given one thread keeps to one ([`Loading::for_threads`]): the main job runs a
//! one-thread worker per core, where a loader per worker only competes with the other
//! worker's training (measured: a whole sweep ~10 % slower).

use std::sync::mpsc::{Receiver, sync_channel};

/// Items the loader may finish before the consumer takes them (beyond the one it is making).
const AHEAD: usize = 1;

/// Where the next items are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loading {
    /// On the consumer's thread, when it asks for them.
    Inline,
    /// On a loader thread, one item ahead.
    Ahead,
}

impl Loading {
    /// A loader thread only where the work may use more than one thread.
    pub fn for_threads(threads: usize) -> Self {
        if threads > 1 {
            Self::Ahead
        } else {
            Self::Inline
        }
    }
}

/// Run `consume` over `items`, made as `loading` says. With a loader thread, at most one item
/// waits ahead; when `consume` returns early, the loader stops at its next item; a panic on
/// either side reaches the caller.
pub fn load<T, R>(
    loading: Loading,
    items: impl Iterator<Item = T> + Send,
    consume: impl FnOnce(&mut dyn Iterator<Item = T>) -> R,
) -> R
where
    T: Send,
{
    if loading == Loading::Inline {
        let mut items = items;
        return consume(&mut items);
    }
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel(AHEAD);
        let loader = scope.spawn(move || {
            for item in items {
                // Fails once the consumer has dropped its end: nothing more is wanted.
                if sender.send(item).is_err() {
                    break;
                }
            }
        });
        let mut loaded = Loaded { receiver };
        let result = consume(&mut loaded);
        // Without a receiver the loader stops at its next send instead of running on.
        drop(loaded);
        // Joined here, a loader's panic keeps its own message (the scope's would not).
        if let Err(panic) = loader.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

/// The consumer's end of [`load`] with a loader thread: the items, in order.
struct Loaded<T> {
    receiver: Receiver<T>,
}

impl<T> Iterator for Loaded<T> {
    type Item = T;

    /// `None` once the loader's iterator has ended (or the loader panicked, which [`load`]
    /// then re-raises).
    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn items_arrive_in_order_and_all_of_them() {
        let got: Vec<u32> = load(Loading::Ahead, (0..1000u32).map(|i| i * 3), |loaded| {
            loaded.collect()
        });
        assert_eq!(got, (0..1000u32).map(|i| i * 3).collect::<Vec<_>>());
    }

    #[test]
    fn an_endless_source_stops_soon_after_the_consumer() {
        let made = AtomicUsize::new(0);
        let endless = (0u64..).inspect(|_| {
            made.fetch_add(1, Ordering::SeqCst);
        });
        let first: Vec<u64> = load(Loading::Ahead, endless, |loaded| loaded.take(5).collect());
        assert_eq!(first, [0, 1, 2, 3, 4]);
        // Taken 5, at most AHEAD buffered and one more made whose send failed.
        let made = made.load(Ordering::SeqCst);
        assert!(made <= 5 + AHEAD + 1, "the loader made {made} items");
    }

    #[test]
    fn the_loader_runs_ahead_of_the_consumer() {
        let made = AtomicUsize::new(0);
        let source = (0..10).inspect(|_| {
            made.fetch_add(1, Ordering::SeqCst);
        });
        load(Loading::Ahead, source, |loaded| {
            assert_eq!(loaded.next(), Some(0));
            // The loader makes item 1 (and buffers it) while the consumer holds item 0.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while made.load(Ordering::SeqCst) < 2 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the loader never ran ahead"
                );
                std::thread::yield_now();
            }
        });
    }

    #[test]
    fn inline_loading_makes_each_item_when_asked() {
        let made = AtomicUsize::new(0);
        let source = (0..10).inspect(|_| {
            made.fetch_add(1, Ordering::SeqCst);
        });
        let got: Vec<i32> = load(Loading::for_threads(1), source, |loaded| {
            let first = loaded.take(3).collect();
            assert_eq!(made.load(Ordering::SeqCst), 3, "nothing made ahead");
            first
        });
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(Loading::for_threads(2), Loading::Ahead);
    }

    #[test]
    #[should_panic(expected = "corrupt item")]
    fn a_loader_panic_reaches_the_caller() {
        let source = (0..3).map(|i| if i == 1 { panic!("corrupt item") } else { i });
        load(Loading::Ahead, source, |loaded| loaded.count());
    }
}
