//! Unit tests of the knock variable contract: every rule of `KnockProfile::from_vars`, its errors, warnings and masking.

use super::*;
use serde_json::json;

fn facts() -> NetFacts {
    NetFacts {
        default_interface: Some("eth0".into()),
        has_ipv6: true,
        controller_ip: None,
        forwarded_ports: Vec::new(),
    }
}

#[test]
fn forwarded_protected_ports_are_gated_and_refused_in_single_port_mode() {
    let tcp = |port| KnockPort {
        port,
        proto: Proto::Tcp,
    };
    let mut f = facts();
    f.forwarded_ports = vec![tcp(8080), tcp(443)];
    let seq = json!({"knock_sequence": [7000, 8000, 7000], "knock_protected_ports": [22, 8080]});
    let p = KnockProfile::from_vars("web1", &vars(seq.clone()), &f).unwrap();
    assert_eq!(p.forwarded_ports, vec![tcp(8080)]);
    let p = KnockProfile::from_vars("web1", &vars(seq), &facts()).unwrap();
    assert!(p.forwarded_ports.is_empty());
    let all = json!({"knock_sequence": [7000, 8000, 7000], "knock_protect_forwarded": "yes"});
    let p = KnockProfile::from_vars("web1", &vars(all), &facts()).unwrap();
    assert_eq!(p.forwarded_ports, vec![tcp(22)]);
    let single = json!({"knock_mode": "single_port", "knock_protected_ports": [8080]});
    let e = errs_with(single, &f);
    one(&e, "knock_protected_ports", "8080/tcp");
}

fn vars(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("vars must be an object"),
    }
}

fn ok(v: Value) -> KnockProfile {
    KnockProfile::from_vars("web1", &vars(v), &facts()).unwrap_or_else(|e| panic!("{e}"))
}

fn errs(v: Value) -> Vec<KnockVarError> {
    errs_with(v, &facts())
}

fn errs_with(v: Value, f: &NetFacts) -> Vec<KnockVarError> {
    match KnockProfile::from_vars("web1", &vars(v), f) {
        Ok(p) => panic!("expected errors, got {}", p.masked()),
        Err(e) => {
            assert_eq!(e.host, "web1");
            e.errors
        }
    }
}

/// The one error about `variable`, checking that its message names host, variable, value.
fn one<'a>(errors: &'a [KnockVarError], variable: &str, value: &str) -> &'a KnockVarError {
    let found: Vec<_> = errors.iter().filter(|e| e.variable == variable).collect();
    assert_eq!(found.len(), 1, "errors about {variable}: {errors:#?}");
    let e = found[0];
    assert_eq!(e.value, value, "{e}");
    let msg = e.to_string();
    for part in ["web1", variable, value] {
        assert!(msg.contains(part), "message {msg:?} lacks {part:?}");
    }
    e
}

/// Issue 11 item 10: an allow-list that lets everyone in defeats knocking.
#[test]
fn allow_sources_that_cover_everything_are_refused() {
    for all in [
        json!(["0.0.0.0/0"]),
        json!(["::/0"]),
        json!(["0::0/0"]),
        json!(["10.1.2.3/0"]),
        json!(" 0.0.0.0/0 , 10.0.0.0/8"),
        json!(["0.0.0.0/1", "128.0.0.0/1"]),
        json!(["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]),
        json!(["::/1", "8000::/1"]),
    ] {
        let e = KnockProfile::from_vars(
            "web1",
            &vars(json!({"knock_sequence": [7000, 7001, 7002], "knock_allow_sources": all})),
            &facts(),
        )
        .expect_err(&all.to_string())
        .to_string();
        assert!(e.contains("knock_allow_sources"), "{e}");
        assert!(e.contains("anyone without knocking"), "{e}");
    }
    for fine in [
        json!(["0.0.0.0/1"]),
        json!(["198.19.0.0/16", "fd5e::/16"]),
        json!(["0.0.0.0/1", "128.0.0.0/2"]),
        json!(["0.0.0.0/1", "::/1"]),
    ] {
        KnockProfile::from_vars(
            "web1",
            &vars(json!({"knock_sequence": [7000, 7001, 7002], "knock_allow_sources": fine})),
            &facts(),
        )
        .unwrap_or_else(|e| panic!("{fine}: {e}"));
    }
}

/// Issue 11 item 3: a host name with a line break would start a line of its own in the
/// knockd.conf comment it is written into.
#[test]
fn host_names_with_control_characters_are_refused_escaped() {
    let e = KnockProfile::from_vars(
        "web1\n\tstart_command = /bin/sh",
        &vars(json!({"knock_sequence": [7000, 7001, 7002]})),
        &facts(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("inventory_hostname"), "{e}");
    assert!(e.contains(r#""web1\n\tstart_command = /bin/sh""#), "{e}");
    assert!(!e.lines().any(|l| l.starts_with('\t')), "{e}");
}

#[test]
fn defaults_fill_everything_but_the_sequence() {
    let p = ok(json!({"knock_sequence": [7000, "8000:udp", "9000:tcp"]}));
    assert_eq!(p.mode, KnockMode::Knockd);
    assert_eq!(p.iptables_style, IptablesStyle::Gates);
    assert_eq!(
        p.sequence,
        vec![
            KnockPort {
                port: 7000,
                proto: Proto::Tcp
            },
            KnockPort {
                port: 8000,
                proto: Proto::Udp
            },
            KnockPort {
                port: 9000,
                proto: Proto::Tcp
            },
        ]
    );
    assert_eq!(
        p.protected_ports,
        vec![KnockPort {
            port: 22,
            proto: Proto::Tcp
        }]
    );
    assert!(p.public_ports.is_empty() && p.close_sequence.is_empty());
    assert_eq!((p.step_seconds, p.open_seconds), (10, 30));
    assert_eq!(
        (p.hitcount, p.hit_min_seconds, p.hit_max_seconds),
        (2, 3, 5)
    );
    assert_eq!(p.interface.as_deref(), Some("eth0"));
    assert!(p.ipv6 && p.drop_unlisted && !p.replace_ufw);
    assert_eq!(p.rollback_seconds, 60);
    assert_eq!(p.id.len(), 8);
    // Three different ports under knockd: the scan-order warning, nothing else.
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].message.contains("1/6"), "{}", p.warnings[0]);
}

#[test]
fn scan_order_warning_only_where_a_scan_is_seen_as_knocks() {
    let scan = |p: &KnockProfile| p.warnings.iter().any(|w| w.message.contains("port scan"));
    assert!(!scan(&ok(
        json!({"knock_sequence": [7000, 8000, 7000, 9000]})
    )));
    assert!(scan(&ok(
        json!({"knock_mode": "iptables", "knock_sequence": [7000, 8000, 9000],
                            "knock_drop_unlisted": false})
    )));
    // Every other port resets the gates when unlisted ports are dropped too.
    assert!(!scan(&ok(
        json!({"knock_mode": "iptables", "knock_sequence": [7000, 8000, 9000]})
    )));
}

#[test]
fn missing_sequence_is_an_error_never_a_default() {
    let e = errs(json!({}));
    let e = one(&e, "knock_sequence", "(unset)");
    assert!(e.problem.contains("required"), "{e}");
    // null (`knock_sequence:` with no value) is the same as unset.
    let e = errs(json!({"knock_sequence": null}));
    one(&e, "knock_sequence", "(unset)");
}

#[test]
fn ini_strings_booleans_and_numbers() {
    let p = ok(json!({
        "knock_mode": "iptables",
        "knock_sequence": "7000, 8000:udp,9000",
        "knock_drop_unlisted": "NO", "knock_ipv6": "On", "knock_replace_ufw": "yes",
        "knock_step_seconds": "5", "knock_open_seconds": " 20 ",
        "knock_public_ports": "80,443", "knock_allow_sources": "198.51.100.0/24, 2001:db8::1",
        "ansible_port": "2222",
    }));
    assert_eq!(p.sequence.len(), 3);
    assert_eq!(
        p.sequence[1],
        KnockPort {
            port: 8000,
            proto: Proto::Udp
        }
    );
    assert!(!p.drop_unlisted && p.ipv6 && p.replace_ufw);
    assert_eq!((p.step_seconds, p.open_seconds), (5, 20));
    assert_eq!(p.public_ports.len(), 2);
    assert_eq!(p.allow_sources_v4, vec!["198.51.100.0/24"]);
    assert_eq!(p.allow_sources_v6, vec!["2001:db8::1/128"]);
    assert_eq!(
        p.protected_ports,
        vec![
            KnockPort {
                port: 22,
                proto: Proto::Tcp
            },
            KnockPort {
                port: 2222,
                proto: Proto::Tcp
            }
        ]
    );
    // A bracketed list string, as some INI inventories carry it.
    let p = ok(json!({"knock_sequence": "[7000, \"8000:udp\", 9000]"}));
    assert_eq!(p.sequence[1].proto, Proto::Udp);
    for (text, want) in [("TRUE", true), ("off", false), ("y", true), ("0", false)] {
        let p = ok(json!({"knock_sequence": [1, 2, 3], "knock_ipv6": text}));
        assert_eq!(p.ipv6, want, "{text}");
    }
}

#[test]
fn bad_boolean_and_number() {
    let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_ipv6": "maybe",
                        "knock_open_seconds": "soon", "knock_step_seconds": -1}));
    one(&e, "knock_ipv6", "\"maybe\"");
    one(&e, "knock_open_seconds", "\"soon\"");
    one(&e, "knock_step_seconds", "-1");
}

#[test]
fn ansible_port_is_protected_unless_public() {
    let p = ok(json!({"knock_sequence": [1, 2, 3], "ansible_port": 22}));
    assert_eq!(p.protected_ports.len(), 1);
    let p = ok(
        json!({"knock_sequence": [1, 2, 3], "knock_protected_ports": [2200],
                      "ansible_port": 2222}),
    );
    assert_eq!(
        p.protected_ports.iter().map(|p| p.port).collect::<Vec<_>>(),
        [2200, 2222]
    );
    let p = ok(
        json!({"knock_sequence": [1, 2, 3], "knock_public_ports": [2222],
                      "ansible_port": 2222}),
    );
    assert_eq!(
        p.protected_ports.iter().map(|p| p.port).collect::<Vec<_>>(),
        [22]
    );
    let e = errs(json!({"knock_sequence": [1, 2, 3], "ansible_port": "ssh"}));
    one(&e, "ansible_port", "\"ssh\"");
}

#[test]
fn ports_out_of_range_or_malformed() {
    let e = errs(json!({"knock_sequence": [0, 70000, "8000:sctp", "x", 9000]}));
    one(&e, "knock_sequence[0]", "0");
    one(&e, "knock_sequence[1]", "70000");
    let sctp = one(&e, "knock_sequence[2]", "\"8000:sctp\"");
    assert!(sctp.problem.contains("protocol"), "{sctp}");
    one(&e, "knock_sequence[3]", "\"x\"");
    let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_public_ports": [65536]}));
    one(&e, "knock_public_ports[0]", "65536");
    let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_protected_ports": ["22:icmp"]}));
    one(&e, "knock_protected_ports[0]", "\"22:icmp\"");
    let e = errs(json!({"knock_sequence": true}));
    one(&e, "knock_sequence", "***");
}

#[test]
fn sequence_too_short() {
    let e = errs(json!({"knock_sequence": [7000]}));
    one(&e, "knock_sequence", "1 port");
    let e = errs(json!({"knock_sequence": []}));
    one(&e, "knock_sequence", "0 ports");
}

#[test]
fn short_sequence_warns() {
    let p = ok(json!({"knock_sequence": [7000, 8000]}));
    assert!(
        p.warnings.iter().any(|w| w.variable == "knock_sequence"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn same_port_twice_in_a_row() {
    let e = errs(json!({"knock_sequence": [7000, 7000, 8000]}));
    let e = one(&e, "knock_sequence[1]", "7000/tcp");
    assert!(e.problem.contains("twice in a row"), "{e}");
    // Not in a row is fine, and the same port with another protocol is another knock.
    ok(json!({"knock_sequence": [7000, 8000, 7000]}));
    ok(json!({"knock_sequence": [7000, "7000:udp", 8000]}));
}

#[test]
fn knock_ports_must_not_be_protected_or_public() {
    let e = errs(json!({"knock_sequence": [7000, 22, 8000], "knock_public_ports": [8000]}));
    let p = one(&e, "knock_sequence[1]", "22/tcp");
    assert!(p.problem.contains("protected"), "{p}");
    let q = one(&e, "knock_sequence[2]", "8000/tcp");
    assert!(q.problem.contains("public"), "{q}");
    let e = errs(json!({"knock_sequence": [7000, 8000], "ansible_port": 8000}));
    one(&e, "knock_sequence[1]", "8000/tcp");
}

#[test]
fn protected_and_public_overlap() {
    let e = errs(
        json!({"knock_sequence": [1, 2, 3], "knock_protected_ports": [22, 80],
                        "knock_public_ports": [80]}),
    );
    one(&e, "knock_public_ports", "80/tcp");
    let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_protected_ports": []}));
    one(&e, "knock_protected_ports", "[]");
}

#[test]
fn close_sequence_rules() {
    let p = ok(json!({"knock_sequence": [7000, 8000, 9000],
                      "knock_close_sequence": [9000, 8000, 7000]}));
    assert_eq!(p.close_sequence.len(), 3);
    assert_eq!(p.knock_ports.len(), 3);
    let e = errs(json!({"knock_sequence": [7000, 8000, 9000],
                        "knock_close_sequence": [7000, 8000, 9000]}));
    let same = one(&e, "knock_close_sequence", "***");
    assert!(same.problem.contains("same as knock_sequence"), "{same}");
    let e = errs(json!({"knock_sequence": [7000, 8000, 9000],
                        "knock_close_sequence": [7000, 9000, 8000]}));
    one(&e, "knock_close_sequence[0]", "7000/tcp");
    let e = errs(json!({"knock_sequence": [7000, 8000, 9000],
                        "knock_close_sequence": [6000, 22]}));
    one(&e, "knock_close_sequence[1]", "22/tcp");
    let e = errs(json!({"knock_sequence": [7000, 8000, 9000], "knock_close_sequence": [6000]}));
    one(&e, "knock_close_sequence", "1 port");
    // Outside knockd mode it is ignored, with a warning.
    let p = ok(
        json!({"knock_mode": "iptables", "knock_sequence": [7000, 8000, 9000],
                      "knock_close_sequence": [7000, 8000, 9000]}),
    );
    assert!(p.close_sequence.is_empty());
    assert!(p
        .warnings
        .iter()
        .any(|w| w.variable == "knock_close_sequence"));
}

#[test]
fn timeouts() {
    let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_step_seconds": 0,
                        "knock_open_seconds": 0}));
    one(&e, "knock_step_seconds", "0");
    one(&e, "knock_open_seconds", "0");
    let e = errs(
        json!({"knock_sequence": [1, 2, 3], "knock_step_seconds": 40,
                        "knock_open_seconds": 30}),
    );
    let s = one(&e, "knock_step_seconds", "40");
    assert!(s.problem.contains("knock_open_seconds"), "{s}");
    let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_open_seconds": 3601}));
    one(&e, "knock_open_seconds", "3601");
    ok(
        json!({"knock_sequence": [1, 2, 3], "knock_step_seconds": 3600,
              "knock_open_seconds": 3600}),
    );
}

#[test]
fn rollback_range() {
    for bad in [9, 3601] {
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_rollback_seconds": bad}));
        one(&e, "knock_rollback_seconds", &bad.to_string());
    }
    for good in [10, 3600] {
        ok(json!({"knock_sequence": [1, 2, 3], "knock_rollback_seconds": good}));
    }
}

#[test]
fn single_port_needs_no_sequence_and_checks_hits() {
    let p = ok(json!({"knock_mode": "single_port"}));
    assert!(p.sequence.is_empty());
    assert_eq!(p.prior_hits, 1);
    assert_eq!(p.names.single_port[0].chain, "SESAME-SP22");
    let e = errs(json!({"knock_mode": "single_port", "knock_hitcount": 1}));
    one(&e, "knock_hitcount", "1");
    let e = errs(json!({"knock_mode": "single_port", "knock_hitcount": 256,
                        "knock_hit_max_seconds": 3600}));
    one(&e, "knock_hitcount", "256");
    ok(json!({"knock_mode": "single_port", "knock_hitcount": 255,
              "knock_hit_min_seconds": 2, "knock_hit_max_seconds": 600}));
    let e = errs(
        json!({"knock_mode": "single_port", "knock_hit_min_seconds": 5,
                        "knock_hit_max_seconds": 5}),
    );
    one(&e, "knock_hit_min_seconds", "5");
    for short in [0, 1] {
        let e = errs(json!({"knock_mode": "single_port", "knock_hit_min_seconds": short}));
        one(&e, "knock_hit_min_seconds", &short.to_string());
    }
    // 3 hits at least 3 s apart cannot fit in 6 s.
    let e = errs(json!({"knock_mode": "single_port", "knock_hitcount": 3,
                        "knock_hit_min_seconds": 3, "knock_hit_max_seconds": 6}));
    one(&e, "knock_hit_max_seconds", "6");
    let e = errs(json!({"knock_mode": "single_port", "knock_hit_max_seconds": 3601}));
    one(&e, "knock_hit_max_seconds", "3601");
}

#[test]
fn hit_settings_are_not_checked_where_unused_but_warned() {
    let p = ok(json!({"knock_sequence": [1, 2, 3], "knock_hitcount": 1}));
    assert!(p.warnings.iter().any(|w| w.variable == "knock_hitcount"));
}

#[test]
fn cidrs() {
    let p = ok(json!({"knock_sequence": [1, 2, 3],
        "knock_allow_sources": ["198.51.100.0/24", "2001:db8::/32", "203.0.113.9", "::1"]}));
    assert_eq!(
        p.allow_sources_v4,
        vec!["198.51.100.0/24", "203.0.113.9/32"]
    );
    assert_eq!(p.allow_sources_v6, vec!["2001:db8::/32", "::1/128"]);
    let e = errs(json!({"knock_sequence": [1, 2, 3],
        "knock_allow_sources": ["198.51.100.0/33", "2001:db8::/129", "example.org", 7]}));
    one(&e, "knock_allow_sources[0]", "\"198.51.100.0/33\"");
    one(&e, "knock_allow_sources[1]", "\"2001:db8::/129\"");
    one(&e, "knock_allow_sources[2]", "\"example.org\"");
    one(&e, "knock_allow_sources[3]", "7");
}

#[test]
fn unknown_mode_and_style() {
    let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_mode": "spa"}));
    one(&e, "knock_mode", "\"spa\"");
    let e = errs(
        json!({"knock_sequence": [1, 2, 3], "knock_mode": "iptables",
                        "knock_iptables_style": "fancy"}),
    );
    one(&e, "knock_iptables_style", "\"fancy\"");
}

#[test]
fn interface_from_facts_or_error_in_knockd_mode() {
    let none = NetFacts::default();
    let e = errs_with(json!({"knock_sequence": [1, 2, 3]}), &none);
    one(&e, "knock_interface", "(unset)");
    let p = KnockProfile::from_vars(
        "web1",
        &vars(json!({"knock_sequence": [1, 2, 3], "knock_interface": "ens18"})),
        &none,
    )
    .unwrap();
    assert_eq!(p.interface.as_deref(), Some("ens18"));
    // The iptables modes do not need one.
    KnockProfile::from_vars(
        "web1",
        &vars(json!({"knock_mode": "iptables", "knock_sequence": [1, 2, 3]})),
        &none,
    )
    .unwrap();
    let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_interface": "eth0; reboot"}));
    one(&e, "knock_interface", "\"eth0; reboot\"");
}

#[test]
fn ipv6_defaults_from_facts() {
    let v4 = NetFacts {
        has_ipv6: false,
        ..facts()
    };
    let p =
        KnockProfile::from_vars("web1", &vars(json!({"knock_sequence": [1, 2, 3]})), &v4).unwrap();
    assert!(!p.ipv6);
}

#[test]
fn all_errors_are_collected_at_once() {
    let e = KnockProfile::from_vars(
        "web1",
        &vars(json!({"knock_sequence": [0, 5], "knock_ipv6": "perhaps",
                     "knock_rollback_seconds": 1, "knock_allow_sources": ["nope"]})),
        &facts(),
    )
    .unwrap_err();
    assert_eq!(e.errors.len(), 4, "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("host web1: 4 invalid port-knocking variables"),
        "{text}"
    );
}

#[test]
fn secrets_stay_out_of_debug_masked_and_errors() {
    let p = ok(json!({"knock_sequence": [7111, 8222, 9333],
                      "knock_close_sequence": [9444, 8555, 7666]}));
    for text in [format!("{p:?}"), p.masked()] {
        for port in ["7111", "8222", "9333", "9444", "8555", "7666"] {
            assert!(!text.contains(port), "{port} leaked in {text}");
        }
        assert!(text.contains("***"), "{text}");
    }
    // The id does not depend on the sequence.
    let q = ok(json!({"knock_sequence": [1111, 2222, 3333],
                      "knock_close_sequence": [4444, 5555, 6666]}));
    assert_eq!(p.id, q.id);
    // An error about one bad item does not echo the rest of the sequence.
    let e = KnockProfile::from_vars(
        "web1",
        &vars(json!({"knock_sequence": [7111, 0, 9333]})),
        &facts(),
    )
    .unwrap_err()
    .to_string();
    assert!(!e.contains("7111") && !e.contains("9333"), "{e}");
}

#[test]
fn serialized_context_has_normalized_ports_and_names() {
    let p = ok(
        json!({"knock_mode": "iptables", "knock_sequence": [7000, "8000:udp"],
                      "knock_allow_sources": ["2001:db8::/32"]}),
    );
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["sequence"][1], json!({"port": 8000, "proto": "udp"}));
    assert_eq!(v["mode"], "iptables");
    assert_eq!(v["names"]["steps"][1]["chain"], "SESAME-GATE2");
    assert_eq!(v["names"]["steps"][1]["prev_list"], "SESAME_AUTH1");
    assert_eq!(v["allow_sources_v6"], json!(["2001:db8::/32"]));
    assert!(v.get("warnings").is_none());
}

#[test]
fn controller_in_allow_sources_warns() {
    let f = NetFacts {
        controller_ip: Some("198.51.100.7".parse().unwrap()),
        ..facts()
    };
    let p = KnockProfile::from_vars(
        "web1",
        &vars(json!({"knock_sequence": [1, 2, 3], "knock_allow_sources": ["198.51.100.0/24"]})),
        &f,
    )
    .unwrap();
    assert!(p
        .warnings
        .iter()
        .any(|w| w.variable == "knock_allow_sources"));
}

#[test]
fn xt_recent_modes_warn_about_the_list_size() {
    let p = ok(json!({"knock_mode": "iptables", "knock_sequence": [1, 2, 3]}));
    assert!(p
        .warnings
        .iter()
        .any(|w| w.message.contains("100 addresses")));
    let p = ok(json!({"knock_sequence": [1, 2, 3]}));
    assert!(!p
        .warnings
        .iter()
        .any(|w| w.message.contains("100 addresses")));
}

#[test]
fn nftables_backend_takes_every_style_and_forwarded_ports() {
    let p = ok(json!({"knock_backend": "nftables", "knock_sequence": [7000, 8000, 9000]}));
    assert_eq!(p.backend, Backend::Nftables);
    assert_eq!(p.nft_set_size, 65535);
    assert!(p.masked().contains("backend=nftables"), "{}", p.masked());
    // No xt_recent there, so no 100-address warning.
    let p = ok(
        json!({"knock_backend": "nftables", "knock_mode": "iptables",
                      "knock_sequence": [7000, 8000, 9000], "knock_nft_set_size": "1000"}),
    );
    assert_eq!(p.nft_set_size, 1000);
    assert!(!p
        .warnings
        .iter()
        .any(|w| w.message.contains("100 addresses")));
    let p = ok(json!({"knock_backend": "nftables", "knock_mode": "single_port"}));
    assert!(!p
        .warnings
        .iter()
        .any(|w| w.message.contains("100 addresses")));
    // compact is taken (it renders the gates table, see knock.nft.tera); it was refused.
    let p = ok(
        json!({"knock_backend": "nftables", "knock_mode": "iptables",
                        "knock_iptables_style": "compact", "knock_sequence": [7000, 8000, 9000]}),
    );
    assert_eq!(p.iptables_style, IptablesStyle::Compact);
    let e = errs(
        json!({"knock_backend": "nftables", "knock_sequence": [7000, 8000, 9000],
                        "knock_nft_set_size": 3}),
    );
    one(&e, "knock_nft_set_size", "3");
    let e = errs(json!({"knock_backend": "nft", "knock_sequence": [7000, 8000, 9000]}));
    one(&e, "knock_backend", "\"nft\"");
    // Forwarded ports are gated (they were refused), in knockd and iptables modes; single_port
    // still refuses them, as with the iptables backend.
    for mode in ["knockd", "iptables"] {
        let p = ok(json!({"knock_backend": "nftables", "knock_mode": mode,
                          "knock_sequence": [7000, 8000, 9000], "knock_protect_forwarded": true}));
        assert_eq!(
            p.forwarded_ports,
            vec![KnockPort {
                port: 22,
                proto: Proto::Tcp
            }]
        );
    }
    let e = errs(
        json!({"knock_backend": "nftables", "knock_mode": "single_port",
                        "knock_protect_forwarded": true}),
    );
    assert!(one(&e, "knock_protect_forwarded", "22/tcp")
        .problem
        .contains("single_port"));
    // The default stays iptables, and its ids do not move.
    let p = ok(json!({"knock_sequence": [7000, 8000, 9000]}));
    assert_eq!(p.backend, Backend::Iptables);
}
