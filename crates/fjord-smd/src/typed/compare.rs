//! Comparison of two versions of an object (`Compare`): which paths were added, modified or
//! removed. Leaves (scalars, atomic lists/maps, containers empty on both sides) are compared by
//! value; a container present on one side only is itself added/removed in addition to its
//! leaves (that is where an Update manager's `"."` entries come from). A list item whose key is
//! duplicated on either side is one leaf.

use super::fieldset::node_fields;
use super::{Handle, as_list, as_map, duplicate_flags, handle, item_pes, pick};
use crate::fieldpath::{FieldSet, PathElement};
use crate::schema::{ListType, Schema, TypeRef};
use crate::value::equals;
use serde_json::Value;
use std::collections::BTreeMap;

/// The difference between two objects.
#[derive(Debug, Default, Clone)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    /// Drops every path at or under a member of `ignored`.
    pub fn exclude(&mut self, ignored: &FieldSet) {
        if ignored.is_empty() {
            return;
        }
        self.added = self.added.recursive_difference(ignored);
        self.modified = self.modified.recursive_difference(ignored);
        self.removed = self.removed.recursive_difference(ignored);
    }
}

pub(crate) fn compare(schema: &Schema, ty: TypeRef, lhs: &Value, rhs: &Value) -> Comparison {
    let mut w = Walker {
        schema,
        path: Vec::new(),
        out: Comparison::default(),
    };
    w.node(ty, Some(lhs), Some(rhs));
    w.out.added.compact();
    w.out.modified.compact();
    w.out.removed.compact();
    w.out
}

/// The items named alike on each side, and whether either side repeats the name.
type ItemGroup<'v> = (Vec<&'v Value>, Vec<&'v Value>, bool, bool);

struct Walker<'s> {
    schema: &'s Schema,
    path: Vec<PathElement>,
    out: Comparison,
}

impl Walker<'_> {
    fn leaf(&mut self, l: Option<&Value>, r: Option<&Value>) {
        match (l, r) {
            (None, None) => {}
            (None, Some(_)) => self.out.added.insert(&self.path),
            (Some(_), None) => self.out.removed.insert(&self.path),
            (Some(a), Some(b)) => {
                if !equals(a, b) {
                    self.out.modified.insert(&self.path);
                }
            }
        }
    }

    fn node(&mut self, ty: TypeRef, l: Option<&Value>, r: Option<&Value>) {
        if let (Some(a), Some(b)) = (l, r)
            && equals(a, b)
        {
            // Equal subtrees hold no added, modified or removed path.
            return;
        }
        let atom = self.schema.atom(ty);
        let (pl, pr) = (pick(atom, l), pick(atom, r));
        if l.is_some() && r.is_some() && pl != pr {
            // The value changed kind (untyped fields): compare as the old kind (its children
            // read as removed, or the node as a modified leaf), then as the new kind.
            self.visit(handle(atom, pl), l, r);
            self.visit(handle(atom, pr), l, r);
            return;
        }
        let p = if r.is_none() { pl } else { pr };
        if self.visit(handle(atom, p), l, r) {
            if l.is_none() {
                self.out.added.insert(&self.path);
            } else if r.is_none() {
                self.out.removed.insert(&self.path);
            }
        }
    }

    /// Returns true when children were visited (the node is not a leaf).
    fn visit(&mut self, h: Option<Handle<'_>>, l: Option<&Value>, r: Option<&Value>) -> bool {
        match h {
            Some(Handle::Scalar(_)) | None => {
                self.leaf(l, r);
                false
            }
            Some(Handle::List(lt)) => {
                let (la, ra) = (as_list(l), as_list(r));
                let empty = la.is_none_or(Vec::is_empty) && ra.is_none_or(Vec::is_empty);
                if lt.atomic || empty {
                    self.leaf(l, r);
                    return false;
                }
                self.list_items(lt, la.map_or(&[][..], |v| v), ra.map_or(&[][..], |v| v));
                true
            }
            Some(Handle::Map(m)) => {
                let (lm, rm) = (as_map(l), as_map(r));
                let empty = lm.is_none_or(|x| x.is_empty()) && rm.is_none_or(|x| x.is_empty());
                if m.atomic || empty {
                    self.leaf(l, r);
                    return false;
                }
                if let Some(lm) = lm {
                    for (k, lv) in lm {
                        let rv = rm.and_then(|x| x.get(k));
                        if let Some(t) = m.child_type(k) {
                            self.path.push(PathElement::Field(k.clone()));
                            self.node(t, Some(lv), rv);
                            self.path.pop();
                        }
                    }
                }
                if let Some(rm) = rm {
                    for (k, rv) in rm {
                        if lm.is_some_and(|x| x.contains_key(k)) {
                            continue;
                        }
                        if let Some(t) = m.child_type(k) {
                            self.path.push(PathElement::Field(k.clone()));
                            self.node(t, None, Some(rv));
                            self.path.pop();
                        }
                    }
                }
                true
            }
        }
    }

    fn list_items(&mut self, lt: &ListType, la: &[Value], ra: &[Value]) {
        let (lp, rp) = (item_pes(lt, la), item_pes(lt, ra));
        let (ld, rd) = (duplicate_flags(&lp), duplicate_flags(&rp));
        // name -> (lhs items, rhs items), in first-seen order.
        let mut order: Vec<PathElement> = Vec::new();
        let mut groups: BTreeMap<PathElement, ItemGroup<'_>> = BTreeMap::new();
        for (side, items, pes, dups) in [(0, la, &lp, &ld), (1, ra, &rp, &rd)] {
            for ((item, pe), dup) in items.iter().zip(pes.iter()).zip(dups) {
                let Some(pe) = pe else { continue };
                let g = groups.entry(pe.clone()).or_insert_with(|| {
                    order.push(pe.clone());
                    (Vec::new(), Vec::new(), false, false)
                });
                if side == 0 {
                    g.0.push(item);
                    g.2 |= *dup;
                } else {
                    g.1.push(item);
                    g.3 |= *dup;
                }
            }
        }
        for pe in order {
            let Some((ls, rs, ldup, rdup)) = groups.remove(&pe) else {
                continue;
            };
            self.path.push(pe);
            if !ldup && !rdup {
                self.node(lt.elem, ls.first().copied(), rs.first().copied());
            } else {
                self.duplicated_item(lt, &ls, &rs, ldup, rdup);
            }
            self.path.pop();
        }
    }

    /// An item whose key is repeated on at least one side is compared as one leaf; the
    /// non-duplicated side's fields count as removed / added.
    fn duplicated_item(
        &mut self,
        lt: &ListType,
        ls: &[&Value],
        rs: &[&Value],
        ldup: bool,
        rdup: bool,
    ) {
        match (ls.is_empty(), rs.is_empty()) {
            (false, true) => self.out.removed.insert(&self.path),
            (true, false) => self.out.added.insert(&self.path),
            _ => {
                let same = ls.len() == rs.len() && ls.iter().zip(rs).all(|(a, b)| equals(a, b));
                if !same {
                    self.out.modified.insert(&self.path);
                }
                if same {
                    return;
                }
            }
        }
        if !ldup && let Some(item) = ls.first() {
            add_item_fields(self.schema, lt, item, &self.path, &mut self.out.removed);
        }
        if !rdup && let Some(item) = rs.first() {
            add_item_fields(self.schema, lt, item, &self.path, &mut self.out.added);
        }
    }
}

/// Adds the fields below the list item at `path` to `set` (not the item path itself).
fn add_item_fields(
    schema: &Schema,
    lt: &ListType,
    item: &Value,
    path: &[PathElement],
    set: &mut FieldSet,
) {
    let Some((pe, prefix)) = path.split_last() else {
        return;
    };
    let mut below = FieldSet::new();
    node_fields(schema, lt.elem, item, &mut below, pe);
    below.compact();
    if let Some(c) = below.child(pe) {
        let node = set.node_mut(prefix).child_mut(pe);
        *node = node.union(c);
    }
}
