//! Graph storage: each node's level and its neighbour lists in flat `u32` arrays.
//!
//! A list is a count followed by a fixed number of slots, so a node's list sits at a computed
//! offset and growing it never moves other lists. Level 0 (every node) has `2·m` slots per node
//! in one array; upper levels (about one node in `m`) have `m` slots each in a second array,
//! found through a per-node start offset.

use crate::{Error, Result};

/// Highest level a node can get; the level draw is capped here.
pub const MAX_LEVEL: u8 = 16;

/// Marks "no upper lists" in `upper_start`.
const NO_UPPER: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct Graph {
    m: usize,
    levels: Vec<u8>,
    level0: Vec<u32>,
    upper_start: Vec<u32>,
    upper: Vec<u32>,
    entry: Option<u32>,
}

impl Graph {
    pub fn new(m: usize) -> Self {
        Graph {
            m,
            levels: Vec::new(),
            level0: Vec::new(),
            upper_start: Vec::new(),
            upper: Vec::new(),
            entry: None,
        }
    }

    /// Rebuilds a graph from its parts (the byte loader validates them first with
    /// [`Graph::validate`]).
    pub fn from_parts(m: usize, levels: Vec<u8>, level0: Vec<u32>, upper: Vec<u32>) -> Self {
        let mut upper_start = Vec::with_capacity(levels.len());
        let stride = m + 1;
        let mut next = 0usize;
        for &level in &levels {
            if level == 0 {
                upper_start.push(NO_UPPER);
            } else {
                upper_start.push(next as u32);
                next += level as usize * stride;
            }
        }
        Graph {
            m,
            levels,
            level0,
            upper_start,
            upper,
            entry: None,
        }
    }

    /// Slots in a list at `level`.
    #[inline]
    pub fn capacity(&self, level: u8) -> usize {
        if level == 0 {
            2 * self.m
        } else {
            self.m
        }
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    #[inline]
    pub fn level(&self, node: u32) -> u8 {
        self.levels[node as usize]
    }

    pub fn levels(&self) -> &[u8] {
        &self.levels
    }

    pub fn entry(&self) -> Option<u32> {
        self.entry
    }

    pub fn set_entry(&mut self, entry: Option<u32>) {
        self.entry = entry;
    }

    /// Level of the entry point (0 for an empty graph).
    pub fn max_level(&self) -> u8 {
        self.entry.map_or(0, |e| self.level(e))
    }

    /// Flat level-0 array: per node a count and `2·m` slots.
    pub fn level0_raw(&self) -> &[u32] {
        &self.level0
    }

    /// Flat upper-level array: per node with level L ≥ 1, L lists of a count and `m` slots.
    pub fn upper_raw(&self) -> &[u32] {
        &self.upper
    }

    /// Makes room for `additional` more nodes (upper lists are rare and grow on demand).
    pub fn reserve(&mut self, additional: usize) {
        self.levels.reserve(additional);
        self.upper_start.reserve(additional);
        self.level0.reserve(additional * (2 * self.m + 1));
    }

    /// Appends a node with empty lists up to `level`; returns its id. Err when ids or upper-list
    /// offsets would no longer fit in a `u32`.
    pub fn add_node(&mut self, level: u8) -> Result<u32> {
        let upper_end = self.upper.len() + level as usize * (self.m + 1);
        if self.levels.len() >= u32::MAX as usize || upper_end >= NO_UPPER as usize {
            return Err(Error::InvalidArgument("the index is full".into()));
        }
        Ok(self.push_node(level))
    }

    /// [`Graph::add_node`] for callers that know the graph is small enough.
    fn push_node(&mut self, level: u8) -> u32 {
        let node = self.levels.len() as u32;
        let start = if level == 0 {
            NO_UPPER
        } else {
            self.upper.len() as u32
        };
        self.levels.push(level);
        self.upper_start.push(start);
        self.level0.resize(self.level0.len() + 2 * self.m + 1, 0);
        self.upper
            .resize(self.upper.len() + level as usize * (self.m + 1), 0);
        node
    }

    #[inline(always)]
    fn list_offset(&self, node: u32, level: u8) -> usize {
        if level == 0 {
            node as usize * (2 * self.m + 1)
        } else {
            self.upper_start[node as usize] as usize + (level as usize - 1) * (self.m + 1)
        }
    }

    #[inline(always)]
    fn storage(&self, level: u8) -> &[u32] {
        if level == 0 {
            &self.level0
        } else {
            &self.upper
        }
    }

    /// The neighbours of `node` at `level` (which must be ≤ the node's level).
    #[inline(always)]
    pub fn neighbors(&self, node: u32, level: u8) -> &[u32] {
        let at = self.list_offset(node, level);
        let list = self.storage(level);
        let count = list[at] as usize;
        &list[at + 1..at + 1 + count]
    }

    /// Replaces the neighbours of `node` at `level`; `neighbors` must fit the level's capacity.
    pub fn set_neighbors(&mut self, node: u32, level: u8, neighbors: &[u32]) {
        debug_assert!(neighbors.len() <= self.capacity(level));
        let at = self.list_offset(node, level);
        let list = if level == 0 {
            &mut self.level0
        } else {
            &mut self.upper
        };
        list[at] = neighbors.len() as u32;
        list[at + 1..at + 1 + neighbors.len()].copy_from_slice(neighbors);
    }

    /// Appends one neighbour when the list has room; false when it is full.
    pub fn try_push_neighbor(&mut self, node: u32, level: u8, neighbor: u32) -> bool {
        let capacity = self.capacity(level);
        let at = self.list_offset(node, level);
        let list = if level == 0 {
            &mut self.level0
        } else {
            &mut self.upper
        };
        let count = list[at] as usize;
        if count >= capacity {
            return false;
        }
        list[at + 1 + count] = neighbor;
        list[at] += 1;
        true
    }

    /// Checks loaded parts: list counts within capacity, neighbour ids in range, not self, and
    /// present on the list's level (so a walk never reads a level a node does not have).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Format(m));
        let n = self.levels.len();
        for node in 0..n as u32 {
            for level in 0..=self.level(node) {
                let at = self.list_offset(node, level);
                let count = self.storage(level)[at] as usize;
                if count > self.capacity(level) {
                    return bad(format!(
                        "node {node} has {count} neighbours at level {level}"
                    ));
                }
                for &nb in self.neighbors(node, level) {
                    if nb as usize >= n || nb == node || self.level(nb) < level {
                        return bad(format!(
                            "node {node} has an invalid neighbour {nb} at level {level}"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Heap bytes of the levels, offsets and neighbour arrays.
    pub fn heap_bytes(&self) -> usize {
        self.levels.capacity()
            + 4 * (self.level0.capacity() + self.upper_start.capacity() + self.upper.capacity())
    }

    /// A graph holding only the nodes where `keep[node]` is true, renumbered densely in order.
    /// Links to dropped nodes are removed. `new_id[old]` is the new number of kept nodes.
    pub fn compacted(&self, keep: &[bool], new_id: &[u32]) -> Graph {
        let mut out = Graph::new(self.m);
        let mut buffer = Vec::with_capacity(2 * self.m);
        for old in 0..self.len() as u32 {
            if !keep[old as usize] {
                continue;
            }
            let level = self.level(old);
            // A subset of this graph, so its ids and offsets fit.
            let node = out.push_node(level);
            for l in 0..=level {
                buffer.clear();
                buffer.extend(
                    self.neighbors(old, l)
                        .iter()
                        .filter(|&&nb| keep[nb as usize])
                        .map(|&nb| new_id[nb as usize]),
                );
                out.set_neighbors(node, l, &buffer);
            }
        }
        out.entry = self
            .entry
            .filter(|&e| keep[e as usize])
            .map(|e| new_id[e as usize]);
        out.levels.shrink_to_fit();
        out.upper_start.shrink_to_fit();
        out.level0.shrink_to_fit();
        out.upper.shrink_to_fit();
        out
    }
}

/// Level for the node in slot `slot`: geometric with ratio 1/m, drawn from a hash of the seed
/// and the slot so that it does not depend on insertion threads.
pub fn draw_level(seed: u64, slot: u32, m: usize) -> u8 {
    let bits = splitmix64(seed ^ splitmix64(slot as u64));
    // 53 random bits → uniform in (0, 1].
    let uniform = ((bits >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let level = (-uniform.ln() / (m as f64).ln()).floor();
    level.min(MAX_LEVEL as f64) as u8
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_independent_and_bounded() {
        let mut g = Graph::new(2);
        let a = g.add_node(0).unwrap();
        let b = g.add_node(2).unwrap();
        let c = g.add_node(2).unwrap();
        assert!(g.try_push_neighbor(a, 0, b));
        g.set_neighbors(b, 2, &[c]);
        g.set_neighbors(b, 1, &[c, a]);
        g.set_neighbors(c, 1, &[b]);
        for _ in 0..4 {
            g.try_push_neighbor(b, 0, a);
        }
        assert!(!g.try_push_neighbor(b, 0, c), "level 0 holds 2·m");
        assert_eq!(g.neighbors(a, 0), &[b]);
        assert_eq!(g.neighbors(b, 0), &[a; 4]);
        assert_eq!(g.neighbors(b, 1), &[c, a]);
        assert_eq!(g.neighbors(b, 2), &[c]);
        assert_eq!(g.neighbors(c, 1), &[b]);
        assert!(g.neighbors(c, 2).is_empty());
        assert!(
            g.validate().is_err(),
            "a has level 0 but is b's level-1 neighbour"
        );
        g.set_neighbors(b, 1, &[c]);
        g.validate().unwrap();
        g.set_neighbors(c, 0, &[c]);
        assert!(g.validate().is_err(), "a node is not its own neighbour");
    }

    #[test]
    fn levels_are_geometric_and_deterministic() {
        let m = 16;
        let levels: Vec<u8> = (0..100_000).map(|i| draw_level(7, i, m)).collect();
        let above = levels.iter().filter(|&&l| l >= 1).count() as f64 / levels.len() as f64;
        assert!((above - 1.0 / 16.0).abs() < 0.005, "{above}");
        assert!(levels.iter().all(|&l| l <= MAX_LEVEL));
        assert_eq!(
            levels[..50],
            (0..50).map(|i| draw_level(7, i, m)).collect::<Vec<_>>()[..]
        );
        assert_ne!(
            levels,
            (0..100_000)
                .map(|i| draw_level(8, i, m))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn compaction_drops_links_to_removed_nodes() {
        let mut g = Graph::new(2);
        for _ in 0..3 {
            g.add_node(0).unwrap();
        }
        g.set_neighbors(0, 0, &[1, 2]);
        g.set_neighbors(2, 0, &[0, 1]);
        g.set_entry(Some(2));
        let c = g.compacted(&[true, false, true], &[0, 0, 1]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.neighbors(0, 0), &[1]);
        assert_eq!(c.neighbors(1, 0), &[0]);
        assert_eq!(c.entry(), Some(1));
    }
}
