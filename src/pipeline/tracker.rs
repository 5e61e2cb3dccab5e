//! In-order offset tracking: posts are scanned in parallel and their alerts
//! acknowledged in any order, but a partition's offset may only move past a
//! post once every post before it is finished too.
//!
//! The unit is a batch: the consumer hands posts to the workers in batches,
//! and a batch registers, for each partition it holds posts of, the offset
//! after its last post there. When a batch is finished (scanned, every alert
//! and dead letter acknowledged), the offsets that can be stored are those of
//! the finished batches at the front of each partition's queue. Like Vector's
//! ordered finalizer, but keyed by partition, so one slow partition never
//! holds back another.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A topic and a partition.
pub type TopicPartition = (Arc<str>, i32);

#[derive(Debug)]
struct Entry {
    batch: u64,
    next_offset: i64,
    done: bool,
}

/// Batches in flight, per partition, in consumption order.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<TopicPartition, VecDeque<Entry>>,
}

impl OffsetTracker {
    /// An empty tracker.
    pub fn new() -> OffsetTracker {
        OffsetTracker::default()
    }

    /// Records that `batch` holds posts of `tp` up to `next_offset - 1`.
    /// Batches must be registered in the order their posts were consumed.
    pub fn register(&mut self, batch: u64, tp: &TopicPartition, next_offset: i64) {
        self.partitions
            .entry(tp.clone())
            .or_default()
            .push_back(Entry {
                batch,
                next_offset,
                done: false,
            });
    }

    /// Marks `batch` finished on the partitions `tps` and appends to `out`
    /// the offsets that may now be stored (at most one per partition: the
    /// furthest one). A batch of a partition that was forgotten is ignored.
    pub fn complete(
        &mut self,
        batch: u64,
        tps: &[TopicPartition],
        out: &mut Vec<(TopicPartition, i64)>,
    ) {
        for tp in tps {
            let Some(queue) = self.partitions.get_mut(tp) else {
                continue;
            };
            let Some(entry) = queue.iter_mut().find(|e| e.batch == batch) else {
                continue;
            };
            entry.done = true;
            let mut store = None;
            while queue.front().is_some_and(|e| e.done) {
                store = queue.pop_front().map(|e| e.next_offset);
            }
            if let Some(offset) = store {
                out.push((tp.clone(), offset));
            }
            if queue.is_empty() {
                self.partitions.remove(tp);
            }
        }
    }

    /// Batches of `tp` not finished yet.
    pub fn pending(&self, tp: &TopicPartition) -> usize {
        self.partitions.get(tp).map_or(0, VecDeque::len)
    }

    /// Whether no batch is in flight on any partition.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// Drops everything in flight on `tp` (the partition was taken away
    /// before its batches finished): their offsets will never be stored, so
    /// the partition's next owner reads those posts again.
    pub fn forget(&mut self, tp: &TopicPartition) -> usize {
        self.partitions.remove(tp).map_or(0, |q| q.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        (Arc::from("posts"), p)
    }

    fn complete(t: &mut OffsetTracker, batch: u64, tps: &[TopicPartition]) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        t.complete(batch, tps, &mut out);
        out.into_iter().map(|(tp, o)| (tp.1, o)).collect()
    }

    #[test]
    fn a_later_batch_waits_for_the_earlier_one() {
        let mut t = OffsetTracker::new();
        t.register(1, &tp(0), 10);
        t.register(2, &tp(0), 20);
        t.register(3, &tp(0), 30);
        assert_eq!(complete(&mut t, 2, &[tp(0)]), vec![]);
        assert_eq!(complete(&mut t, 3, &[tp(0)]), vec![]);
        assert_eq!(t.pending(&tp(0)), 3);
        // The first batch releases all three at once: only the furthest
        // offset is stored.
        assert_eq!(complete(&mut t, 1, &[tp(0)]), vec![(0, 30)]);
        assert!(t.is_empty());
    }

    #[test]
    fn partitions_advance_independently() {
        let mut t = OffsetTracker::new();
        t.register(1, &tp(0), 5);
        t.register(1, &tp(1), 7);
        t.register(2, &tp(1), 9);
        t.register(3, &tp(0), 11);
        assert_eq!(complete(&mut t, 2, &[tp(1)]), vec![]);
        assert_eq!(complete(&mut t, 1, &[tp(0), tp(1)]), vec![(0, 5), (1, 9)]);
        assert_eq!(t.pending(&tp(0)), 1);
        assert_eq!(t.pending(&tp(1)), 0);
    }

    #[test]
    fn a_forgotten_partition_never_stores_again() {
        let mut t = OffsetTracker::new();
        t.register(1, &tp(0), 5);
        t.register(2, &tp(0), 8);
        assert_eq!(t.forget(&tp(0)), 2);
        assert_eq!(complete(&mut t, 1, &[tp(0)]), vec![]);
        // Reassigned later: new batches start a new queue; the old batch's
        // late completion does not touch it.
        t.register(3, &tp(0), 12);
        assert_eq!(complete(&mut t, 2, &[tp(0)]), vec![]);
        assert_eq!(complete(&mut t, 3, &[tp(0)]), vec![(0, 12)]);
    }

    #[test]
    fn any_completion_order_stores_monotonic_offsets_ending_at_the_last() {
        // Every permutation of 6 batches over 2 partitions.
        let batches: Vec<(u64, Vec<(i32, i64)>)> = (1..=6u64)
            .map(|b| {
                let parts = if b % 2 == 0 {
                    vec![(0, b as i64 * 10)]
                } else {
                    vec![(0, b as i64 * 10), (1, b as i64 * 10)]
                };
                (b, parts)
            })
            .collect();
        let mut order: Vec<usize> = (0..batches.len()).collect();
        let mut count = 0;
        permute(&mut order, 0, &mut |perm| {
            count += 1;
            let mut t = OffsetTracker::new();
            for (b, parts) in &batches {
                for (p, o) in parts {
                    t.register(*b, &tp(*p), *o);
                }
            }
            let mut last = [0i64; 2];
            let mut done = vec![false; batches.len()];
            for &i in perm {
                let (b, parts) = &batches[i];
                let tps: Vec<TopicPartition> = parts.iter().map(|(p, _)| tp(*p)).collect();
                done[i] = true;
                for (p, o) in complete(&mut t, *b, &tps) {
                    assert!(o > last[p as usize], "offsets go backwards");
                    // Every batch at or before this offset is done.
                    for (j, (_, parts)) in batches.iter().enumerate() {
                        if parts.iter().any(|(pp, oo)| *pp == p && *oo <= o) {
                            assert!(done[j], "stored past an unfinished batch");
                        }
                    }
                    last[p as usize] = o;
                }
            }
            assert_eq!(last, [60, 50]);
            assert!(t.is_empty());
        });
        assert_eq!(count, 720);
    }

    fn permute(v: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
        if k == v.len() {
            f(v);
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }
}
