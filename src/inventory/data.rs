//! The inventory graph, mirroring Ansible's `InventoryData`/`Group`/`Host`: groups and hosts in
//! creation order, group edges, per-entity variables as the parsers set them, `reconcile` (every
//! group under `all`, the `ungrouped` rules) and depths. Parsers mutate it; it never reads files.

use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;

/// A group as Ansible keeps it.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    /// Hosts listed directly in this group, in the order they were added.
    pub hosts: Vec<usize>,
    /// Child groups in the order they were added.
    pub children: Vec<usize>,
    pub parents: Vec<usize>,
    /// Variables set by inventory sources (not group_vars/ files).
    pub vars: Map<String, Value>,
    /// Object identity of each variable's value (see `Data::new_id`).
    pub var_ids: HashMap<String, u64>,
    /// `ansible_group_priority`, 1 by default.
    pub priority: i64,
    /// Longest path from `all` (0 for `all`), used to sort groups for variable precedence.
    pub depth: usize,
}

/// A host as Ansible keeps it.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// Variables set by inventory sources (not host_vars/ files).
    pub vars: Map<String, Value>,
    /// Object identity of each variable's value (see `Data::new_id`).
    pub var_ids: HashMap<String, u64>,
    /// The source file in which the host was first seen (Ansible's `inventory_file`).
    pub inventory_file: Option<PathBuf>,
}

/// Why adding a child group failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<String>);

impl Cycle {
    pub fn describe(&self) -> String {
        self.0.join(" -> ")
    }
}

/// All groups and hosts.
#[derive(Debug, Clone)]
pub struct Data {
    pub groups: Vec<Group>,
    pub group_index: IndexMap<String, usize>,
    pub hosts: Vec<Host>,
    pub host_index: IndexMap<String, usize>,
    /// The file being parsed, recorded as new hosts' `inventory_file`.
    pub current_source: Option<PathBuf>,
    next_id: u64,
    /// Where YAML timestamps sit inside values, by value id (PyYAML writes them unquoted in
    /// `--yaml`, while JSON shows them as strings).
    pub timestamp_paths: HashMap<u64, Vec<Vec<String>>>,
}

pub const ALL: usize = 0;
pub const UNGROUPED: usize = 1;

impl Default for Data {
    fn default() -> Self {
        Self::new()
    }
}

impl Data {
    /// An inventory with `all` and its child `ungrouped`, as Ansible always has.
    pub fn new() -> Data {
        let mut d = Data {
            groups: Vec::new(),
            group_index: IndexMap::new(),
            hosts: Vec::new(),
            host_index: IndexMap::new(),
            current_source: None,
            next_id: 0,
            timestamp_paths: HashMap::new(),
        };
        d.add_group("all");
        d.add_group("ungrouped");
        // Cannot cycle: both groups are new.
        let _ = d.add_child_group(ALL, UNGROUPED);
        d
    }

    pub fn group(&self, name: &str) -> Option<usize> {
        self.group_index.get(name).copied()
    }

    pub fn host(&self, name: &str) -> Option<usize> {
        self.host_index.get(name).copied()
    }

    /// Add a group if new; return its index.
    pub fn add_group(&mut self, name: &str) -> usize {
        if let Some(i) = self.group(name) {
            return i;
        }
        let i = self.groups.len();
        self.groups.push(Group {
            name: name.to_string(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            vars: Map::new(),
            var_ids: HashMap::new(),
            priority: 1,
            depth: 0,
        });
        self.group_index.insert(name.to_string(), i);
        i
    }

    /// Add a host if new (a port only applies to a new host, as in Ansible), and put it in
    /// `group` if given.
    pub fn add_host(&mut self, name: &str, group: Option<usize>, port: Option<i64>) -> usize {
        let h = match self.host(name) {
            Some(h) => h,
            None => {
                let h = self.hosts.len();
                let mut vars = Map::new();
                if let Some(p) = port.filter(|p| *p != 0) {
                    vars.insert("ansible_port".into(), Value::from(p));
                }
                self.hosts.push(Host {
                    name: name.to_string(),
                    vars,
                    var_ids: HashMap::new(),
                    inventory_file: self.current_source.clone(),
                });
                self.host_index.insert(name.to_string(), h);
                h
            }
        };
        if let Some(g) = group {
            if !self.groups[g].hosts.contains(&h) {
                self.groups[g].hosts.push(h);
            }
        }
        h
    }

    /// Make `child` a child of `parent`, refusing loops as Ansible does.
    pub fn add_child_group(&mut self, parent: usize, child: usize) -> Result<(), Cycle> {
        if parent == child {
            let n = self.groups[parent].name.clone();
            return Err(Cycle(vec![n.clone(), n]));
        }
        if self.groups[parent].children.contains(&child) {
            return Ok(());
        }
        if child == ALL {
            // Every group ends up under `all`, so `all` below anything is always a loop.
            let mut names = vec!["all".to_string(), self.groups[parent].name.clone()];
            names.push("all".to_string());
            return Err(Cycle(names));
        }
        if let Some(path) = self.descendant_path(child, parent) {
            // child -> ... -> parent, and the new edge parent -> child closes the loop.
            let mut names: Vec<String> =
                path.iter().map(|g| self.groups[*g].name.clone()).collect();
            names.push(self.groups[child].name.clone());
            return Err(Cycle(names));
        }
        self.groups[parent].children.push(child);
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
        Ok(())
    }

    /// A path of child edges from `from` to `to`, if `to` is a descendant of `from`.
    fn descendant_path(&self, from: usize, to: usize) -> Option<Vec<usize>> {
        let mut stack = vec![(from, vec![from])];
        let mut seen = vec![false; self.groups.len()];
        while let Some((g, path)) = stack.pop() {
            if g == to {
                return Some(path);
            }
            if std::mem::replace(&mut seen[g], true) {
                continue;
            }
            for &c in self.groups[g].children.iter().rev() {
                let mut p = path.clone();
                p.push(c);
                stack.push((c, p));
            }
        }
        None
    }

    /// All ancestors of a group (not itself).
    pub fn ancestors(&self, g: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.groups[g].parents.clone();
        while let Some(p) = stack.pop() {
            if !out.contains(&p) {
                out.push(p);
                stack.extend(self.groups[p].parents.iter().copied());
            }
        }
        out
    }

    /// Groups that list the host directly.
    pub fn direct_groups(&self, h: usize) -> Vec<usize> {
        (0..self.groups.len())
            .filter(|g| self.groups[*g].hosts.contains(&h))
            .collect()
    }

    /// The host's groups and all their ancestors (Ansible's `host.get_groups()`), in index order.
    pub fn host_groups(&self, h: usize) -> Vec<usize> {
        let mut set = vec![false; self.groups.len()];
        for g in self.direct_groups(h) {
            set[g] = true;
            for a in self.ancestors(g) {
                set[a] = true;
            }
        }
        (0..self.groups.len()).filter(|g| set[*g]).collect()
    }

    /// Ansible's `reconcile_inventory`: parentless groups go under `all`; hosts in no group go
    /// to `ungrouped`; hosts in a real group leave `ungrouped`. Then depths are computed.
    pub fn reconcile(&mut self) {
        for g in 0..self.groups.len() {
            if g != ALL && self.groups[g].parents.is_empty() {
                // Cannot fail: `all` is never anyone's child (add_child_group refuses it), so
                // a parentless group cannot be an ancestor of `all`.
                let _ = self.add_child_group(ALL, g);
            }
        }
        for h in 0..self.hosts.len() {
            let groups = self.host_groups(h);
            if groups.contains(&UNGROUPED) {
                if groups.iter().any(|g| *g != ALL && *g != UNGROUPED) {
                    self.groups[UNGROUPED].hosts.retain(|x| *x != h);
                }
            } else if groups.is_empty() || groups == [ALL] {
                self.groups[UNGROUPED].hosts.push(h);
            }
        }
        self.compute_depths();
    }

    fn compute_depths(&mut self) {
        // Longest path from `all`, which is what Ansible's incremental max-updates converge to.
        for g in &mut self.groups {
            g.depth = 0;
        }
        let mut queue = vec![ALL];
        while let Some(g) = queue.pop() {
            let d = self.groups[g].depth;
            for c in self.groups[g].children.clone() {
                if self.groups[c].depth < d + 1 {
                    self.groups[c].depth = d + 1;
                    queue.push(c);
                }
            }
        }
    }

    /// Ansible's `group.get_hosts()`: the group's own hosts, then those of its descendants level
    /// by level, each host once.
    pub fn group_hosts(&self, g: usize) -> Vec<usize> {
        let mut ordered = vec![g];
        ordered.extend(self.groups[g].children.iter().copied());
        let mut seen: Vec<usize> = ordered.clone();
        let mut level: Vec<usize> = self.groups[g].children.clone();
        while !level.is_empty() {
            let mut next = Vec::new();
            for p in &level {
                for &c in &self.groups[*p].children {
                    if !seen.contains(&c) && !next.contains(&c) {
                        next.push(c);
                    }
                }
            }
            seen.extend(next.iter().copied());
            ordered.extend(next.iter().copied());
            level = next;
        }
        let mut out = Vec::new();
        let mut have = vec![false; self.hosts.len()];
        for grp in ordered {
            for &h in &self.groups[grp].hosts {
                if !std::mem::replace(&mut have[h], true) {
                    out.push(h);
                }
            }
        }
        out
    }

    /// Set a variable on a group and return the id of its value. `ansible_group_priority`
    /// sets the priority instead; a value that is not an integer is returned as an error text.
    pub fn set_group_var(&mut self, g: usize, key: &str, value: Value) -> Result<u64, String> {
        if key == "ansible_group_priority" {
            let p = match &value {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
                Value::Bool(b) => Some(i64::from(*b)),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match p {
                Some(p) => self.groups[g].priority = p,
                None => return Err(crate::vars::text(&value)),
            }
            return Ok(0);
        }
        let id = self.new_id();
        self.groups[g].var_ids.insert(key.to_string(), id);
        self.groups[g].vars.insert(key.to_string(), value);
        Ok(id)
    }

    /// Set a host variable; return the id of its value. Ansible copies every value it sets
    /// through its inventory wrapper, so even hosts of one INI line or YAML range get
    /// distinct objects (unlike group variables, which all member hosts share).
    pub fn set_host_var(&mut self, h: usize, key: &str, value: Value) -> u64 {
        let id = self.new_id();
        self.hosts[h].var_ids.insert(key.to_string(), id);
        self.hosts[h].vars.insert(key.to_string(), value);
        id
    }

    /// Remember the timestamps inside the value with this id.
    pub fn note_timestamps(&mut self, id: u64, paths: Vec<Vec<String>>) {
        if !paths.is_empty() {
            self.timestamp_paths.insert(id, paths);
        }
    }

    /// A fresh object identity. Ansible's `--yaml` output writes a list or mapping that several
    /// hosts share as a YAML anchor and aliases, so sesame tracks which values are one object.
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_is_named() {
        let mut d = Data::new();
        let a = d.add_group("a");
        let b = d.add_group("b");
        let c = d.add_group("c");
        d.add_child_group(a, b).unwrap();
        d.add_child_group(b, c).unwrap();
        let err = d.add_child_group(c, a).unwrap_err();
        assert_eq!(err.describe(), "a -> b -> c -> a");
        assert_eq!(d.add_child_group(a, a).unwrap_err().describe(), "a -> a");
        assert_eq!(
            d.add_child_group(c, ALL).unwrap_err().describe(),
            "all -> c -> all"
        );
    }

    #[test]
    fn reconcile_moves_hosts_and_sets_depths() {
        let mut d = Data::new();
        let web = d.add_group("web");
        let prod = d.add_group("prod");
        d.add_child_group(prod, web).unwrap();
        let h1 = d.add_host("h1", Some(UNGROUPED), None);
        d.add_host("h1", Some(web), None);
        let h2 = d.add_host("h2", Some(ALL), None);
        d.reconcile();
        assert!(!d.groups[UNGROUPED].hosts.contains(&h1));
        assert!(d.groups[UNGROUPED].hosts.contains(&h2));
        assert_eq!(d.groups[prod].depth, 1);
        assert_eq!(d.groups[web].depth, 2);
        assert_eq!(d.groups[ALL].children, vec![UNGROUPED, prod]);
    }
}
