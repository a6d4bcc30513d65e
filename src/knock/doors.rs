//! One door per person or machine: `knock_doors` (a list of `{name, sequence}` with an optional
//! `close_sequence`) gives each its own sequence, so removing one door revokes that one only.
//! `knock_door` names the door sesame itself knocks (default: `knock_sequence`'s door when it is
//! set, else the first). The door sesame uses is the profile's main sequence (rendered as
//! before); every other door is rendered beside it (knockd: its own sections; iptables: its own
//! state machine whose chains RETURN, walked before the main one). Pure: parsing, validation,
//! names; never prints, never shows a whole sequence.

use super::profile::{
    gate_steps, parse_port_list, sequence_problems, GateStep, KnockMode, KnockPort, KnockProfile,
};
use super::{KnockVarError, KnockVarErrors, NetFacts};
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The name of the door `knock_sequence` makes.
pub const MAIN_DOOR: &str = "knock_sequence";

/// A door besides the one sesame uses, with the names its rules use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Door {
    pub name: String,
    pub sequence: Vec<KnockPort>,
    pub close_sequence: Vec<KnockPort>,
    /// iptables: the door's dispatcher chain (`SESAME-D<n>`), its passed chain and its gates.
    pub chain: String,
    pub passed_chain: String,
    pub steps: Vec<GateStep>,
}

/// A door as the variables give it, before names are assigned.
#[derive(Debug, Clone)]
struct Given {
    name: String,
    /// Where it comes from, for messages: `knock_doors[1]` or `knock_sequence`.
    origin: String,
    sequence: Vec<KnockPort>,
    close: Vec<KnockPort>,
}

fn err(host: &str, variable: String, value: String, problem: &str) -> KnockVarError {
    KnockVarError {
        host: host.to_string(),
        variable,
        value,
        problem: problem.to_string(),
    }
}

fn ports(host: &str, v: &Value, origin: &str, errors: &mut Vec<KnockVarError>) -> Vec<KnockPort> {
    let Some(parsed) = parse_port_list(v) else {
        errors.push(err(
            host,
            origin.into(),
            "***".into(),
            "expected a list of ports",
        ));
        return Vec::new();
    };
    for (i, item, problem) in parsed.bad {
        errors.push(err(
            host,
            format!("{origin}[{i}]"),
            item.to_string(),
            &problem,
        ));
    }
    parsed.ports
}

fn valid_name(n: &str) -> bool {
    (1..=32).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-@".contains(c))
}

/// The doors of `knock_doors`, parsed (each problem named by its item).
fn given_doors(
    host: &str,
    vars: &Map<String, Value>,
    errors: &mut Vec<KnockVarError>,
) -> Vec<Given> {
    let Some(v) = vars.get("knock_doors").filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let Value::Array(items) = v else {
        errors.push(err(
            host,
            "knock_doors".into(),
            "***".into(),
            "expected a list of {name, sequence} mappings",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let origin = format!("knock_doors[{i}]");
        let Value::Object(m) = item else {
            errors.push(err(
                host,
                origin,
                "***".into(),
                "expected a mapping with name and sequence",
            ));
            continue;
        };
        for k in m.keys() {
            if k == "sources" {
                errors.push(err(host, format!("{origin}.sources"), "[...]".into(),
                    "not implemented yet: a door cannot be limited to sources; use knock_allow_sources or one host per door"));
            } else if !["name", "sequence", "close_sequence"].contains(&k.as_str()) {
                errors.push(err(
                    host,
                    format!("{origin}.{k}"),
                    format!("\"{k}\""),
                    "unknown key (expected name, sequence, close_sequence)",
                ));
            }
        }
        let name = match m.get("name") {
            Some(Value::String(s)) if valid_name(s.trim()) => s.trim().to_string(),
            Some(other) => {
                errors.push(err(
                    host,
                    format!("{origin}.name"),
                    other.to_string(),
                    "a door name is 1-32 letters, digits, _ . - @",
                ));
                continue;
            }
            None => {
                errors.push(err(
                    host,
                    format!("{origin}.name"),
                    "(unset)".into(),
                    "every door needs a name",
                ));
                continue;
            }
        };
        let sequence = match m.get("sequence") {
            Some(s) => ports(host, s, &format!("{origin}.sequence"), errors),
            None => {
                errors.push(err(
                    host,
                    format!("{origin}.sequence"),
                    "(unset)".into(),
                    "every door needs a sequence",
                ));
                Vec::new()
            }
        };
        let close = m
            .get("close_sequence")
            .filter(|v| !v.is_null())
            .map(|s| ports(host, s, &format!("{origin}.close_sequence"), errors))
            .unwrap_or_default();
        out.push(Given {
            name,
            origin,
            sequence,
            close,
        });
    }
    out
}

/// The name of the door sesame uses, and every door (that one first).
type Resolved = (String, Vec<Given>);

/// Variables with `knock_sequence`/`knock_close_sequence` set to the door sesame uses, and the
/// other doors; `None` doors when `knock_doors` is unset (nothing changes then).
fn resolve<'a>(
    host: &str,
    vars: &'a Map<String, Value>,
    errors: &mut Vec<KnockVarError>,
) -> (Cow<'a, Map<String, Value>>, Option<Resolved>) {
    let doors = given_doors(host, vars, errors);
    if doors.is_empty() && vars.get("knock_door").is_none_or(Value::is_null) {
        return (Cow::Borrowed(vars), None);
    }
    let mut all = Vec::new();
    if let Some(seq) = vars.get("knock_sequence").filter(|v| !v.is_null()) {
        let mut ignore = Vec::new();
        all.push(Given {
            name: MAIN_DOOR.into(),
            origin: MAIN_DOOR.into(),
            sequence: ports(host, seq, MAIN_DOOR, &mut ignore),
            close: vars
                .get("knock_close_sequence")
                .filter(|v| !v.is_null())
                .map(|c| ports(host, c, "knock_close_sequence", &mut ignore))
                .unwrap_or_default(),
        });
    }
    all.extend(doors);
    for (i, d) in all.iter().enumerate() {
        if all[..i].iter().any(|e| e.name == d.name) {
            errors.push(err(
                host,
                format!("{}.name", d.origin),
                format!("\"{}\"", d.name),
                "another door has this name: door names must be unique",
            ));
        }
    }
    let wanted = match vars.get("knock_door").filter(|v| !v.is_null()) {
        None => all.first().map(|d| d.name.clone()),
        Some(Value::String(s)) if all.iter().any(|d| d.name == s.trim()) => {
            Some(s.trim().to_string())
        }
        Some(other) => {
            errors.push(err(
                host,
                "knock_door".into(),
                other.to_string(),
                "no door of knock_doors (or knock_sequence) has this name",
            ));
            None
        }
    };
    let Some(main) = wanted else {
        return (Cow::Borrowed(vars), None);
    };
    let Some(pos) = all.iter().position(|d| d.name == main) else {
        return (Cow::Borrowed(vars), None);
    };
    let chosen = all.remove(pos);
    let mut v = vars.clone();
    let list = |s: &[KnockPort]| {
        Value::Array(
            s.iter()
                .map(|k| Value::String(format!("{}:{}", k.port, k.proto.as_str())))
                .collect(),
        )
    };
    v.insert("knock_sequence".into(), list(&chosen.sequence));
    if chosen.close.is_empty() {
        v.remove("knock_close_sequence");
    } else {
        v.insert("knock_close_sequence".into(), list(&chosen.close));
    }
    all.insert(0, chosen);
    (Cow::Owned(v), Some((main, all)))
}

/// Checks between doors and against the profile: each door a real sequence of its own, no two
/// starting with the same knock, none a prefix of another, no knock port protected or public,
/// close sequences only in knockd mode; doors only in knockd and iptables modes.
fn check(host: &str, p: &KnockProfile, all: &[Given], errors: &mut Vec<KnockVarError>) {
    if p.mode == KnockMode::SinglePort {
        errors.push(err(
            host,
            "knock_doors".into(),
            "[...]".into(),
            "doors need a sequence mode (knockd or iptables): single_port has no sequence",
        ));
        return;
    }
    for (i, d) in all.iter().enumerate() {
        let mut lists = vec![("sequence", &d.sequence)];
        if !d.close.is_empty() {
            lists.push(("close_sequence", &d.close));
        }
        for (what, seq) in lists {
            let name = format!("{}.{what}", d.origin);
            for (variable, value, problem) in
                sequence_problems(&name, seq, &p.protected_ports, &p.public_ports)
            {
                errors.push(err(host, variable, value, problem));
            }
        }
        if !d.close.is_empty() && p.mode != KnockMode::Knockd {
            errors.push(err(
                host,
                format!("{}.close_sequence", d.origin),
                "***".into(),
                "only knockd mode has close sequences",
            ));
        }
        for e in &all[..i] {
            let (a, b) = (&e.sequence, &d.sequence);
            if a.is_empty() || b.is_empty() {
                continue;
            }
            let prefix = a.starts_with(b) || b.starts_with(a);
            if prefix {
                errors.push(err(host, format!("{}.sequence", d.origin), "***".into(),
                    &format!("is a prefix of door `{}` (or it of this one): one door would open with the other's knock", e.name)));
            } else if a[0] == b[0] {
                errors.push(err(host, format!("{}.sequence[0]", d.origin), b[0].to_string(),
                    &format!("door `{}` starts with the same knock: the doors would share their first gate", e.name)));
            }
        }
    }
}

/// A host's knock profile with its doors: `KnockProfile::from_vars` on the variables with the
/// door sesame uses as `knock_sequence`, the other doors attached (and their ports added to
/// the knock ports, so they are dropped alike and masked). Every problem at once.
pub fn profile_from_vars(
    host: &str,
    vars: &Map<String, Value>,
    facts: &NetFacts,
) -> Result<KnockProfile, KnockVarErrors> {
    let mut errors = Vec::new();
    let (vars, doors) = resolve(host, vars, &mut errors);
    let built = KnockProfile::from_vars(host, &vars, facts);
    let mut p = match built {
        Ok(p) => p,
        Err(mut e) => {
            e.errors.extend(errors);
            return Err(e);
        }
    };
    if let Some((main, all)) = doors {
        check(host, &p, &all, &mut errors);
        p.door = Some(main);
        p.doors = all
            .into_iter()
            .skip(1)
            .enumerate()
            .map(|(i, d)| named(i + 1, d))
            .collect();
        for d in &p.doors {
            for k in d.sequence.iter().chain(&d.close_sequence) {
                if !p.knock_ports.contains(k) {
                    p.knock_ports.push(*k);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(p)
    } else {
        Err(KnockVarErrors {
            host: host.to_string(),
            errors,
        })
    }
}

fn named(n: usize, d: Given) -> Door {
    let chain = format!("SESAME-D{n}");
    Door {
        steps: gate_steps(
            &d.sequence,
            |i| format!("{chain}-G{i}"),
            |i| format!("SESAME_D{n}_A{i}"),
        ),
        passed_chain: format!("{chain}-P"),
        chain,
        name: d.name,
        sequence: d.sequence,
        close_sequence: d.close,
    }
}

/// The sequence of door `name` of a profile (its main door or one of the others).
pub fn door_sequence<'a>(p: &'a KnockProfile, name: &str) -> Option<&'a [KnockPort]> {
    if p.door.as_deref().unwrap_or(MAIN_DOOR) == name {
        return Some(&p.sequence);
    }
    p.doors
        .iter()
        .find(|d| d.name == name)
        .map(|d| d.sequence.as_slice())
}

/// Port numbers of `knock_doors` (any shape), as words for the masker.
pub fn secret_words(vars: &Map<String, Value>) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(v) = vars.get("knock_doors") {
        super::rotation::collect_ports(v, &mut words);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn facts() -> NetFacts {
        NetFacts {
            default_interface: Some("ens3".into()),
            ..NetFacts::default()
        }
    }

    fn build(v: Value) -> Result<KnockProfile, KnockVarErrors> {
        profile_from_vars("h1", &vars(v), &facts())
    }

    #[test]
    fn doors_without_knock_sequence_use_the_first_or_knock_door() {
        let doors = json!([{"name": "alice", "sequence": [7101, 7202, 7101]},
                           {"name": "bob", "sequence": [7301, 7402, 7301]}]);
        let p = build(json!({"knock_doors": doors})).unwrap();
        assert_eq!(p.door.as_deref(), Some("alice"));
        assert_eq!(p.sequence[0].port, 7101);
        assert_eq!(p.doors.len(), 1);
        assert_eq!(p.doors[0].name, "bob");
        assert_eq!(p.doors[0].steps[1].chain, "SESAME-D1-G2");
        assert_eq!(
            p.doors[0].steps[1].prev_list.as_deref(),
            Some("SESAME_D1_A1")
        );
        assert!(p.knock_ports.iter().any(|k| k.port == 7402));
        let p = build(json!({"knock_doors": doors, "knock_door": "bob"})).unwrap();
        assert_eq!(p.sequence[0].port, 7301);
        assert_eq!(door_sequence(&p, "alice").unwrap()[0].port, 7101);
        // With knock_sequence, sesame keeps it unless knock_door says otherwise.
        let p = build(json!({"knock_sequence": [7501, 7602, 7501], "knock_doors": doors})).unwrap();
        assert_eq!(p.door.as_deref(), Some(MAIN_DOOR));
        assert_eq!(p.doors.len(), 2);
        // Without knock_doors nothing changes.
        let p = build(json!({"knock_sequence": [7501, 7602, 7501]})).unwrap();
        assert!(p.doors.is_empty() && p.door.is_none());
    }

    #[test]
    fn conflicts_are_named() {
        let e = build(json!({"knock_doors": [
            {"name": "alice", "sequence": [7101, 7202, 7101]},
            {"name": "alice", "sequence": [7301, 7402]},
            {"name": "carol", "sequence": [7101, 7202]},
            {"name": "dave", "sequence": [7301, 7999, 7301]},
            {"name": "eve", "sequence": [7801, 22, 7801], "sources": ["10.0.0.0/8"]},
            {"name": "bad name!", "sequence": [7901, 7902]}]}))
        .unwrap_err();
        let t = e.to_string();
        assert!(
            t.contains("knock_doors[1].name = \"alice\": another door"),
            "{t}"
        );
        assert!(
            t.contains("knock_doors[2].sequence = ***: is a prefix of door `alice`"),
            "{t}"
        );
        assert!(
            t.contains("knock_doors[3].sequence[0] = 7301/tcp: door `alice` starts"),
            "{t}"
        );
        assert!(t.contains("knock_doors[4].sequence[1] = 22/tcp"), "{t}");
        assert!(t.contains("knock_doors[4].sources"), "{t}");
        assert!(t.contains("knock_doors[5].name"), "{t}");
        assert!(
            !t.contains("7202") && !t.contains("7999"),
            "a sequence leaked: {t}"
        );
        let e = build(
            json!({"knock_doors": [{"name": "a", "sequence": [7101, 7202]}],
                             "knock_door": "zed"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("knock_door = \"zed\""), "{e}");
        let e = build(json!({"knock_mode": "single_port",
                             "knock_doors": [{"name": "a", "sequence": [7101, 7202]}]}))
        .unwrap_err();
        assert!(e.to_string().contains("single_port"), "{e}");
    }

    /// The nftables backend takes doors (it refused them): knockd mode with close sequences,
    /// iptables mode in both styles; single_port still has none.
    #[test]
    fn nftables_backend_takes_doors() {
        let doors = json!([{"name": "alice", "sequence": [7101, 7202, 7101]},
                           {"name": "bob", "sequence": [7301, 7402, 7301],
                            "close_sequence": [7501, 7602]}]);
        let p = build(json!({"knock_backend": "nftables", "knock_doors": doors})).unwrap();
        assert_eq!(p.door.as_deref(), Some("alice"));
        assert_eq!(p.doors[0].close_sequence.len(), 2);
        let gates = json!([{"name": "alice", "sequence": [7101, 7202, 7101]},
                           {"name": "bob", "sequence": [7301, 7402, 7301]}]);
        for style in ["gates", "compact"] {
            let p = build(
                json!({"knock_backend": "nftables", "knock_mode": "iptables",
                                 "knock_iptables_style": style, "knock_doors": gates}),
            )
            .unwrap();
            assert_eq!(p.doors.len(), 1, "{style}");
        }
        let e = build(
            json!({"knock_backend": "nftables", "knock_mode": "single_port",
                             "knock_doors": gates}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("single_port"), "{e}");
    }

    #[test]
    fn a_door_with_the_same_port_twice_in_a_row_is_refused_like_knock_sequence() {
        // The same rules as knock_sequence (profile::sequence_problems): a repeated knock in a
        // row cannot be told from a retransmission; knock ports are neither protected nor
        // public; a close sequence is checked as its own list.
        let e = build(
            json!({"knock_sequence": [7501, 7602, 7501], "knock_doors": [
            {"name": "bob", "sequence": [7301, 7301, 7402]},
            {"name": "carol", "sequence": [7601], "close_sequence": [7701, 22]}]}),
        )
        .unwrap_err();
        let t = e.to_string();
        assert!(
            t.contains("knock_doors[0].sequence[1] = 7301/tcp: same port twice in a row"),
            "{t}"
        );
        assert!(
            t.contains("knock_doors[1].sequence = 1 port: a knock sequence needs at least 2"),
            "{t}"
        );
        assert!(
            t.contains("knock_doors[1].close_sequence[1] = 22/tcp: is a protected port"),
            "{t}"
        );
    }

    #[test]
    fn masking_words() {
        let v = vars(
            json!({"knock_doors": [{"name": "a", "sequence": [7101, "7202:udp"],
                                             "close_sequence": "7303,7404"}]}),
        );
        let w = secret_words(&v);
        for p in ["7101", "7202", "7303", "7404"] {
            assert!(w.contains(&p.to_string()), "{p}: {w:?}");
        }
    }
}
