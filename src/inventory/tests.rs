//! Unit tests of the inventory API the rest of sesame uses (precedence, magic variables,
//! patterns, sources). Expected values were checked against ansible-core 2.19 by hand; the
//! byte-for-byte oracle comparisons live in tests/hostfree/inventory.rs.

use super::*;
use serde_json::json;

/// Write files into a temp dir and load `main` from it.
fn inv(files: &[(&str, &str)], main: &[&str]) -> (tempfile::TempDir, Inventory) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }
    let sources: Vec<PathBuf> = main.iter().map(|m| dir.path().join(m)).collect();
    let inv = Inventory::load(&sources).unwrap_or_else(|e| panic!("load: {e}"));
    (dir, inv)
}

const FLEET: &str = "\
bastion
[web]
web[01:04]
[db]
db01
db02
[prod:children]
web
db
[canary]
web02
";

#[test]
fn host_names_keep_inventory_order() {
    let (_d, i) = inv(&[("h.ini", FLEET)], &["h.ini"]);
    assert_eq!(
        i.host_names(),
        vec!["bastion", "web01", "web02", "web03", "web04", "db01", "db02"]
    );
}

#[test]
fn group_names_like_ansible() {
    let (_d, i) = inv(&[("h.ini", FLEET)], &["h.ini"]);
    assert_eq!(i.group_names("web02"), vec!["canary", "prod", "web"]);
    assert_eq!(i.group_names("db01"), vec!["db", "prod"]);
    // Ansible's group_names holds `ungrouped` for a host in no group.
    assert_eq!(i.group_names("bastion"), vec!["ungrouped"]);
    assert!(i.group_names("nope").is_empty());
}

#[test]
fn groups_magic_var_includes_children_hosts() {
    let (_d, i) = inv(&[("h.ini", FLEET)], &["h.ini"]);
    let g = i.groups();
    assert_eq!(
        g["prod"],
        vec!["web01", "web02", "web03", "web04", "db01", "db02"]
    );
    assert_eq!(g["ungrouped"], vec!["bastion"]);
    assert_eq!(g["all"][0], "bastion");
    assert_eq!(g["all"].len(), 7);
    assert_eq!(
        g.keys().collect::<Vec<_>>(),
        vec!["all", "ungrouped", "web", "db", "prod", "canary"]
    );
}

#[test]
fn patterns_every_form() {
    let (d, i) = inv(&[("h.ini", FLEET)], &["h.ini"]);
    let s = |p: &str| i.select(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(s("all").len(), 7);
    assert_eq!(s("*").len(), 7);
    assert_eq!(s("web*"), vec!["web01", "web02", "web03", "web04"]);
    assert_eq!(s("db:canary"), vec!["db01", "db02", "web02"]);
    assert_eq!(s("db,canary"), vec!["db01", "db02", "web02"]);
    assert_eq!(s("prod:&canary"), vec!["web02"]);
    assert_eq!(s("web:!canary"), vec!["web01", "web03", "web04"]);
    assert_eq!(s("~db0[2-9]"), vec!["db02"]);
    assert_eq!(s("web[0]"), vec!["web01"]);
    assert_eq!(s("web[1:2]"), vec!["web02", "web03"]);
    assert_eq!(s("web[-1]"), vec!["web04"]);
    assert_eq!(s("!prod"), vec!["bastion"]);
    assert_eq!(s("bastion"), vec!["bastion"]);
    assert!(s("nothing-matches").is_empty());
    assert!(matches!(
        i.select("web[9]"),
        Err(PatternError::SubscriptOutOfRange { .. })
    ));
    assert!(matches!(
        i.select("~web(?=1)"),
        Err(PatternError::BadRegex { .. })
    ));
    // @file: one pattern per line, relative to the working directory or absolute.
    let retry = d.path().join("site.retry");
    std::fs::write(&retry, "db02\nweb03\n\n").expect("write");
    assert_eq!(s(&format!("@{}", retry.display())), vec!["db02", "web03"]);
    assert!(matches!(
        i.select("@/nonexistent/sesame.retry"),
        Err(PatternError::LimitFile { .. })
    ));
}

#[test]
fn limit_intersects_and_keeps_order() {
    let (_d, i) = inv(&[("h.ini", FLEET)], &["h.ini"]);
    let play = i.select("prod").expect("pattern");
    assert_eq!(
        i.limit(play.clone(), "canary:db01").expect("limit"),
        vec!["web02", "db01"]
    );
    assert!(i.limit(play, "bastion").expect("limit").is_empty());
}

#[test]
fn precedence_group_depth_priority_name_then_files_then_host() {
    let files = [
        (
            "h.ini",
            "[all:vars]\na=all\n[p:children]\nc\n[p:vars]\na=p\nb=p\n[c]\nh1 z=inline\n[c:vars]\na=c\n\
             [zz]\nh1\n[zz:vars]\nd=zz\n[aa]\nh1\n[aa:vars]\nd=aa\nprio=aa\n\
             [hi]\nh1\n[hi:vars]\nansible_group_priority=9\nprio=hi\n",
        ),
        ("group_vars/all.yml", "a: all_file\nf: all_file\n"),
        ("group_vars/p.yml", "f: p_file\n"),
        ("host_vars/h1.yml", "z: host_file\n"),
    ];
    let (_d, i) = inv(&files, &["h.ini"]);
    let v = i.host_vars("h1");
    // group_vars/all.yml beats every group's inventory vars, as in Ansible.
    assert_eq!(v["a"], "all_file");
    assert_eq!(v["b"], "p");
    // Same depth: sorted by priority then name, later wins: aa < hi (priority 9) < zz.
    assert_eq!(v["d"], "zz");
    assert_eq!(v["prio"], "hi");
    assert_eq!(v["f"], "p_file");
    assert_eq!(v["z"], "host_file");
    assert!(!v.contains_key("ansible_group_priority"));
}

#[test]
fn play_dirs_rank_above_inventory_dirs() {
    let files = [
        ("inv/h.ini", "[web]\nw1\n"),
        (
            "inv/group_vars/web.yml",
            "x: inventory_dir\ny: inventory_dir\n",
        ),
        ("play/group_vars/web.yml", "x: play_dir\n"),
        ("play/host_vars/w1.yml", "h: play_dir\n"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let i =
        Inventory::load_with_play_dirs(&[dir.path().join("inv/h.ini")], &[dir.path().join("play")])
            .expect("load");
    let v = i.host_vars("w1");
    assert_eq!(v["x"], "play_dir");
    assert_eq!(v["y"], "inventory_dir");
    assert_eq!(v["h"], "play_dir");
}

#[test]
fn magic_vars_like_ansible() {
    let (d, i) = inv(&[("h.ini", "web01.example.com\n198.19.0.5\n")], &["h.ini"]);
    let m = i.magic_vars("web01.example.com");
    assert_eq!(m["inventory_hostname"], "web01.example.com");
    assert_eq!(m["inventory_hostname_short"], "web01");
    assert_eq!(m["group_names"], json!(["ungrouped"]));
    let file = absolute(&d.path().join("h.ini"));
    assert_eq!(m["inventory_file"], json!(file.to_string_lossy()));
    assert_eq!(
        m["inventory_dir"],
        json!(file.parent().expect("dir").to_string_lossy())
    );
    assert_eq!(
        i.magic_vars("198.19.0.5")["inventory_hostname_short"],
        "198.19.0.5"
    );
    // Magic variables never leak into host_vars (ansible-inventory hides them too).
    assert!(!i
        .host_vars("web01.example.com")
        .contains_key("inventory_file"));
}

#[test]
fn ini_value_typing() {
    let ini = "h1 a=1 b=1.5 c=True d=yes e=\"'7'\" f=[1,2] g=None h=007\n[all:vars]\nv=1\nw=text\n";
    let (_d, i) = inv(&[("h.ini", ini)], &["h.ini"]);
    let v = i.host_vars("h1");
    assert_eq!(v["a"], 1);
    assert_eq!(v["b"], 1.5);
    assert_eq!(v["c"], true);
    assert_eq!(v["d"], "yes");
    assert_eq!(v["e"], "7");
    assert_eq!(v["f"], json!([1, 2]));
    assert_eq!(v["g"], json!(null));
    assert_eq!(v["h"], "007");
    // ansible-core 2.19 literal_evals [g:vars] values too.
    assert_eq!(v["v"], 1);
    assert_eq!(v["w"], "text");
}

#[test]
fn ports_and_repeated_hosts() {
    let ini = "[a]\nh1:2222\nh2\n[b]\nh1:3333 x=1\nh2:4444\n";
    let (_d, i) = inv(&[("h.ini", ini)], &["h.ini"]);
    // The port applies when the host is first defined only (Ansible's Host.__init__).
    assert_eq!(i.host_vars("h1")["ansible_port"], 2222);
    assert_eq!(i.host_vars("h1")["x"], 1);
    assert!(!i.host_vars("h2").contains_key("ansible_port"));
}

#[test]
fn host_list_source_and_directory_source() {
    let files = [
        ("inv/a.ini", "[web]\nw1\n"),
        ("inv/b.yml", "db:\n  hosts:\n    d1:\n"),
        ("inv/skip.retry", "[junk]\nj1\n"),
        ("inv/.hidden", "[junk]\nj2\n"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let i = Inventory::load(&[dir.path().join("inv"), PathBuf::from("x1,x2:2201,")]).expect("load");
    assert_eq!(i.host_names(), vec!["w1", "d1", "x1", "x2"]);
    assert_eq!(i.host_vars("x2")["ansible_port"], 2201);
    assert_eq!(i.ungrouped(), vec!["x1", "x2"]);
    assert!(!i.has_group("junk"));
}

#[test]
fn extensionless_yaml_is_read_as_yaml() {
    let (_d, i) = inv(
        &[("hosts", "web:\n  hosts:\n    w1:\n      a: on\n")],
        &["hosts"],
    );
    assert_eq!(i.host_vars("w1")["a"], true);
}

#[test]
fn unsupported_sources_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = dir.path().join("h.toml");
    std::fs::write(&toml, "[web.hosts]\n").expect("write");
    let e = Inventory::load(&[toml]).unwrap_err();
    assert!(e.to_string().contains("TOML"), "{e}");
    let plugin = dir.path().join("aws_ec2.yml");
    std::fs::write(&plugin, "plugin: amazon.aws.aws_ec2\n").expect("write");
    let e = Inventory::load(&[plugin]).unwrap_err();
    assert!(e.to_string().contains(":1:"), "{e}");
    let script = dir.path().join("ec2.py");
    std::fs::write(&script, "#!/bin/sh\necho '{}'\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // A dynamic inventory script is run (here it lists nothing); one that fails is an error
    // naming it and what it said.
    let inv = Inventory::load(std::slice::from_ref(&script)).expect("an empty script inventory");
    assert!(inv.select("all").unwrap().is_empty());
    std::fs::write(&script, "#!/bin/sh\necho 'cmdb unreachable' >&2\nexit 3\n").expect("write");
    let e = Inventory::load(&[script]).unwrap_err().to_string();
    assert!(
        e.contains("ec2.py") && e.contains("cmdb unreachable"),
        "{e}"
    );
    let vault = dir.path().join("vaulted");
    std::fs::write(&vault, "$ANSIBLE_VAULT;1.1;AES256\n3031\n").expect("write");
    let e = Inventory::load(&[vault]).unwrap_err();
    assert!(matches!(e, InventoryError::Vault { line: 1, .. }), "{e}");
}

#[test]
fn graph_and_list_shapes() {
    let (_d, i) = inv(&[("h.ini", FLEET)], &["h.ini"]);
    assert_eq!(
        i.graph(Some("prod")),
        "@prod:\n  |--@web:\n  |  |--web01\n  |  |--web02\n  |  |--web03\n  |  |--web04\n  |--@db:\n  |  |--db01\n  |  |--db02"
    );
    assert_eq!(i.graph(Some("nope")), "");
    let l = i.list_json();
    assert_eq!(l["all"]["children"], json!(["ungrouped", "prod", "canary"]));
    assert_eq!(l["_meta"]["hostvars"], json!({}));
    assert!(i.host_json("nope").is_none());
}
