//! Oracle tests of `sesame::inventory`: every case under tests/data/inventory/<case>/ was run
//! through the real `ansible-inventory`/`ansible --list-hosts` (see oracle.sh there) and its
//! output committed in expected/. sesame must print the same bytes for --list, --graph,
//! --list --yaml, --host and --list --limit, and select the same hosts for each pattern.

use sesame::inventory::{output, Inventory, InventoryError, PatternError};
use std::path::{Path, PathBuf};

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/inventory")
        .join(name)
}

fn sources(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dir.join("sources")).expect("sources file");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            if l.contains(',') {
                PathBuf::from(l)
            } else {
                dir.join(l)
            }
        })
        .collect()
}

fn read(p: &Path) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    t.strip_suffix('\n').unwrap_or(&t).to_string()
}

/// Compare one case with its oracle outputs; returns (passed, failures).
fn check_case(name: &str) -> (usize, Vec<String>) {
    let dir = case_dir(name);
    let exp = dir.join("expected");
    let inv = Inventory::load(&sources(&dir)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut check = |what: String, got: String, want: String| {
        if got == want {
            passed += 1;
        } else {
            let diff = similar::TextDiff::from_lines(&want, &got)
                .unified_diff()
                .header("oracle", "sesame")
                .to_string();
            failures.push(format!("{name} {what}:\n{diff}"));
        }
    };

    check(
        "--list".into(),
        output::python_json(&inv.list_json()),
        read(&exp.join("list.json")),
    );
    check(
        "--graph".into(),
        inv.graph(None),
        read(&exp.join("graph.txt")),
    );
    let yaml = inv.list_yaml(None).expect("no limit");
    check(
        "--list --yaml".into(),
        yaml.strip_suffix('\n').unwrap_or(&yaml).to_string(),
        read(&exp.join("list.yml")),
    );
    if dir.join("graph_group").exists() {
        let group = read(&dir.join("graph_group"));
        check(
            format!("--graph {group}"),
            inv.graph(Some(&group)),
            read(&exp.join("graph-group.txt")),
        );
    }
    if dir.join("limit").exists() {
        let limit = read(&dir.join("limit"));
        let v = inv.list_json_limited(Some(&limit)).expect("limit pattern");
        check(
            format!("--list -l {limit}"),
            output::python_json(&v),
            read(&exp.join("list-limit.json")),
        );
    }
    if dir.join("host_checks").exists() {
        for h in read(&dir.join("host_checks")).lines() {
            // `--host` takes a pattern that must match exactly one host.
            let got = match inv.select(h).as_deref() {
                Ok([one]) => inv
                    .host_json(one)
                    .map(|v| output::python_json(&v))
                    .unwrap_or_else(|| "<unknown host>".into()),
                _ => "!ERROR".into(),
            };
            check(
                format!("--host {h}"),
                got,
                read(&exp.join(format!("host-{h}.json"))),
            );
            let got = match inv.select(h).as_deref() {
                Ok([one]) => {
                    let y = inv
                        .host_yaml(one)
                        .unwrap_or_else(|| "<unknown host>".into());
                    y.strip_suffix('\n').unwrap_or(&y).to_string()
                }
                _ => "!ERROR".into(),
            };
            check(
                format!("--host {h} --yaml"),
                got,
                read(&exp.join(format!("host-{h}.yml"))),
            );
        }
    }
    if exp.join("patterns.tsv").exists() {
        for line in read(&exp.join("patterns.tsv")).lines() {
            let mut f = line.split('\t');
            let (pat, lim, want) = (
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            );
            let got = inv.select(pat).and_then(|hosts| {
                if lim.is_empty() {
                    Ok(hosts)
                } else {
                    inv.limit(hosts, lim)
                }
            });
            let got = match got {
                Ok(h) => h.join(","),
                // `ansible --list-hosts` swallows this error and lists no host; the inventory
                // API (InventoryManager.get_hosts) raises it, and so does sesame.
                Err(PatternError::SubscriptOutOfRange { .. }) if want.is_empty() => String::new(),
                Err(e) => format!("!ERROR {e}"),
            };
            check(format!("pattern `{pat}` limit `{lim}`"), got, want.into());
        }
    }
    (passed, failures)
}

fn run_case(name: &str) {
    let (passed, failures) = check_case(name);
    eprintln!(
        "{name}: {passed} oracle comparisons passed, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(passed > 0, "{name}: no comparison ran");
}

#[test]
fn oracle_ini_basic() {
    run_case("ini_basic");
}
#[test]
fn oracle_yaml_basic() {
    run_case("yaml_basic");
}
#[test]
fn oracle_mixed_dir() {
    run_case("mixed_dir");
}
#[test]
fn oracle_ranges() {
    run_case("ranges");
}
#[test]
fn oracle_group_vars_dirs() {
    run_case("group_vars_dirs");
}
#[test]
fn oracle_precedence() {
    run_case("precedence");
}
#[test]
fn oracle_nested_children() {
    run_case("nested_children");
}
#[test]
fn oracle_fleet() {
    run_case("fleet");
}
#[test]
fn oracle_multi_source() {
    run_case("multi_source");
}
#[test]
fn oracle_json_inventory() {
    run_case("json_inventory");
}

/// Dynamic inventory scripts, with `_meta` and without (one `--host` run per host).
#[test]
fn oracle_script_inventory() {
    run_case("script_inventory");
}

#[test]
fn oracle_edge_ini() {
    run_case("edge_ini");
}
#[test]
fn oracle_edge_yaml() {
    run_case("edge_yaml");
}

#[test]
fn oracle_example() {
    // inventory.example at the repository root, as shipped to users.
    run_case("example");
}

#[test]
fn every_case_dir_has_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/inventory");
    let src = std::fs::read_to_string(file!()).expect("own source");
    for e in std::fs::read_dir(root).expect("data dir") {
        let e = e.expect("entry");
        if e.path().join("sources").exists() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                src.contains(&format!("run_case(\"{name}\")")),
                "case {name} has no test"
            );
        }
    }
}

/// The error cases: each must name the file and the line.
fn load_err(files: &[(&str, &str)], main: &str) -> (String, InventoryError) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }
    let main_path = dir.path().join(main);
    let err = Inventory::load(std::slice::from_ref(&main_path)).expect_err("must fail");
    (main_path.display().to_string(), err)
}

fn assert_err(files: &[(&str, &str)], main: &str, file: &str, line: usize, needle: &str) {
    let (_, err) = load_err(files, main);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{file}:{line}")),
        "`{msg}` should name {file}:{line}"
    );
    assert!(msg.contains(needle), "`{msg}` should contain `{needle}`");
}

#[test]
fn error_unreadable_file() {
    let err = Inventory::load(&[PathBuf::from("/nonexistent/sesame/hosts")]).unwrap_err();
    assert!(matches!(err, InventoryError::Unreadable { .. }));
    assert!(err.to_string().contains("/nonexistent/sesame/hosts"));
}

#[test]
fn error_unclosed_range() {
    assert_err(
        &[("h.ini", "[web]\nweb[01:\n")],
        "h.ini",
        "h.ini",
        2,
        "unclosed host range",
    );
}

#[test]
fn error_bad_ranges() {
    assert_err(
        &[("h.ini", "[web]\nok\nweb[5:1]\n")],
        "h.ini",
        "h.ini",
        3,
        "bad host range",
    );
    assert_err(
        &[("h.ini", "[web]\nweb[a:5]\n")],
        "h.ini",
        "h.ini",
        2,
        "bad host range",
    );
}

#[test]
fn error_unknown_section_suffix() {
    assert_err(
        &[("h.ini", "[g]\nh1\n\n[g:foo]\n")],
        "h.ini",
        "h.ini",
        4,
        "unknown type `foo`",
    );
}

#[test]
fn error_bad_host_line() {
    assert_err(
        &[("h.ini", "[g]\nh1 a='unclosed\n")],
        "h.ini",
        "h.ini",
        2,
        "No closing quotation",
    );
    assert_err(
        &[("h.ini", "[g]\nh1 novalue\n")],
        "h.ini",
        "h.ini",
        2,
        "key=value",
    );
    assert_err(
        &[("h.ini", "[g]\n\nh1:\n")],
        "h.ini",
        "h.ini",
        3,
        "reserved for a port",
    );
}

#[test]
fn error_vars_line_without_equals() {
    assert_err(
        &[("h.ini", "[g]\nh1\n[g:vars]\njustaword\n")],
        "h.ini",
        "h.ini",
        4,
        "key=value",
    );
}

#[test]
fn error_undefined_child_and_vars_group() {
    assert_err(
        &[("h.ini", "[p:children]\nmissing\n")],
        "h.ini",
        "h.ini",
        2,
        "undefined group `missing`",
    );
    assert_err(
        &[("h.ini", "h1\n[ghost:vars]\na=1\n")],
        "h.ini",
        "h.ini",
        2,
        "undefined group `ghost`",
    );
}

#[test]
fn error_child_group_cycle_is_named() {
    let ini = "[a:children]\nb\n[b:children]\nc\n[c:children]\na\n";
    assert_err(&[("h.ini", ini)], "h.ini", "h.ini", 6, "a -> b -> c -> a");
    let yml = "all:\n  children:\n    x:\n      children:\n        y:\n          children:\n            x:\n";
    // Ansible adds y -> x first (while parsing y), then refuses x -> y at the `y:` key.
    assert_err(&[("h.yml", yml)], "h.yml", "h.yml", 5, "y -> x -> y");
}

#[test]
fn error_yaml_syntax_has_line_and_column() {
    let (path, err) = load_err(
        &[("h.yml", "all:\n  hosts:\n    web01: [unclosed\n")],
        "h.yml",
    );
    assert!(matches!(err, InventoryError::YamlSyntax { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{path}:")), "{msg}");
    let InventoryError::YamlSyntax { line, column, .. } = err else {
        unreachable!()
    };
    assert!(line >= 3 && column >= 1, "line {line} column {column}");
}

#[test]
fn error_yaml_type_hosts_list() {
    let yml = "all:\n  children:\n    web:\n      hosts:\n        - web01\n        - web02\n";
    assert_err(
        &[("h.yml", yml)],
        "h.yml",
        "h.yml",
        4,
        "\"hosts\" entry for group \"web\"",
    );
    let yml = "web:\n  hosts:\n    web01: just-a-string\n";
    assert_err(
        &[("h.yml", yml)],
        "h.yml",
        "h.yml",
        3,
        "mapping of variables",
    );
    assert_err(
        &[("h.yml", "- a\n- b\n")],
        "h.yml",
        "h.yml",
        1,
        "expected a mapping of groups",
    );
}

#[test]
fn error_group_vars_not_a_mapping() {
    let files = [
        ("h.ini", "[web]\nweb01\n"),
        ("group_vars/web.yml", "# comment\n- not\n- a mapping\n"),
    ];
    let (_, err) = load_err(&files, "h.ini");
    let msg = err.to_string();
    assert!(msg.contains("group_vars/web.yml:2"), "{msg}");
    assert!(msg.contains("must be a mapping"), "{msg}");
}

#[test]
fn vault_values_stay_encrypted_whole_vault_files_need_a_password() {
    // A `!vault` value loads without a password and is shown as ansible-inventory shows it.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("h.ini"), "[web]\nweb01\n").unwrap();
    std::fs::create_dir_all(dir.path().join("group_vars")).unwrap();
    std::fs::write(
        dir.path().join("group_vars/web.yml"),
        "a: 1\npw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
    )
    .unwrap();
    let inv = Inventory::load(&[dir.path().join("h.ini")]).expect("loads");
    assert_eq!(
        inv.host_vars("web01")["pw"],
        serde_json::json!({"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\n6162\n"})
    );
    // A wholly encrypted vars file cannot even be parsed without one: file, line, the fix.
    let files = [
        ("h.ini", "[web]\nweb01\n"),
        ("group_vars/web.yml", "$ANSIBLE_VAULT;1.1;AES256\n6162\n"),
    ];
    let (_, err) = load_err(&files, "h.ini");
    let msg = err.to_string();
    assert!(msg.contains("group_vars/web.yml:1"), "{msg}");
    assert!(
        msg.contains("--vault-password-file"),
        "says how to give the password: {msg}"
    );
}

#[test]
fn error_bad_group_priority() {
    assert_err(
        &[("h.ini", "[g]\nh\n[g:vars]\nansible_group_priority=high\n")],
        "h.ini",
        "h.ini",
        4,
        "ansible_group_priority",
    );
}

#[test]
fn inventory_example_at_repo_root_loads() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory.example");
    let inv = Inventory::load(&[p]).expect("inventory.example must load");
    let web = inv.select("web").expect("pattern");
    assert!(!web.is_empty());
    let v = inv.host_vars(&web[0]);
    assert_eq!(v["knock_mode"], "knockd");
    assert_eq!(v["knock_sequence"], serde_json::json!([7101, 7202, 7303]));
}

#[test]
fn cli_inventory_list_matches_oracle() {
    // The binary end to end, from an empty working directory (as the oracle was run).
    let dir = case_dir("fleet");
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["inventory", "--list", "-i"])
        .arg(dir.join("inventory/hosts.ini"))
        .current_dir(cwd.path())
        .output()
        .expect("run sesame");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = std::fs::read_to_string(dir.join("expected/list.json")).expect("expected");
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["inventory", "--graph", "-i"])
        .arg(dir.join("inventory/hosts.ini"))
        .current_dir(cwd.path())
        .output()
        .expect("run sesame");
    let want = std::fs::read_to_string(dir.join("expected/graph.txt")).expect("expected");
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["inventory", "--host", "web5*", "-i"])
        .arg(dir.join("inventory/hosts.ini"))
        .current_dir(cwd.path())
        .output()
        .expect("run sesame");
    let want = std::fs::read_to_string(dir.join("expected/host-web50.ams.example.com.json"))
        .expect("expected");
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["inventory", "--host", "web*", "-i"])
        .arg(dir.join("inventory/hosts.ini"))
        .current_dir(cwd.path())
        .output()
        .expect("run sesame");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("single valid host"));
}
