//! Golden tests of the port_knocking role's templates: every mode and style, IPv4 and IPv6,
//! with and without a close sequence, UDP knocks, allow sources, public ports and
//! `knock_drop_unlisted: false`. Each case is `tests/data/knock/<case>/vars.json` (the host's
//! variables plus `_facts`); the expected files sit beside it, named after their target path.
//! `SESAME_BLESS=1 cargo test --test hostfree knock_render::` rewrites them.

use serde_json::{Map, Value};
use sesame::knock::{render, NetFacts};
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/knock")
}

fn role_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("roles/port_knocking")
}

/// `/etc/iptables/rules.v4` -> `etc_iptables_rules.v4`.
pub fn golden_name(target: &str) -> String {
    target.trim_start_matches('/').replace('/', "_")
}

fn load_case(dir: &Path) -> (Map<String, Value>, NetFacts) {
    let text = std::fs::read_to_string(dir.join("vars.json")).unwrap();
    let mut vars: Map<String, Value> = serde_json::from_str(&text).unwrap();
    let facts = vars.remove("_facts").unwrap_or(Value::Null);
    let facts = NetFacts {
        default_interface: facts
            .get("default_interface")
            .and_then(Value::as_str)
            .map(str::to_string),
        has_ipv6: facts
            .get("has_ipv6")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        controller_ip: facts
            .get("controller_ip")
            .and_then(Value::as_str)
            .map(|s| s.parse().unwrap()),
        forwarded_ports: facts
            .get("forwarded_ports")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|p| sesame::knock::KnockPort {
                        port: p as u16,
                        proto: sesame::knock::Proto::Tcp,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    (vars, facts)
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("vars.json").is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn golden_files_match() {
    let bless = std::env::var_os("SESAME_BLESS").is_some_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 12, "only {} golden cases found", cases.len());
    let mut failures = Vec::new();
    for dir in &cases {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (vars, facts) = load_case(dir);
        let profile = sesame::knock::doors::profile_from_vars(&case, &vars, &facts)
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
        let files = render(&profile, &role_dir()).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let mut expected_names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "vars.json")
            .collect();
        expected_names.sort();
        let mut rendered_names: Vec<String> = files.keys().map(|k| golden_name(k)).collect();
        rendered_names.sort();
        if bless {
            for n in &expected_names {
                std::fs::remove_file(dir.join(n)).unwrap();
            }
            for (target, f) in &files {
                std::fs::write(dir.join(golden_name(target)), &f.content).unwrap();
            }
            continue;
        }
        if expected_names != rendered_names {
            failures.push(format!(
                "{case}: rendered {rendered_names:?}, golden {expected_names:?}"
            ));
            continue;
        }
        for (target, f) in &files {
            let want = std::fs::read_to_string(dir.join(golden_name(target))).unwrap();
            if want != f.content {
                let diff = similar::TextDiff::from_lines(&want, &f.content)
                    .unified_diff()
                    .header("golden", "rendered")
                    .to_string();
                failures.push(format!("{case} {target}:\n{diff}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatch(es) (SESAME_BLESS=1 rewrites them after review):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// In iptables mode every door of `knock_doors` opens a forwarded (published) port too: the
/// forwarded gate checks each door's last flag, not only the main sequence's.
#[test]
fn every_door_opens_forwarded_ports_in_iptables_mode() {
    let vars: Map<String, Value> = serde_json::from_value(serde_json::json!({
        "knock_mode": "iptables", "knock_protected_ports": [22, 8080],
        "knock_doors": [{"name": "alice", "sequence": [7101, 7202, 7101]},
                        {"name": "bob", "sequence": [7301, 7402, 7301]}]
    }))
    .unwrap();
    let facts = NetFacts {
        default_interface: Some("eth0".into()),
        forwarded_ports: vec![sesame::knock::KnockPort {
            port: 8080,
            proto: sesame::knock::Proto::Tcp,
        }],
        ..NetFacts::default()
    };
    let p = sesame::knock::doors::profile_from_vars("h", &vars, &facts).unwrap();
    assert_eq!(p.doors.len(), 1);
    let files = render(&p, &role_dir()).unwrap();
    let v4 = &files["/etc/iptables/rules.v4"].content;
    let gate: Vec<&str> = v4
        .lines()
        .filter(|l| l.starts_with("-A SESAME-DOOR-FWD ") && l.contains("--rcheck"))
        .collect();
    assert_eq!(gate.len(), 2, "{v4}");
    let bob_last = &p.doors[0].steps.last().unwrap().list;
    assert!(
        gate.iter()
            .any(|l| l.contains(&format!("--name {bob_last} "))),
        "{gate:?}"
    );
}

fn tcp(port: u16) -> sesame::knock::KnockPort {
    sesame::knock::KnockPort {
        port,
        proto: sesame::knock::Proto::Tcp,
    }
}

/// The nftables table of a profile built from `vars` with `forwarded` as the host's DNAT-ed
/// ports.
fn nft_table(vars: Value, forwarded: &[u16]) -> String {
    let vars: Map<String, Value> = serde_json::from_value(vars).unwrap();
    let facts = NetFacts {
        default_interface: Some("eth0".into()),
        has_ipv6: true,
        forwarded_ports: forwarded.iter().map(|p| tcp(*p)).collect(),
        ..NetFacts::default()
    };
    let p = sesame::knock::doors::profile_from_vars("h", &vars, &facts).unwrap();
    render(&p, &role_dir()).unwrap()["/etc/sesame/knock.nft"]
        .content
        .clone()
}

/// nftables: `knock_iptables_style: compact` renders the gates table (the same rules; only
/// the header's profile id and its note on the mapping differ).
#[test]
fn nft_compact_renders_the_gates_table() {
    let vars = |style: &str| {
        serde_json::json!({"knock_backend": "nftables", "knock_mode": "iptables",
            "knock_iptables_style": style, "knock_sequence": [7101, 7202, 7101, 7303]})
    };
    let rules = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    let gates = nft_table(vars("gates"), &[]);
    let compact = nft_table(vars("compact"), &[]);
    assert_ne!(gates, compact);
    assert_eq!(rules(&gates), rules(&compact));
    assert!(
        compact.contains("knock_iptables_style: compact"),
        "{compact}"
    );
}

/// nftables, iptables mode: each door has its own sets and chains, walked (by jump) before the
/// main machine, returning rather than dropping; every door's last set opens the forwarded
/// ports too. A door that is gone leaves no set behind.
#[test]
fn nft_doors_have_their_own_machine_and_open_forwarded_ports() {
    let doors = serde_json::json!([
        {"name": "alice", "sequence": [7101, 7202, 7101, 7303]},
        {"name": "bob", "sequence": [7401, 7502, 7603]},
        {"name": "carol", "sequence": [7701, 7802]}]);
    let t = nft_table(
        serde_json::json!({"knock_backend": "nftables", "knock_mode": "iptables",
            "knock_protected_ports": [22, 8080], "knock_doors": doors}),
        &[8080],
    );
    for want in [
        "meta nfproto ipv4 ct state new jump d1_knocking_v4",
        "meta nfproto ipv6 ct state new jump d2_knocking_v6",
        "tcp dport 7401 tcp flags & (syn | ack | fin | rst) == syn update @d1_auth1_v4 { ip saddr } return",
        "ip saddr @auth4_v4 delete @auth4_v4 { ip saddr } accept",
        "ip saddr @d1_auth3_v4 delete @d1_auth3_v4 { ip saddr } accept",
        "ip6 saddr @d2_auth2_v6 delete @d2_auth2_v6 { ip6 saddr } accept",
        "type filter hook forward priority filter; policy accept;",
        "ct status dnat meta l4proto tcp ct original proto-dst 8080 goto forward_gate",
    ] {
        assert!(t.contains(want), "missing {want:?}:\n{t}");
    }
    // The doors' jumps come before the main machine's.
    let door = t.find("jump d1_knocking_v4").unwrap();
    assert!(door < t.find("jump knocking_v4").unwrap());
    // No door rule drops: a door's gates return to the input chain.
    for l in t
        .lines()
        .filter(|l| l.contains("@d1_") || l.contains("@d2_"))
    {
        assert!(!l.trim_end().ends_with(" drop"), "{l}");
    }
    // Without carol, no set of a third door, and no second door's sets stay behind.
    let two = nft_table(
        serde_json::json!({"knock_backend": "nftables", "knock_mode": "iptables",
            "knock_doors": [{"name": "alice", "sequence": [7101, 7202, 7101, 7303]},
                            {"name": "bob", "sequence": [7401, 7502, 7603]}]}),
        &[],
    );
    assert!(
        two.contains("set d1_auth3_v4") && !two.contains("d2_"),
        "{two}"
    );
    assert!(!two.contains("chain forward"), "{two}");
}

/// nftables, knockd mode: every door is a knockd section with its own client sets (its timeout
/// deletes only what it added); a close sequence, any door's, deletes the knocker from every
/// set, as knockd's iptables commands delete every ACCEPT for that address; the input chain and
/// the forward gate let every set's sources through.
#[test]
fn nft_knockd_doors_have_their_own_sets_and_a_close_clears_all() {
    let doors = serde_json::json!([
        {"name": "alice", "sequence": [7101, 7202, 7101, 7303]},
        {"name": "bob", "sequence": [7401, 7502, 7603], "close_sequence": [7701, 7802]}]);
    let vars: Map<String, Value> = serde_json::from_value(serde_json::json!({
        "knock_backend": "nftables", "knock_protected_ports": [22, 8080], "knock_doors": doors}))
    .unwrap();
    let facts = NetFacts {
        default_interface: Some("eth0".into()),
        has_ipv6: true,
        forwarded_ports: vec![tcp(8080)],
        ..NetFacts::default()
    };
    let p = sesame::knock::doors::profile_from_vars("h", &vars, &facts).unwrap();
    let files = render(&p, &role_dir()).unwrap();
    let conf = &files["/etc/knockd.conf"].content;
    assert!(conf.contains("[sesame-door1-open]") && conf.contains("[sesame-door1-close]"));
    assert!(
        !conf.contains("iptables -") && !conf.contains("SESAME-"),
        "{conf}"
    );
    let line = |prefix: &str, nth: usize| -> String {
        conf.lines()
            .filter(|l| l.contains(prefix))
            .nth(nth)
            .unwrap_or_else(|| panic!("no {prefix} #{nth}:\n{conf}"))
            .to_string()
    };
    // alice (sesame's door) has no close sequence: her add times out; bob's does not.
    let alice = line("start_command   = /usr/sbin/nft add", 0);
    assert!(
        alice.contains(" clients_v4 { %IP% timeout 30s }"),
        "{alice}"
    );
    let bob = line("start_command   = /usr/sbin/nft add", 1);
    assert!(bob.contains(" d1_clients_v4 { %IP% }"), "{bob}");
    // bob's close sequence deletes from sesame's set and bob's.
    let close = line("start_command   = /usr/sbin/nft delete", 0);
    assert!(
        close.contains("clients_v4 { %IP% } 2>/dev/null; ")
            && close.contains("d1_clients_v4 { %IP% }"),
        "{close}"
    );
    let t = &files["/etc/sesame/knock.nft"].content;
    for want in [
        "set d1_clients_v6 {",
        "ip saddr @d1_clients_v4 tcp dport 22 accept",
        "ip6 saddr @d1_clients_v6 tcp dport 8080 accept",
        "ip saddr @clients_v4 accept\n\t\tip saddr @d1_clients_v4 accept\n\t\tip6 saddr @clients_v6 accept\n\t\tip6 saddr @d1_clients_v6 accept\n\t\tdrop",
    ] {
        assert!(t.contains(want), "missing {want:?}:\n{t}");
    }
}

/// Every file the role renders, in every golden case (each mode and backend), is one that
/// `knock_state: absent` takes off (`removal::FILES`) and that carries sesame's header (the
/// removal and `verify` only touch or report files that do). The netfilter-persistent drop-in
/// and xt_recent's modprobe file were left behind before they were listed.
#[test]
fn the_removal_knows_every_file_the_role_renders() {
    for dir in &cases() {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (vars, facts) = load_case(dir);
        let profile = sesame::knock::doors::profile_from_vars(&case, &vars, &facts).unwrap();
        for (target, f) in render(&profile, &role_dir()).unwrap() {
            assert!(
                sesame::knock::removal::FILES.contains(&target.as_str()),
                "{case}: {target} is rendered but not removed by knock_state: absent"
            );
            assert!(
                sesame::knock::removal::is_sesame_file(f.content.as_bytes()),
                "{case}: {target} has no sesame header"
            );
        }
    }
}
