//! `FieldSet`: a trie of path elements, the ownership record of one manager. Each node holds
//! sorted `members` (paths that end here) and sorted `children` (paths that continue); all set
//! algebra is a merge-join over those sorted vectors.

use super::element::PathElement;
use std::cmp::Ordering;

/// A set of field paths (structured-merge-diff's `fieldpath.Set`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet {
    pub(crate) members: Vec<PathElement>,
    pub(crate) children: Vec<(PathElement, FieldSet)>,
}

impl FieldSet {
    /// An empty set.
    pub fn new() -> Self {
        FieldSet::default()
    }

    /// True when the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.iter().all(|(_, c)| c.is_empty())
    }

    /// Adds a path. The empty path is ignored (the root is never a member).
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((last, prefix)) = path.split_last() else {
            return;
        };
        let mut node = self;
        for pe in prefix {
            node = node.child_mut(pe);
        }
        node.insert_member(last.clone());
    }

    pub(crate) fn insert_member(&mut self, pe: PathElement) {
        // Walkers mostly insert in order: check the end first.
        match self.members.last() {
            None => self.members.push(pe),
            Some(last) if *last < pe => self.members.push(pe),
            _ => {
                if let Err(i) = self.members.binary_search(&pe) {
                    self.members.insert(i, pe);
                }
            }
        }
    }

    pub(crate) fn child_mut(&mut self, pe: &PathElement) -> &mut FieldSet {
        let i = match self.children.binary_search_by(|(p, _)| p.cmp(pe)) {
            Ok(i) => i,
            Err(i) => {
                self.children.insert(i, (pe.clone(), FieldSet::new()));
                i
            }
        };
        &mut self.children[i].1
    }

    /// Like `child_mut`, taking the element by value.
    pub(crate) fn child_mut_owned(&mut self, pe: PathElement) -> &mut FieldSet {
        let i = match self.children.binary_search_by(|(p, _)| p.cmp(&pe)) {
            Ok(i) => i,
            Err(i) => {
                self.children.insert(i, (pe, FieldSet::new()));
                i
            }
        };
        &mut self.children[i].1
    }

    /// True when `path` itself is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        let Some((last, prefix)) = path.split_last() else {
            return false;
        };
        let mut node = self;
        for pe in prefix {
            match node.child(pe) {
                Some(c) => node = c,
                None => return false,
            }
        }
        node.members.binary_search(last).is_ok()
    }

    pub(crate) fn has_member(&self, pe: &PathElement) -> bool {
        self.members.binary_search(pe).is_ok()
    }

    /// The node at `path`, created if missing.
    pub(crate) fn node_mut(&mut self, path: &[PathElement]) -> &mut FieldSet {
        let mut node = self;
        for pe in path {
            node = node.child_mut(pe);
        }
        node
    }

    /// True when the field `name` is a member (no allocation: field names sort first).
    pub(crate) fn has_field_member(&self, name: &str) -> bool {
        self.members
            .binary_search_by(|p| field_cmp(p, name))
            .is_ok()
    }

    /// The subtree below field `name`, if any.
    pub(crate) fn field_child(&self, name: &str) -> Option<&FieldSet> {
        self.children
            .binary_search_by(|(p, _)| field_cmp(p, name))
            .ok()
            .map(|i| &self.children[i].1)
    }

    /// The subtree below `pe`, if any.
    pub(crate) fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children
            .binary_search_by(|(p, _)| p.cmp(pe))
            .ok()
            .map(|i| &self.children[i].1)
    }

    /// The union of two sets.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            members: merge_sorted(&self.members, &other.members, true, true, true),
            children: join_children(&self.children, &other.children, |c| match c {
                Join::Left(a) | Join::Right(a) => Some(a.clone()),
                Join::Both(a, b) => Some(a.union(b)),
            }),
        }
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            members: merge_sorted(&self.members, &other.members, false, true, false),
            children: join_children(&self.children, &other.children, |c| match c {
                Join::Both(a, b) => Some(a.intersection(b)),
                _ => None,
            }),
        }
    }

    /// The paths of `self` that are not in `other` (exact paths; descendants are kept).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            members: merge_sorted(&self.members, &other.members, true, false, false),
            children: join_children(&self.children, &other.children, |c| match c {
                Join::Left(a) => Some(a.clone()),
                Join::Both(a, b) => Some(a.difference(b)),
                Join::Right(_) => None,
            }),
        }
    }

    /// [`difference`](Self::difference) in place (no new tree is built).
    pub fn remove_all(&mut self, other: &FieldSet) {
        if other.members.is_empty() && other.children.is_empty() {
            return;
        }
        if !other.members.is_empty() {
            self.members.retain(|m| !other.has_member(m));
        }
        if !other.children.is_empty() {
            for (pe, c) in &mut self.children {
                if let Some(o) = other.child(pe) {
                    c.remove_all(o);
                }
            }
            self.children.retain(|(_, c)| !c.is_empty());
        }
    }

    /// Like [`difference`](Self::difference), but a member of `other` also removes everything
    /// below it.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            members: merge_sorted(&self.members, &other.members, true, false, false),
            children: self
                .children
                .iter()
                .filter(|(pe, _)| !other.has_member(pe))
                .filter_map(|(pe, c)| {
                    let c = match other.child(pe) {
                        Some(o) => c.recursive_difference(o),
                        None => c.clone(),
                    };
                    (!c.is_empty()).then(|| (pe.clone(), c))
                })
                .collect(),
        }
    }

    /// Calls `f` with every path, members of a node before its children (SMD's `Iterate`).
    pub fn for_each_path(&self, f: &mut dyn FnMut(&[PathElement])) {
        let mut prefix = Vec::new();
        self.walk(&mut prefix, f);
    }

    fn walk(&self, prefix: &mut Vec<PathElement>, f: &mut dyn FnMut(&[PathElement])) {
        for m in &self.members {
            prefix.push(m.clone());
            f(prefix);
            prefix.pop();
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.walk(prefix, f);
            prefix.pop();
        }
    }

    /// All paths, in iteration order.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.for_each_path(&mut |p| out.push(p.to_vec()));
        out
    }

    /// Drops children that hold nothing, so structural equality matches set equality.
    pub(crate) fn compact(&mut self) {
        for (_, c) in &mut self.children {
            c.compact();
        }
        self.children.retain(|(_, c)| !c.is_empty());
    }
}

fn field_cmp(p: &PathElement, name: &str) -> Ordering {
    match p {
        PathElement::Field(n) => n.as_bytes().cmp(name.as_bytes()),
        _ => Ordering::Greater,
    }
}

enum Join<'a> {
    Left(&'a FieldSet),
    Right(&'a FieldSet),
    Both(&'a FieldSet, &'a FieldSet),
}

fn join_children(
    a: &[(PathElement, FieldSet)],
    b: &[(PathElement, FieldSet)],
    mut f: impl FnMut(Join<'_>) -> Option<FieldSet>,
) -> Vec<(PathElement, FieldSet)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let (pe, r) = match ord {
            Ordering::Less => {
                i += 1;
                (&a[i - 1].0, f(Join::Left(&a[i - 1].1)))
            }
            Ordering::Greater => {
                j += 1;
                (&b[j - 1].0, f(Join::Right(&b[j - 1].1)))
            }
            Ordering::Equal => {
                i += 1;
                j += 1;
                (&a[i - 1].0, f(Join::Both(&a[i - 1].1, &b[j - 1].1)))
            }
        };
        if let Some(c) = r.filter(|c| !c.is_empty()) {
            out.push((pe.clone(), c));
        }
    }
    out
}

/// Merge-joins two sorted vectors keeping left-only, both and/or right-only elements.
fn merge_sorted(
    a: &[PathElement],
    b: &[PathElement],
    left: bool,
    both: bool,
    right: bool,
) -> Vec<PathElement> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                if left {
                    out.push(a[i].clone());
                }
                i += 1;
            }
            Ordering::Greater => {
                if right {
                    out.push(b[j].clone());
                }
                j += 1;
            }
            Ordering::Equal => {
                if both {
                    out.push(a[i].clone());
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<PathElement> {
        s.split('.')
            .map(|x| PathElement::Field(x.to_string()))
            .collect()
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&p("spec.replicas"));
        a.insert(&p("spec.template"));
        a.insert(&p("spec.template.x"));
        let mut b = FieldSet::new();
        b.insert(&p("spec.replicas"));
        b.insert(&p("spec.paused"));
        assert!(a.intersection(&b).contains(&p("spec.replicas")));
        assert!(!a.difference(&b).contains(&p("spec.replicas")));
        assert!(a.union(&b).contains(&p("spec.paused")));
        let mut t = FieldSet::new();
        t.insert(&p("spec.template"));
        let r = a.recursive_difference(&t);
        assert!(!r.contains(&p("spec.template.x")));
        assert!(r.contains(&p("spec.replicas")));
        assert!(a.difference(&t).contains(&p("spec.template.x")));
        assert!(a.difference(&a).is_empty());
    }
}
