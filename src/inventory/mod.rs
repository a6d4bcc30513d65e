//! Ansible-compatible inventories: load INI/YAML/JSON sources (files, directories, `a,b,` host
//! lists), `group_vars/`/`host_vars/` beside them, flatten variables with Ansible's precedence,
//! select hosts by pattern, and print what `ansible-inventory` prints. Loading never panics on
//! bad input; every error names its file and line.
//!
//! Submodules: `ini`, `yaml` (formats), `yamlvalue` (PyYAML-like loading), `pyliteral` (shlex
//! and `ast.literal_eval`), `hostrange` (ranges and addresses), `varsdir` (vars folders),
//! `pattern` (host patterns), `data` (the group graph), `output` (JSON/YAML/graph text).

pub mod data;
pub mod error;
pub mod hostrange;
pub mod ini;
pub mod output;
pub mod pattern;
pub mod pyliteral;
pub mod script;
pub mod varsdir;
pub mod yaml;
pub mod yamlvalue;

pub use error::{InventoryError, PatternError};

use data::{Data, ALL, UNGROUPED};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Variables that `ansible-inventory` never prints (Ansible's `INTERNAL_STATIC_VARS` that an
/// inventory can hold).
const INTERNAL_VARS: &[&str] = &[
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
];

/// Variables with the identity of each value (which Python object it would be in Ansible).
#[derive(Debug, Clone, Default)]
struct VarSet {
    vars: Map<String, Value>,
    ids: HashMap<String, u64>,
}

impl VarSet {
    fn merge(&mut self, vars: &Map<String, Value>, ids: &HashMap<String, u64>) {
        for (k, v) in vars {
            self.vars.insert(k.clone(), v.clone());
            match ids.get(k) {
                Some(id) => self.ids.insert(k.clone(), *id),
                None => self.ids.remove(k),
            };
        }
    }

    fn merge_set(&mut self, other: Option<&VarSet>) {
        if let Some(o) = other {
            self.merge(&o.vars, &o.ids);
        }
    }
}

/// Variables loaded from one folder's `group_vars/` and `host_vars/`, by entity index.
#[derive(Debug, Clone, Default)]
struct DirVars {
    groups: HashMap<usize, VarSet>,
    hosts: HashMap<usize, VarSet>,
}

/// A loaded inventory: hosts in inventory order, groups, and their variables.
#[derive(Debug, Clone)]
pub struct Inventory {
    data: Data,
    /// Per `-i` source (repeats kept, as Ansible iterates its source list), the vars folder.
    inventory_dirs: Vec<PathBuf>,
    /// Playbook-adjacent folders (Ansible's basedir): their vars rank above inventory ones.
    play_dirs: Vec<PathBuf>,
    dir_vars: HashMap<PathBuf, DirVars>,
    file_value_ids: HashMap<(PathBuf, String), u64>,
}

/// Names Ansible skips when reading an inventory directory.
fn ignored_in_dir(name: &str) -> bool {
    const EXTS: [&str; 12] = [
        ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
        ".retry",
    ];
    name.starts_with('.')
        || matches!(name, "host_vars" | "group_vars" | "vars_plugins")
        || EXTS.iter().any(|e| name.ends_with(e))
}

/// Absolute, normalised path without resolving symlinks (Ansible's `unfrackpath(follow=False)`).
fn absolute(p: &Path) -> PathBuf {
    let p = match p.to_str().and_then(|s| s.strip_prefix("~/")) {
        Some(rest) => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(rest))
            .unwrap_or_else(|| p.to_path_buf()),
        None => p.to_path_buf(),
    };
    let joined = if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|c| c.join(&p)).unwrap_or(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl Inventory {
    /// Load inventory sources in order, as `ansible-inventory -i A -i B` does. A source is a
    /// file (INI, YAML or JSON), a directory (every file in it, sorted, minus what Ansible
    /// skips), or a comma-separated host list such as `web1,web2,`.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        Self::load_with_play_dirs(sources, &[])
    }

    /// Like [`Inventory::load`], also reading `group_vars/`/`host_vars/` of playbook folders
    /// (`ansible-inventory` uses its current directory; `ansible-playbook` the playbook's).
    pub fn load_with_play_dirs(
        sources: &[PathBuf],
        play_dirs: &[PathBuf],
    ) -> Result<Inventory, InventoryError> {
        let mut data = Data::new();
        let mut inventory_dirs = Vec::new();
        for src in sources {
            let text = src.to_string_lossy();
            if text.contains(',') && !src.exists() {
                host_list(&mut data, &text);
                continue;
            }
            let abs = absolute(src);
            if !abs.exists() {
                return Err(InventoryError::Unreadable {
                    path: abs,
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such file or directory",
                    ),
                });
            }
            parse_source(&mut data, &abs)?;
            inventory_dirs.push(if abs.is_dir() {
                abs.clone()
            } else {
                abs.parent().map(Path::to_path_buf).unwrap_or_default()
            });
        }
        data.reconcile();
        let mut inv = Inventory {
            data,
            inventory_dirs,
            play_dirs: play_dirs.iter().map(|d| absolute(d)).collect(),
            dir_vars: HashMap::new(),
            file_value_ids: HashMap::new(),
        };
        inv.load_dir_vars()?;
        Ok(inv)
    }

    fn load_dir_vars(&mut self) -> Result<(), InventoryError> {
        let dirs: Vec<PathBuf> = self
            .inventory_dirs
            .iter()
            .chain(self.play_dirs.iter())
            .cloned()
            .collect();
        for d in dirs {
            if self.dir_vars.contains_key(&d) {
                continue;
            }
            // Ansible looks group_vars/ up beside the real path of the source folder.
            let real = std::fs::canonicalize(&d).unwrap_or_else(|_| d.clone());
            let mut dv = DirVars::default();
            let group_names: Vec<String> =
                self.data.groups.iter().map(|g| g.name.clone()).collect();
            for (gi, name) in group_names.iter().enumerate() {
                let set = self.load_var_files(&real, "group_vars", name)?;
                if !set.vars.is_empty() {
                    dv.groups.insert(gi, set);
                }
            }
            let host_names: Vec<String> = self.data.hosts.iter().map(|h| h.name.clone()).collect();
            for (hi, name) in host_names.iter().enumerate() {
                let set = self.load_var_files(&real, "host_vars", name)?;
                if !set.vars.is_empty() {
                    dv.hosts.insert(hi, set);
                }
            }
            self.dir_vars.insert(d, dv);
        }
        Ok(())
    }

    /// Load and merge the vars files of one entity; each (file, key) is one value object.
    fn load_var_files(
        &mut self,
        dir: &Path,
        sub: &str,
        name: &str,
    ) -> Result<VarSet, InventoryError> {
        let mut set = VarSet::default();
        for (file, entries) in varsdir::vars_files_for(dir, sub, name)? {
            let mut ids = HashMap::new();
            let mut vars = Map::new();
            for (k, v, timestamps) in entries {
                let id = *self
                    .file_value_ids
                    .entry((file.clone(), k.clone()))
                    .or_insert_with(|| self.data.new_id());
                self.data.note_timestamps(id, timestamps);
                ids.insert(k.clone(), id);
                vars.insert(k, v);
            }
            set.merge(&vars, &ids);
        }
        Ok(set)
    }

    /// Host names in the order they were first defined.
    pub fn host_names(&self) -> Vec<String> {
        self.data.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// True if the inventory defines this group (including `all` and `ungrouped`).
    pub fn has_group(&self, name: &str) -> bool {
        self.data.group(name).is_some()
    }

    /// True if the inventory defines this host.
    pub fn has_host(&self, name: &str) -> bool {
        self.data.host(name).is_some()
    }

    /// The host's groups, sorted for variable precedence: depth, then priority, then name.
    fn sorted_groups(&self, h: usize) -> Vec<usize> {
        let mut gs: Vec<usize> = self
            .data
            .host_groups(h)
            .into_iter()
            .filter(|g| *g != ALL)
            .collect();
        gs.sort_by(|a, b| {
            let (ga, gb) = (&self.data.groups[*a], &self.data.groups[*b]);
            (ga.depth, ga.priority, &ga.name).cmp(&(gb.depth, gb.priority, &gb.name))
        });
        gs
    }

    /// The host's variables merged as Ansible does (`all` < groups by depth/priority/name <
    /// group_vars/ files < host inline vars < host_vars/ files), without Ansible's internal
    /// magic variables. Empty for an unknown host.
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        match self.data.host(host) {
            Some(h) => self.flatten(h).vars,
            None => Map::new(),
        }
    }

    /// Ansible's `VariableManager.get_vars` for the inventory part, in its precedence order.
    fn flatten(&self, h: usize) -> VarSet {
        let mut out = VarSet::default();
        let groups = self.sorted_groups(h);
        let all = &self.data.groups[ALL];
        out.merge(&all.vars, &all.var_ids);
        for g in &groups {
            let g = &self.data.groups[*g];
            out.merge(&g.vars, &g.var_ids);
        }
        let dv = |d: &PathBuf| self.dir_vars.get(d);
        for d in self.inventory_dirs.iter().chain(&self.play_dirs) {
            out.merge_set(dv(d).and_then(|v| v.groups.get(&ALL)));
        }
        for d in &self.inventory_dirs {
            for g in &groups {
                out.merge_set(dv(d).and_then(|v| v.groups.get(g)));
            }
        }
        for d in &self.play_dirs {
            for g in &groups {
                out.merge_set(dv(d).and_then(|v| v.groups.get(g)));
            }
        }
        let host = &self.data.hosts[h];
        out.merge(&host.vars, &host.var_ids);
        for d in self.inventory_dirs.iter().chain(&self.play_dirs) {
            out.merge_set(dv(d).and_then(|v| v.hosts.get(&h)));
        }
        for k in INTERNAL_VARS {
            out.vars.shift_remove(*k);
            out.ids.remove(*k);
        }
        out
    }

    /// Ansible's magic variables for a host that come from the inventory:
    /// `inventory_hostname`, `inventory_hostname_short`, `group_names`, `inventory_file`,
    /// `inventory_dir`. Empty for an unknown host.
    pub fn magic_vars(&self, host: &str) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(h) = self.data.host(host) else {
            return out;
        };
        let name = &self.data.hosts[h].name;
        out.insert("inventory_hostname".into(), Value::from(name.clone()));
        let is_ip = name.parse::<std::net::IpAddr>().is_ok();
        let short = if is_ip {
            name.clone()
        } else {
            name.split('.').next().unwrap_or(name).to_string()
        };
        out.insert("inventory_hostname_short".into(), Value::from(short));
        out.insert("group_names".into(), Value::from(self.group_names(host)));
        let file = self.data.hosts[h].inventory_file.clone();
        out.insert(
            "inventory_file".into(),
            file.as_ref().map_or(Value::Null, |f| {
                Value::from(f.to_string_lossy().into_owned())
            }),
        );
        out.insert(
            "inventory_dir".into(),
            file.as_ref()
                .and_then(|f| f.parent())
                .map_or(Value::Null, |d| {
                    Value::from(d.to_string_lossy().into_owned())
                }),
        );
        out
    }

    /// Ansible's `group_names`: the host's groups (with ancestors) sorted, without `all`.
    /// Like Ansible, a host that is only in `ungrouped` gets `["ungrouped"]`.
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let Some(h) = self.data.host(host) else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .data
            .host_groups(h)
            .into_iter()
            .filter(|g| *g != ALL)
            .map(|g| self.data.groups[g].name.clone())
            .collect();
        names.sort();
        names
    }

    /// Ansible's `groups` magic variable: every group (creation order) to its hosts, including
    /// those of child groups, in Ansible's order.
    pub fn groups(&self) -> IndexMap<String, Vec<String>> {
        self.data
            .groups
            .iter()
            .enumerate()
            .map(|(gi, g)| {
                let hosts = self
                    .data
                    .group_hosts(gi)
                    .into_iter()
                    .map(|h| self.data.hosts[h].name.clone())
                    .collect();
                (g.name.clone(), hosts)
            })
            .collect()
    }

    /// A host mask of the hosts a pattern selects.
    fn select_mask(&self, pattern: &str) -> Result<Vec<bool>, PatternError> {
        let mut mask = vec![false; self.data.hosts.len()];
        for h in self.select_idx(pattern)? {
            mask[h] = true;
        }
        Ok(mask)
    }

    fn select_idx(&self, pattern: &str) -> Result<Vec<usize>, PatternError> {
        let parts = pattern::expand_limit_files(pattern::split_host_pattern(pattern))?;
        pattern::evaluate(&self.data, &parts)
    }

    /// Hosts matching a host pattern (`all`, `web*`, `web:&prod:!db01`, `~re`, `g[0:2]`,
    /// `@file`...), in Ansible's order. No match is an empty list, not an error.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        Ok(self
            .select_idx(pattern)?
            .into_iter()
            .map(|h| self.data.hosts[h].name.clone())
            .collect())
    }

    /// `--limit`: keep the hosts of `hosts` (in their order) that `limit` selects.
    pub fn limit(&self, hosts: Vec<String>, limit: &str) -> Result<Vec<String>, PatternError> {
        let keep: std::collections::HashSet<String> = self.select(limit)?.into_iter().collect();
        Ok(hosts.into_iter().filter(|h| keep.contains(h)).collect())
    }

    /// `ansible-inventory --list` as a JSON value.
    pub fn list_json(&self) -> Value {
        self.list_json_for(&vec![true; self.data.hosts.len()])
    }

    /// `ansible-inventory --list --limit PATTERN`.
    pub fn list_json_limited(&self, limit: Option<&str>) -> Result<Value, PatternError> {
        let mut available = vec![false; self.data.hosts.len()];
        for h in self.data.group_hosts(ALL) {
            available[h] = true;
        }
        if let Some(l) = limit {
            let keep = self.select_mask(l)?;
            available.iter_mut().zip(keep).for_each(|(a, k)| *a &= k);
        }
        Ok(self.list_json_for(&available))
    }

    /// `--list` for the hosts marked available (Ansible's `available_hosts`).
    fn list_json_for(&self, available: &[bool]) -> Value {
        let mut results = Map::new();
        let mut seen = vec![false; self.data.groups.len()];
        self.format_group(ALL, available, &mut seen, &mut results);
        let mut hostvars = Map::new();
        for h in self.data.group_hosts(ALL) {
            if !available[h] {
                continue;
            }
            let name = &self.data.hosts[h].name;
            let vars = self.host_vars(name);
            if !vars.is_empty() {
                hostvars.insert(name.clone(), Value::Object(vars));
            }
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Value::Object(hostvars));
        meta.insert("profile".into(), Value::from("inventory_legacy"));
        results.insert("_meta".into(), Value::Object(meta));
        Value::Object(results)
    }

    fn format_group(
        &self,
        g: usize,
        available: &[bool],
        seen: &mut Vec<bool>,
        results: &mut Map<String, Value>,
    ) {
        let group = &self.data.groups[g];
        let mut entry = Map::new();
        if g != ALL {
            let hosts: Vec<Value> = group
                .hosts
                .iter()
                .filter(|h| available[**h])
                .map(|h| Value::from(self.data.hosts[*h].name.clone()))
                .collect();
            if !hosts.is_empty() {
                entry.insert("hosts".into(), Value::Array(hosts));
            }
        }
        let mut children = Vec::new();
        for &c in &group.children {
            children.push(Value::from(self.data.groups[c].name.clone()));
            if !seen[c] {
                self.format_group(c, available, seen, results);
                seen[c] = true;
            }
        }
        if !children.is_empty() {
            entry.insert("children".into(), Value::Array(children));
        }
        if entry.is_empty() {
            results.shift_remove(&group.name);
        } else {
            results.insert(group.name.clone(), Value::Object(entry));
        }
    }

    /// `ansible-inventory --list --yaml [--limit PATTERN]`: the YAML text, with anchors and
    /// aliases where Ansible's would have them.
    pub fn list_yaml(&self, limit: Option<&str>) -> Result<String, PatternError> {
        let mut available = vec![false; self.data.hosts.len()];
        for h in self.data.group_hosts(ALL) {
            available[h] = true;
        }
        if let Some(l) = limit {
            let keep = self.select_mask(l)?;
            available.iter_mut().zip(keep).for_each(|(a, k)| *a &= k);
        }
        let mut seen_hosts = vec![false; self.data.hosts.len()];
        let mut seen_groups = vec![false; self.data.groups.len()];
        let mut out = Vec::new();
        self.yaml_group(ALL, &available, &mut seen_hosts, &mut seen_groups, &mut out);
        Ok(output::python_yaml_doc(&output::YamlNode::Map(out)))
    }

    fn yaml_group(
        &self,
        g: usize,
        available: &[bool],
        seen_hosts: &mut Vec<bool>,
        seen_groups: &mut Vec<bool>,
        out: &mut Vec<(String, output::YamlNode)>,
    ) {
        use output::YamlNode;
        let group = &self.data.groups[g];
        let mut entry = Vec::new();
        let mut children = Vec::new();
        for &c in &group.children {
            if c == ALL {
                continue;
            }
            if seen_groups[c] {
                children.push((self.data.groups[c].name.clone(), YamlNode::Map(Vec::new())));
            } else {
                self.yaml_group(c, available, seen_hosts, seen_groups, &mut children);
                seen_groups[c] = true;
            }
        }
        if !children.is_empty() {
            entry.push(("children".to_string(), YamlNode::Map(children)));
        }
        let mut hosts = Vec::new();
        if g != ALL {
            for &h in &group.hosts {
                if !available[h] {
                    continue;
                }
                let name = self.data.hosts[h].name.clone();
                let vars = if std::mem::replace(&mut seen_hosts[h], true) {
                    Vec::new()
                } else {
                    let set = self.flatten(h);
                    set.vars
                        .into_iter()
                        .map(|(k, v)| {
                            let id = set.ids.get(&k).copied();
                            let ts = id
                                .and_then(|i| self.data.timestamp_paths.get(&i))
                                .cloned()
                                .unwrap_or_default();
                            (k, YamlNode::Value(v, id, ts))
                        })
                        .collect()
                };
                hosts.push((name, YamlNode::Map(vars)));
            }
        }
        if !hosts.is_empty() {
            entry.push(("hosts".to_string(), YamlNode::Map(hosts)));
        }
        if !entry.is_empty() {
            out.push((group.name.clone(), YamlNode::Map(entry)));
        }
    }

    /// `ansible-inventory --host HOST`: the host's merged variables, or None if unknown.
    pub fn host_json(&self, host: &str) -> Option<Value> {
        self.data.host(host)?;
        Some(Value::Object(self.host_vars(host)))
    }

    /// `ansible-inventory --host HOST --yaml`: the host's merged variables as PyYAML writes
    /// them, or None if unknown.
    pub fn host_yaml(&self, host: &str) -> Option<String> {
        let h = self.data.host(host)?;
        let set = self.flatten(h);
        let entries = set
            .vars
            .into_iter()
            .map(|(k, v)| {
                let id = set.ids.get(&k).copied();
                let ts = id
                    .and_then(|i| self.data.timestamp_paths.get(&i))
                    .cloned()
                    .unwrap_or_default();
                (k, output::YamlNode::Value(v, id, ts))
            })
            .collect();
        Some(output::python_yaml_doc(&output::YamlNode::Map(entries)))
    }

    /// `ansible-inventory --graph [GROUP]` (default `all`). Empty for an unknown group.
    pub fn graph(&self, group: Option<&str>) -> String {
        let Some(g) = self.data.group(group.unwrap_or("all")) else {
            return String::new();
        };
        let mut lines = Vec::new();
        self.graph_group(g, 0, &mut lines);
        lines.join("\n")
    }

    fn graph_group(&self, g: usize, depth: usize, lines: &mut Vec<String>) {
        let name = |n: &str, depth: usize| {
            if depth == 0 {
                n.to_string()
            } else {
                format!("{}--{n}", "  |".repeat(depth))
            }
        };
        let group = &self.data.groups[g];
        lines.push(name(&format!("@{}:", group.name), depth));
        for &c in &group.children {
            self.graph_group(c, depth + 1, lines);
        }
        if g != ALL {
            for &h in &group.hosts {
                lines.push(name(&self.data.hosts[h].name, depth + 1));
            }
        }
    }

    /// Hosts listed directly in `ungrouped` (after reconciliation).
    pub fn ungrouped(&self) -> Vec<String> {
        self.data.groups[UNGROUPED]
            .hosts
            .iter()
            .map(|h| self.data.hosts[*h].name.clone())
            .collect()
    }
}

/// Ansible's `host_list` plugin: `-i 'web1,web2:2222,'`.
fn host_list(data: &mut Data, text: &str) {
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (host, port) =
            hostrange::parse_address(part, false).unwrap_or((part.to_string(), None));
        if data.host(&host).is_none() {
            data.add_host(&host, Some(UNGROUPED), port);
        }
    }
}

/// Parse one file or directory source.
fn parse_source(data: &mut Data, path: &Path) -> Result<(), InventoryError> {
    if path.is_dir() {
        let rd = std::fs::read_dir(path).map_err(|source| InventoryError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let mut names = Vec::new();
        for e in rd {
            let e = e.map_err(|source| InventoryError::Unreadable {
                path: path.to_path_buf(),
                source,
            })?;
            names.push(e.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        for n in names {
            if ignored_in_dir(&n) {
                continue;
            }
            parse_source(data, &path.join(n))?;
        }
        return Ok(());
    }
    parse_file(data, path)
}

/// True if the file has an execute bit (Ansible would run it as an inventory script).
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Try the YAML plugin, then the INI plugin, as Ansible's default plugin order does.
fn parse_file(data: &mut Data, path: &Path) -> Result<(), InventoryError> {
    let bytes = std::fs::read(path).map_err(|source| InventoryError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Err(InventoryError::Unreadable {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
        }
    };
    let text = varsdir::decrypt_whole_file(path, text)?;
    if path.extension().is_some_and(|e| e == "toml") {
        return Err(InventoryError::Unsupported {
            path: path.to_path_buf(),
            line: 1,
            what: "TOML inventories are not read by sesame; use INI or YAML".into(),
        });
    }
    if text.starts_with("#!") && is_executable(path) {
        // A dynamic inventory script, as Ansible's script plugin runs it.
        data.current_source = Some(path.to_path_buf());
        script::parse(data, path)?;
        data.current_source = None;
        return Ok(());
    }
    data.current_source = Some(path.to_path_buf());
    let yaml_ext = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml" | "json")
    );
    let yaml_candidate = yaml_ext || path.extension().is_none();
    let mut yaml_err = None;
    let mut yaml_was_mapping = false;
    if yaml_candidate {
        let mut attempt = data.clone();
        match yamlvalue::load(&text) {
            Ok(doc) => {
                yaml_was_mapping = matches!(doc, yamlvalue::Node::Map(_));
                // `!vault` values stay encrypted until a run uses them, as in Ansible.
                match yaml::parse(&mut attempt, path, &doc) {
                    Ok(()) => {
                        *data = attempt;
                        data.current_source = None;
                        return Ok(());
                    }
                    Err(e) => yaml_err = Some(e),
                }
            }
            Err(e) => {
                yaml_err = Some(InventoryError::YamlSyntax {
                    path: path.to_path_buf(),
                    line: e.line,
                    column: e.column,
                    message: e.message,
                })
            }
        }
    }
    let mut attempt = data.clone();
    let res = ini::parse(&mut attempt, path, &text);
    match res {
        Ok(()) => {
            *data = attempt;
            data.current_source = None;
            Ok(())
        }
        Err(ini_err) => match yaml_err {
            // A .yml file, or an extensionless one that is a YAML mapping, was meant as YAML.
            Some(y) if yaml_ext || yaml_was_mapping => Err(y),
            _ => Err(ini_err),
        },
    }
}

#[cfg(test)]
mod tests;
