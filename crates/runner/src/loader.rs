//! Inputs loaded one step ahead: a scoped loader thread reads and crops the next batch (or
//! evaluation group) from the feature cache while the current one trains or predicts.
//!
//! The loader runs the very iterator the caller would have run, with its seeded generators,
//! and hands the items over in order, so what the model sees, and every result, is unchanged
//! (a run's bits do not depend on the loader's timing). Burn tensors are still made on the
//! caller's thread: the loader deals in plain `Vec<f32>`.

use std::sync::mpsc::{Receiver, sync_channel};

/// Items the loader may finish before the consumer takes them (beyond the one it is making).
const AHEAD: usize = 1;

/// Run `consume` over `items`, which a loader thread produces in order up to one item
/// ahead. When `consume` returns early, the loader stops at its next item; a panic on either
/// side reaches the caller.
pub fn ahead<T, R>(
    items: impl Iterator<Item = T> + Send,
    consume: impl FnOnce(&mut Loaded<T>) -> R,
) -> R
where
    T: Send,
{
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

/// The consumer's end of [`ahead`]: the items, in order.
pub struct Loaded<T> {
    receiver: Receiver<T>,
}

impl<T> Iterator for Loaded<T> {
    type Item = T;

    /// `None` once the loader's iterator has ended (or the loader panicked, which the scope
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
        let got: Vec<u32> = ahead((0..1000u32).map(|i| i * 3), |loaded| loaded.collect());
        assert_eq!(got, (0..1000u32).map(|i| i * 3).collect::<Vec<_>>());
    }

    #[test]
    fn an_endless_source_stops_soon_after_the_consumer() {
        let made = AtomicUsize::new(0);
        let endless = (0u64..).inspect(|_| {
            made.fetch_add(1, Ordering::SeqCst);
        });
        let first: Vec<u64> = ahead(endless, |loaded| loaded.take(5).collect());
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
        ahead(source, |loaded| {
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
    #[should_panic(expected = "corrupt item")]
    fn a_loader_panic_reaches_the_caller() {
        let source = (0..3).map(|i| if i == 1 { panic!("corrupt item") } else { i });
        ahead(source, |loaded| loaded.count());
    }
}
