//! Coverage: the running EC2 instances that patching never reaches because Systems Manager does not
//! manage them (no agent, no instance profile, no route to the endpoints). Patch Manager cannot
//! report on them, so no compliance figure shows them: only EC2 knows they run.
//!
//! The count is a join of two listings too large to hold as records: the managed instances
//! (DescribeInstanceInformation) and the EC2 instances (DescribeInstances). Both are read at once and
//! kept packed, never as records: the managed ids in 16 bytes an instance (8 MB at 500,000), the EC2
//! instances in 16 too (id, state and the interned patch-group tag; 8 MB at 500,000).
//!
//! The same join gives the fleet's grouping: how many managed instances carry a patch-group tag. When
//! every managed node is an EC2 instance EC2 lists, their EC2 tags are the tags Systems Manager
//! filters on, and the second pass over DescribeInstanceInformation (50 a page, filtered by tag) is
//! not needed: at 500,000 instances that is 10,000 SSM calls fewer.

use std::collections::{BTreeMap, HashMap};

use crate::aggregate::{DataPoint, FLEET, GroupFigures, Unit};

/// Coverage data points per group: `UnmanagedInstances`.
pub const POINTS_PER_GROUP: usize = 1;

/// EC2 instance ids of managed instances, packed and sorted for lookup.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ManagedIds {
    packed: Vec<u128>,
    sorted: bool,
}

/// `i-` and 8 or 17 hexadecimal digits, as 128 bits: the digits' value, and their count in the top
/// byte so that `i-0000abcd` and `i-00000000000000abcd` (different instances) stay apart. Anything
/// else (hybrid `mi-` nodes, malformed ids) is not an EC2 instance id.
fn pack(id: &str) -> Option<u128> {
    let digits = id.strip_prefix("i-")?;
    if !matches!(digits.len(), 8 | 17) || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let value = u128::from_str_radix(digits, 16).ok()?;
    Some(value | ((digits.len() as u128) << 120))
}

/// Whether `id` is an EC2 instance id (hybrid `mi-…` nodes are not).
pub fn is_instance_id(id: &str) -> bool {
    pack(id).is_some()
}

impl ManagedIds {
    /// Adds a managed instance's id; ids that are not EC2 instance ids are not kept. Returns whether
    /// it was an EC2 instance id.
    pub fn insert(&mut self, id: &str) -> bool {
        match pack(id) {
            Some(packed) => {
                self.packed.push(packed);
                self.sorted = false;
                true
            }
            None => false,
        }
    }

    /// Sorts the ids for lookup (done once, after the listing).
    pub fn seal(&mut self) {
        self.packed.sort_unstable();
        self.packed.dedup();
        self.sorted = true;
    }

    /// Whether `id` is a managed instance. Call [`ManagedIds::seal`] after the last insert.
    pub fn contains(&self, id: &str) -> bool {
        debug_assert!(self.sorted || self.packed.is_empty(), "lookup before seal");
        pack(id).is_some_and(|packed| self.contains_packed(packed))
    }

    fn contains_packed(&self, packed: u128) -> bool {
        self.packed.binary_search(&packed).is_ok()
    }

    /// EC2 instances held.
    pub fn len(&self) -> usize {
        self.packed.len()
    }

    /// Whether no EC2 instance is held.
    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }
}

/// Running instances and the unmanaged among them, for the fleet or one patch group.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Running EC2 instances.
    pub running: u64,
    /// Of those, instances Systems Manager does not manage.
    pub unmanaged: u64,
}

impl Reach {
    fn add(&mut self, managed: bool) {
        self.running += 1;
        self.unmanaged += u64::from(!managed);
    }
}

/// The fleet's coverage: every running instance, and per patch group (by the instance's EC2 tag) those
/// tagged into one.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Coverage {
    /// The whole fleet.
    pub fleet: Reach,
    /// By patch-group tag value (instances without one are only in `fleet`).
    pub groups: BTreeMap<String, Reach>,
}

impl Coverage {
    /// Counts one running instance, in `group` when it carries a patch-group tag.
    pub fn add(&mut self, id: &str, group: Option<&str>, managed: &ManagedIds) {
        self.count(group, managed.contains(id));
    }

    fn count(&mut self, group: Option<&str>, is_managed: bool) {
        self.fleet.add(is_managed);
        if let Some(group) = group.filter(|g| !g.is_empty()) {
            self.groups
                .entry(group.to_owned())
                .or_default()
                .add(is_managed);
        }
    }
}

/// Every EC2 instance the account lists, in any state, packed for the join with the managed ones.
#[derive(Debug, Default)]
pub struct Ec2Fleet {
    instances: Vec<Ec2Entry>,
    groups: Vec<String>,
    group_index: HashMap<String, u32>,
}

/// The flag bit of a running instance in [`Ec2Fleet`].
const RUNNING: u32 = 1 << 31;

/// One EC2 instance in 16 bytes rather than the 32 a `(u128, u32)` pair takes with its alignment: a
/// packed id uses only its low 68 bits (17 hexadecimal digits) and its top byte (the digit count), so
/// `high` holds value bits 64–67 and, above them, the count.
#[derive(Debug, Clone, Copy)]
struct Ec2Entry {
    low: u64,
    high: u32,
    /// [`RUNNING`] and the patch-group tag's index in `groups` plus one (0: none).
    flags: u32,
}

impl Ec2Entry {
    fn new(packed: u128, flags: u32) -> Self {
        Self {
            low: packed as u64,
            high: ((packed >> 64) as u32 & 0xf) | (((packed >> 120) as u32) << 4),
            flags,
        }
    }

    fn packed(self) -> u128 {
        u128::from(self.low)
            | (u128::from(self.high & 0xf) << 64)
            | (u128::from(self.high >> 4) << 120)
    }
}

impl Ec2Fleet {
    /// Adds an instance: whether it runs, and the patch group its tag names (if any). An id that is
    /// not an EC2 instance id is not kept.
    pub fn insert(&mut self, id: &str, running: bool, group: Option<&str>) {
        let Some(packed) = pack(id) else {
            return;
        };
        let group = match group.filter(|g| !g.is_empty()) {
            None => 0,
            Some(name) => match self.group_index.get(name) {
                Some(&index) => index + 1,
                None => {
                    let index = self.groups.len() as u32;
                    self.groups.push(name.to_owned());
                    self.group_index.insert(name.to_owned(), index);
                    index + 1
                }
            },
        };
        self.instances.push(Ec2Entry::new(
            packed,
            group | if running { RUNNING } else { 0 },
        ));
    }

    /// Instances held.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Whether no instance is held.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Sorts the instances by id for [`Ec2Fleet::placement`] (done once, after the listing; the
    /// join does not need it).
    pub fn seal(&mut self) {
        self.instances.sort_unstable_by_key(|entry| entry.packed());
    }

    /// Where EC2's listing puts `id`: `None` when EC2 did not list it (a hybrid node, another
    /// account's, gone), else the patch group its tag names, if any. Call [`Ec2Fleet::seal`] first.
    pub fn placement(&self, id: &str) -> Option<Option<&str>> {
        let packed = pack(id)?;
        let at = self
            .instances
            .binary_search_by_key(&packed, |entry| entry.packed())
            .ok()?;
        Some(match self.instances[at].flags & !RUNNING {
            0 => None,
            index => self.groups.get(index as usize - 1).map(String::as_str),
        })
    }

    /// The join with the managed instances (sealed).
    pub fn join(&self, managed: &ManagedIds) -> Joined {
        let mut joined = Joined::default();
        for entry in &self.instances {
            let (packed, flags) = (entry.packed(), entry.flags);
            let is_managed = managed.contains_packed(packed);
            let group = match flags & !RUNNING {
                0 => None,
                index => self.groups.get(index as usize - 1).map(String::as_str),
            };
            if flags & RUNNING != 0 {
                joined.coverage.count(group, is_managed);
            }
            if is_managed {
                joined.managed_listed += 1;
                if let Some(group) = group {
                    joined.managed_grouped += 1;
                    if !joined.managed_groups.contains(group) {
                        joined.managed_groups.insert(group.to_owned());
                    }
                }
            }
        }
        joined
    }
}

/// What the join of EC2's listing with the managed instances says.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Joined {
    /// The running instances and the unmanaged among them.
    pub coverage: Coverage,
    /// Managed instances EC2 listed (in any state).
    pub managed_listed: u64,
    /// Of those, instances whose EC2 tags name a patch group.
    pub managed_grouped: u64,
    /// The patch groups those tags name.
    pub managed_groups: std::collections::BTreeSet<String>,
}

impl Joined {
    /// How many managed instances carry a patch-group tag, when EC2's listing accounts for every one
    /// of them: `managed_ec2` EC2 instances and `other_nodes` non-EC2 nodes (hybrid `mi-…`, whose tags
    /// only Systems Manager holds) were managed. `None`: EC2 cannot tell (a hybrid node, or a managed
    /// instance EC2 did not list), and Systems Manager's tag filter must count them.
    pub fn grouped(&self, managed_ec2: usize, other_nodes: u64) -> Option<u64> {
        (other_nodes == 0 && self.managed_listed == managed_ec2 as u64)
            .then_some(self.managed_grouped)
    }
}

/// The patch group an instance's tags put it in: the value of the first of `tag_keys` it carries, as
/// Patch Manager prefers `Patch Group` to `PatchGroup`.
pub fn group_of<'a>(
    tags: impl Fn(&str) -> Option<&'a str>,
    tag_keys: &[String],
) -> Option<&'a str> {
    tag_keys.iter().find_map(|key| tags(key))
}

/// `UnmanagedInstances` for the fleet and for every published group (0 when none of its tagged
/// running instances is unmanaged: the count is exact), and for a group only EC2's tags name when some
/// of its instances are unmanaged (a group whose instances all went unmanaged reports nothing else).
pub fn points(coverage: &Coverage, published: &[(String, GroupFigures)]) -> Vec<DataPoint> {
    let point = |group: &str, unmanaged: u64| DataPoint {
        metric: "UnmanagedInstances",
        patch_group: group.to_owned(),
        unit: Unit::Count,
        value: unmanaged as f64,
    };
    let mut points = vec![point(FLEET, coverage.fleet.unmanaged)];
    for (group, _) in published {
        let unmanaged = coverage
            .groups
            .get(group)
            .map_or(0, |reach| reach.unmanaged);
        points.push(point(group, unmanaged));
    }
    for (group, reach) in &coverage.groups {
        let is_published = published.iter().any(|(name, _)| name == group);
        if !is_published && reach.unmanaged > 0 {
            points.push(point(group, reach.unmanaged));
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managed(ids: &[&str]) -> ManagedIds {
        let mut set = ManagedIds::default();
        for id in ids {
            set.insert(id);
        }
        set.seal();
        set
    }

    #[test]
    fn ids_pack_by_value_and_length() {
        let set = managed(&["i-0123456789abcdef0", "i-0000abcd", "mi-0123456789abcdef0"]);
        assert_eq!(set.len(), 2, "the hybrid node is not an EC2 instance");
        assert!(set.contains("i-0123456789abcdef0"));
        assert!(set.contains("i-0000abcd"));
        assert!(
            !set.contains("i-000000000000abcd"),
            "same digits' value, other id"
        );
        assert!(!set.contains("i-0123456789abcdef1"));
        assert!(!set.contains("mi-0123456789abcdef0"));
        for bad in [
            "",
            "i-",
            "i-+123abcd",
            "i-0123456789abcdeg0",
            "i-0123456789abcdef01",
            "x-0000abcd",
        ] {
            assert_eq!(pack(bad), None, "{bad:?}");
        }
        assert!(
            set.contains("i-0123456789ABCDEF0"),
            "hex digits in either case"
        );
    }

    #[test]
    fn an_ec2_entry_keeps_every_id_and_flag_in_16_bytes() {
        assert_eq!(std::mem::size_of::<Ec2Entry>(), 16);
        for id in [
            "i-00000000",
            "i-0000abcd",
            "i-ffffffff",
            "i-00000000000000000",
            "i-0000000000000abcd",
            "i-fffffffffffffffff",
            "i-f0000000000000001",
            "i-10000000000000000",
        ] {
            let packed = pack(id).unwrap();
            for flags in [0, 1, RUNNING, RUNNING | 0x7fff_ffff] {
                let entry = Ec2Entry::new(packed, flags);
                assert_eq!(entry.packed(), packed, "{id}");
                assert_eq!(entry.flags, flags);
            }
        }
    }

    #[test]
    fn a_sealed_ec2_fleet_places_each_id_in_its_tagged_group() {
        let mut fleet = Ec2Fleet::default();
        // Inserted out of order, as EC2's pages come; the same value in both id lengths.
        fleet.insert("i-0000000000000abcd", true, Some("db"));
        fleet.insert("i-0000abcd", false, Some("web"));
        fleet.insert("i-00000001", true, None);
        fleet.insert("i-fffffffffffffffff", true, Some(""));
        fleet.seal();
        assert_eq!(fleet.placement("i-0000abcd"), Some(Some("web")));
        assert_eq!(fleet.placement("i-0000000000000abcd"), Some(Some("db")));
        assert_eq!(fleet.placement("i-00000001"), Some(None));
        assert_eq!(
            fleet.placement("i-fffffffffffffffff"),
            Some(None),
            "an empty tag is no group"
        );
        assert_eq!(fleet.placement("i-00000002"), None, "not listed");
        assert_eq!(fleet.placement("mi-0123456789abcdef0"), None, "hybrid");
    }

    #[test]
    fn duplicates_are_held_once() {
        let set = managed(&["i-0000abcd", "i-0000abcd"]);
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn coverage_counts_the_unmanaged_per_group_and_for_the_fleet() {
        let set = managed(&["i-00000001", "i-00000002", "i-00000003"]);
        let mut coverage = Coverage::default();
        coverage.add("i-00000001", Some("web"), &set);
        coverage.add("i-00000009", Some("web"), &set);
        coverage.add("i-00000002", Some("db"), &set);
        coverage.add("i-0000000a", None, &set);
        coverage.add("i-0000000b", Some(""), &set);
        assert_eq!(
            coverage.fleet,
            Reach {
                running: 5,
                unmanaged: 3
            }
        );
        assert_eq!(
            coverage.groups["web"],
            Reach {
                running: 2,
                unmanaged: 1
            }
        );
        assert_eq!(
            coverage.groups["db"],
            Reach {
                running: 1,
                unmanaged: 0
            }
        );
        assert_eq!(
            coverage.groups.len(),
            2,
            "no group for untagged or empty tags"
        );
    }

    #[test]
    fn points_cover_every_published_group_and_unmanaged_tag_only_groups() {
        let set = managed(&["i-00000001"]);
        let mut coverage = Coverage::default();
        coverage.add("i-00000001", Some("web"), &set);
        coverage.add("i-00000002", Some("typo-group"), &set);
        coverage.add(
            "i-00000003",
            Some("all-managed-elsewhere"),
            &managed(&["i-00000003"]),
        );
        let published = vec![
            ("db".to_owned(), GroupFigures::default()),
            ("web".to_owned(), GroupFigures::default()),
        ];
        let found: Vec<(String, f64)> = points(&coverage, &published)
            .into_iter()
            .map(|p| {
                assert_eq!(p.metric, "UnmanagedInstances");
                (p.patch_group, p.value)
            })
            .collect();
        assert_eq!(
            found,
            [
                (FLEET.to_owned(), 1.0),
                ("db".to_owned(), 0.0),
                ("web".to_owned(), 0.0),
                ("typo-group".to_owned(), 1.0),
            ]
        );
    }

    #[test]
    fn the_join_counts_running_unmanaged_instances_and_grouped_managed_ones() {
        let set = managed(&["i-00000001", "i-00000002", "i-00000003", "i-00000004"]);
        let mut ec2 = Ec2Fleet::default();
        ec2.insert("i-00000001", true, Some("web"));
        ec2.insert("i-00000002", false, Some("web"));
        ec2.insert("i-00000003", true, None);
        ec2.insert("i-00000004", true, Some("db"));
        ec2.insert("i-00000009", true, Some("web"));
        ec2.insert("i-0000000a", false, Some("db"));
        ec2.insert("i-0000000b", true, Some(""));
        ec2.insert("i-0000000c", false, Some("only-unmanaged"));
        ec2.insert("not-an-id", true, Some("web"));
        assert_eq!(ec2.len(), 8);
        let joined = ec2.join(&set);
        assert_eq!(
            joined.coverage.fleet,
            Reach {
                running: 5,
                unmanaged: 2
            },
            "stopped instances are not counted as running"
        );
        assert_eq!(
            joined.coverage.groups["web"],
            Reach {
                running: 2,
                unmanaged: 1
            }
        );
        assert_eq!(joined.coverage.groups.get("db").map(|r| r.running), Some(1));
        assert_eq!(joined.managed_listed, 4, "a stopped managed instance too");
        assert_eq!(joined.managed_grouped, 3);
        assert_eq!(
            joined
                .managed_groups
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["db", "web"],
            "the groups managed instances are tagged into, not unmanaged ones'"
        );
        assert_eq!(joined.grouped(set.len(), 0), Some(3));
        assert_eq!(joined.grouped(set.len(), 1), None, "a hybrid node");
        assert_eq!(
            joined.grouped(set.len() + 1, 0),
            None,
            "a managed instance EC2 did not list"
        );
    }

    #[test]
    fn the_join_agrees_with_coverage_counted_instance_by_instance() {
        let ids: Vec<String> = (0..300).map(|n| format!("i-{n:017x}")).collect();
        let set = managed(
            &ids.iter()
                .step_by(3)
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let group = |n: usize| ["a", "b", "c", ""][n % 4];
        let mut ec2 = Ec2Fleet::default();
        let mut one_by_one = Coverage::default();
        for (n, id) in ids.iter().enumerate() {
            let running = n % 5 != 0;
            ec2.insert(id, running, Some(group(n)));
            if running {
                one_by_one.add(id, Some(group(n)), &set);
            }
        }
        assert_eq!(ec2.join(&set).coverage, one_by_one);
    }

    #[test]
    fn the_first_tag_key_present_names_the_group() {
        let keys = vec!["Patch Group".to_owned(), "PatchGroup".to_owned()];
        let both = |key: &str| match key {
            "Patch Group" => Some("web"),
            "PatchGroup" => Some("db"),
            _ => None,
        };
        assert_eq!(group_of(both, &keys), Some("web"));
        let second = |key: &str| (key == "PatchGroup").then_some("db");
        assert_eq!(group_of(second, &keys), Some("db"));
        assert_eq!(group_of(|_| None, &keys), None);
    }
}
