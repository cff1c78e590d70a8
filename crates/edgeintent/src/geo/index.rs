//! The fence index: an `rstar` R-tree over fence zones on a tangent plane,
//! walked by recursion so queries allocate nothing.

use rstar::{ParentNode, PointDistance, RTree, RTreeNode, RTreeObject, AABB};

use super::config::FenceDef;
use super::geometry::Plane;

/// A fence's outer zone (fence plus buffer) in the R-tree, on the plane.
#[derive(Debug, Clone, Copy)]
struct Zone {
    pos: [f64; 2],
    reach_m: f64,
    index: u32,
}

pub(super) fn plane_distance(a: &[f64; 2], b: &[f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

impl RTreeObject for Zone {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        let (r, p) = (self.reach_m, self.pos);
        AABB::from_corners([p[0] - r, p[1] - r], [p[0] + r, p[1] + r])
    }
}

impl PointDistance for Zone {
    /// Squared distance from the point to the zone's disk (0 inside it).
    fn distance_2(&self, point: &[f64; 2]) -> f64 {
        (plane_distance(&self.pos, point) - self.reach_m)
            .max(0.0)
            .powi(2)
    }

    fn contains_point(&self, point: &[f64; 2]) -> bool {
        plane_distance(&self.pos, point) <= self.reach_m
    }
}

/// The fences in an R-tree on a local tangent plane: nearest-zone and
/// within-distance queries that never under-report a candidate.
#[derive(Debug, Clone)]
pub struct FenceIndex {
    plane: Plane,
    tree: RTree<Zone>,
}

/// The nearest fence zone (fence plus buffer) to a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    /// The fence's position in the config's `fences`.
    pub index: u32,
    /// Metres from the point to the zone's outer edge (0 inside the zone): a
    /// lower bound on the great-circle distance, within a few parts in a
    /// thousand near the fences.
    pub distance_m: f64,
}

impl FenceIndex {
    /// Bulk-loads the fences, projected on the plane through their centre.
    pub fn new(fences: &[FenceDef]) -> FenceIndex {
        Self::on_plane(fences, Plane::centred_on(fences))
    }

    /// Bulk-loads the fences, projected on the plane touching the Earth at
    /// (lat, lon): the most precise choice for queries near that point.
    pub fn centred_at(fences: &[FenceDef], lat: f64, lon: f64) -> FenceIndex {
        Self::on_plane(fences, Plane::at(lat, lon))
    }

    /// The point where the index's plane touches the Earth.
    pub fn origin(&self) -> (f64, f64) {
        self.plane.origin
    }

    fn on_plane(fences: &[FenceDef], plane: Plane) -> FenceIndex {
        let zones = fences
            .iter()
            .enumerate()
            .map(|(i, f)| Zone {
                pos: plane.project(f.lat, f.lon),
                reach_m: f.radius_m + f.buffer_m,
                index: i as u32,
            })
            .collect();
        FenceIndex {
            plane,
            tree: RTree::bulk_load(zones),
        }
    }

    pub(super) fn project(&self, lat: f64, lon: f64) -> [f64; 2] {
        self.plane.project(lat, lon)
    }

    /// The zone nearest to a point (0 m when the point is inside one).
    pub fn nearest(&self, lat: f64, lon: f64) -> Option<Nearest> {
        let mut best = (f64::INFINITY, None);
        nearest_in(self.tree.root(), self.project(lat, lon), false, &mut best);
        best.1.map(|index| Nearest {
            index,
            distance_m: best.0,
        })
    }

    /// The nearest zone the point is not inside (for sampling: the next
    /// boundary it could cross).
    pub(super) fn nearest_outside(&self, p: [f64; 2]) -> Option<f64> {
        let mut best = (f64::INFINITY, None);
        nearest_in(self.tree.root(), p, true, &mut best);
        best.1.map(|_| best.0)
    }

    /// Calls `f` with every fence whose zone may be within `slack_m` of the point.
    pub(super) fn within(&self, p: [f64; 2], slack_m: f64, mut f: impl FnMut(u32)) {
        within_in(self.tree.root(), p, slack_m * slack_m, &mut f);
    }
}

// Depth-first searches over rstar's nodes. rstar's own query iterators keep
// their heaps and stacks inline only up to a few dozen entries and then
// allocate; recursing instead keeps the per-fix path allocation-free (the
// depth is the tree's, about log6 of the fence count).

/// Children per node the ordered search sorts on the stack (rstar's default
/// nodes hold at most 6; larger ones are searched in their own order).
const SORTED_CHILDREN: usize = 16;

/// Branch and bound, nearest child first: the zone with the smallest
/// distance from `p` (skipping zones that contain it, when `outside_only`).
fn nearest_in(
    node: &ParentNode<Zone>,
    p: [f64; 2],
    outside_only: bool,
    best: &mut (f64, Option<u32>),
) {
    let children = node.children();
    let mut order = [(0.0f64, 0usize); SORTED_CHILDREN];
    let n = children.len().min(SORTED_CHILDREN);
    for (slot, (i, child)) in order.iter_mut().zip(children.iter().enumerate()) {
        let d2 = match child {
            RTreeNode::Leaf(z) => z.distance_2(&p),
            RTreeNode::Parent(c) => c.envelope().distance_2(&p),
        };
        *slot = (d2, i);
    }
    order[..n].sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let rest = (n..children.len()).map(|i| (0.0, i));
    for (d2, i) in order[..n].iter().copied().chain(rest) {
        if d2 > best.0 * best.0 {
            if i < n {
                // Sorted: everything after is farther still.
                break;
            }
            continue;
        }
        match &children[i] {
            RTreeNode::Leaf(z) => {
                let d = (plane_distance(&z.pos, &p) - z.reach_m).max(0.0);
                if d < best.0 && !(outside_only && d == 0.0) {
                    *best = (d, Some(z.index));
                }
            }
            RTreeNode::Parent(c) => nearest_in(c, p, outside_only, best),
        }
    }
}

/// Every zone within `max_d2` (squared metres) of `p`.
fn within_in(node: &ParentNode<Zone>, p: [f64; 2], max_d2: f64, f: &mut impl FnMut(u32)) {
    for child in node.children() {
        match child {
            RTreeNode::Leaf(z) => {
                if z.distance_2(&p) <= max_d2 {
                    f(z.index);
                }
            }
            RTreeNode::Parent(n) => {
                if n.envelope().distance_2(&p) <= max_d2 {
                    within_in(n, p, max_d2, f);
                }
            }
        }
    }
}
