//! `sesame inventory`: show an inventory exactly as `ansible-inventory` does (`--list`,
//! `--host`, `--graph`, `--yaml`, `--limit`). It only reads and prints; it never connects.

use crate::inventory::{output, Inventory};
use std::path::PathBuf;

/// Arguments of `sesame inventory`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["list", "host", "graph"])))]
pub struct Args {
    /// Inventory source: INI/YAML/JSON file, directory, or a `host1,host2,` list. Repeatable.
    /// Default: $ANSIBLE_INVENTORY, else /etc/ansible/hosts.
    #[arg(short = 'i', long = "inventory", value_name = "INV")]
    pub inventory: Vec<PathBuf>,
    /// Print the whole inventory as JSON (like `ansible-inventory --list`).
    #[arg(long)]
    pub list: bool,
    /// Print one host's variables (the pattern must match exactly one host).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Print a tree of groups and hosts, starting at GROUP (default `all`).
    #[arg(long)]
    pub graph: bool,
    /// Group to start the graph at (with --graph).
    #[arg(value_name = "GROUP")]
    pub group: Option<String>,
    /// Further limit the hosts shown to this host pattern (with --list).
    #[arg(short = 'l', long = "limit", value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Print YAML instead of JSON (with --list or --host).
    #[arg(short = 'y', long)]
    pub yaml: bool,
    /// Folder whose group_vars/ and host_vars/ also apply, as a playbook's do (default: the
    /// current directory, as ansible-inventory does).
    #[arg(long = "playbook-dir", value_name = "DIR")]
    pub playbook_dir: Option<PathBuf>,
}

/// The sources to read: `-i` values, else `inventory` of ansible.cfg or `$ANSIBLE_INVENTORY`
/// (comma-separated paths are split as Ansible does), else `/etc/ansible/hosts` if it exists.
fn default_sources(given: &[PathBuf]) -> Vec<PathBuf> {
    let sources = super::common::inventory_sources(given);
    if given.is_empty() && sources == [PathBuf::from("/etc/ansible/hosts")] && !sources[0].exists()
    {
        tracing::warn!("no inventory was parsed (no -i, no inventory in ansible.cfg or $ANSIBLE_INVENTORY, no /etc/ansible/hosts): the inventory is empty");
        return Vec::new();
    }
    sources
}

/// Run `sesame inventory`.
pub fn run(args: Args) -> crate::Result<u8> {
    let sources = default_sources(&args.inventory);
    let play_dir = match &args.playbook_dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|source| crate::Error::Io {
            path: PathBuf::from("."),
            source,
        })?,
    };
    let inv = Inventory::load_with_play_dirs(&sources, &[play_dir])?;
    let text = render(&inv, &args)?;
    println!("{text}");
    Ok(0)
}

/// The text `ansible-inventory` would print for these arguments (without the final newline).
pub fn render(inv: &Inventory, args: &Args) -> crate::Result<String> {
    if let Some(pattern) = &args.host {
        let hosts = inv
            .select(pattern)
            .map_err(crate::inventory::InventoryError::from)?;
        if hosts.len() != 1 {
            return Err(crate::Error::Usage(format!(
                "you must pass a single valid host to --host parameter (`{pattern}` matches {} hosts)",
                hosts.len()
            )));
        }
        let host = &hosts[0];
        let text = if args.yaml {
            inv.host_yaml(host)
        } else {
            inv.host_json(host).map(|v| output::python_json(&v))
        };
        return Ok(text
            .map(|t| t.strip_suffix('\n').unwrap_or(&t).to_string())
            .unwrap_or_default());
    }
    if args.graph {
        let group = args.group.as_deref().unwrap_or("all");
        if !inv.has_group(group) {
            return Err(crate::Error::Usage(format!(
                "pattern must be a valid group name when using --graph, `{group}` is not a group"
            )));
        }
        // Like ansible-inventory, --graph ignores --limit.
        return Ok(inv.graph(Some(group)));
    }
    let limit = args.limit.as_deref();
    if args.yaml {
        let y = inv
            .list_yaml(limit)
            .map_err(crate::inventory::InventoryError::from)?;
        return Ok(y.strip_suffix('\n').unwrap_or(&y).to_string());
    }
    let v = inv
        .list_json_limited(limit)
        .map_err(crate::inventory::InventoryError::from)?;
    Ok(output::python_json(&v))
}
