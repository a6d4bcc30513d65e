//! Dynamic inventory scripts, run as Ansible's `script` inventory plugin runs them: an
//! executable source is run with `--list` and prints JSON: groups (a list of hosts, or a mapping
//! with `hosts`, `vars`, `children`) and `_meta.hostvars`; without `_meta` each host's variables
//! come from a `--host NAME` run. A script that fails, hangs or prints something else is an
//! error naming it, with what it said.

use super::data::Data;
use super::error::InventoryError;
use serde_json::{Map, Value};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one run of a script may take.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Run the script at `path` and add what it lists to `data`.
pub fn parse(data: &mut Data, path: &Path) -> Result<(), InventoryError> {
    let list = run(path, &["--list"])?;
    let Value::Object(groups) = list else {
        return Err(bad(path, "`--list` must print a JSON object of groups"));
    };
    let meta = groups.get("_meta").and_then(|m| m.get("hostvars"));
    let has_meta = meta.is_some();
    let hostvars = meta.and_then(Value::as_object).cloned().unwrap_or_default();
    for (name, gdata) in &groups {
        if name == "_meta" {
            continue;
        }
        let g = data.add_group(name);
        let gdata = match gdata {
            Value::Object(o) => o.clone(),
            // The short form: a list of hosts.
            other => {
                let mut o = Map::new();
                o.insert("hosts".into(), other.clone());
                o
            }
        };
        if let Some(hosts) = gdata.get("hosts") {
            let Value::Array(hosts) = hosts else {
                return Err(bad(
                    path,
                    &format!("group `{name}`: `hosts` must be a list"),
                ));
            };
            for h in hosts {
                let Some(hname) = h.as_str() else {
                    return Err(bad(
                        path,
                        &format!("group `{name}`: host {h} is not a string"),
                    ));
                };
                let is_new = data.host(hname).is_none();
                let hi = data.add_host(hname, Some(g), None);
                if !is_new {
                    continue;
                }
                let vars = match hostvars.get(hname) {
                    Some(v) => v.clone(),
                    None if has_meta => Value::Object(Map::new()),
                    None => run(path, &["--host", hname])?,
                };
                let Value::Object(vars) = vars else {
                    return Err(bad(
                        path,
                        &format!("the variables of host `{hname}` must be a mapping"),
                    ));
                };
                for (k, v) in vars {
                    data.set_host_var(hi, &k, v);
                }
            }
        }
        if let Some(vars) = gdata.get("vars") {
            let Value::Object(vars) = vars else {
                return Err(bad(
                    path,
                    &format!("group `{name}`: `vars` must be a mapping"),
                ));
            };
            for (k, v) in vars {
                data.set_group_var(g, k, v.clone()).map_err(|value| {
                    InventoryError::BadPriority {
                        path: path.to_path_buf(),
                        line: 1,
                        group: name.clone(),
                        value,
                    }
                })?;
            }
        }
        if let Some(children) = gdata.get("children") {
            let Value::Array(children) = children else {
                return Err(bad(
                    path,
                    &format!("group `{name}`: `children` must be a list"),
                ));
            };
            for c in children {
                let Some(cname) = c.as_str() else {
                    return Err(bad(
                        path,
                        &format!("group `{name}`: child {c} is not a string"),
                    ));
                };
                let ci = data.add_group(cname);
                data.add_child_group(g, ci)
                    .map_err(|cy| InventoryError::GroupCycle {
                        path: path.to_path_buf(),
                        line: 1,
                        cycle: cy.describe(),
                    })?;
            }
        }
    }
    Ok(())
}

fn bad(path: &Path, what: &str) -> InventoryError {
    InventoryError::Unsupported {
        path: path.to_path_buf(),
        line: 1,
        what: format!("inventory script output: {what}"),
    }
}

/// Run the script with `args` and parse its stdout as JSON.
fn run(path: &Path, args: &[&str]) -> Result<Value, InventoryError> {
    let fail = |what: String| InventoryError::Unsupported {
        path: path.to_path_buf(),
        line: 1,
        what: format!("inventory script `{}`: {what}", args.join(" ")),
    };
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    // Read both pipes on threads so a chatty script cannot block on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut b);
        }
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut b);
        }
        b
    });
    let end = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("no answer within {SCRIPT_TIMEOUT:?}")));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if !status.success() {
        let said = String::from_utf8_lossy(&stderr);
        return Err(fail(format!("failed ({status}): {}", said.trim())));
    }
    serde_json::from_slice(&stdout).map_err(|e| fail(format!("did not print JSON: {e}")))
}
