//! Rotation: the knocks a host may still expect because they were live before the inventory
//! changed (`knock_previous_sequences`, and what the state file remembers sesame applied), as
//! `PastKnock`s that become knock profiles to try when the current knock does not open the
//! host. Pure: parsing, validation and naming; no I/O, never prints, never shows a port.

use super::profile::{parse_port_list, split_list_string, KnockMode, KnockPort, KnockProfile};
use super::{KnockVarError, KnockVarErrors};
use serde_json::{Map, Value};

/// The variable listing earlier sequences.
pub const PREVIOUS_VAR: &str = "knock_previous_sequences";

/// One earlier knock: a sequence (knockd and iptables modes) or single_port hit settings. Unset
/// fields take the current profile's value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PastKnock {
    pub mode: Option<KnockMode>,
    pub sequence: Vec<KnockPort>,
    pub hitcount: Option<u32>,
    pub hit_min_seconds: Option<u32>,
    pub hit_max_seconds: Option<u32>,
    /// The door of `knock_doors` this knock opened (state file records; informational).
    pub door: Option<String>,
}

/// An earlier knock with the name it is reported by (never its ports).
#[derive(Debug, Clone)]
pub struct Fallback {
    /// e.g. `knock_previous_sequences[0]` or `state file entry of 2026-12-02 06:40 UTC`.
    pub label: String,
    pub profile: KnockProfile,
}

impl PastKnock {
    /// What `profile` makes a client send.
    pub fn from_profile(p: &KnockProfile) -> PastKnock {
        match p.mode {
            KnockMode::SinglePort => PastKnock {
                mode: Some(p.mode),
                hitcount: Some(p.hitcount),
                hit_min_seconds: Some(p.hit_min_seconds),
                hit_max_seconds: Some(p.hit_max_seconds),
                ..PastKnock::default()
            },
            m => PastKnock {
                mode: Some(m),
                sequence: p.sequence.clone(),
                ..PastKnock::default()
            },
        }
    }

    /// Every door `p` opens to: its main knock (named by `knock_door` when it has doors) and
    /// each other door of `knock_doors`.
    pub fn all_of(p: &KnockProfile) -> Vec<PastKnock> {
        let mut out = vec![PastKnock {
            door: p.door.clone(),
            ..PastKnock::from_profile(p)
        }];
        out.extend(p.doors.iter().map(|d| PastKnock {
            mode: Some(p.mode),
            sequence: d.sequence.clone(),
            door: Some(d.name.clone()),
            ..PastKnock::default()
        }));
        out
    }

    /// The profile a client knocks with to send this earlier knock to the host of `current`.
    /// A bare sequence under a single_port profile is knocked as knockd would want it (the same
    /// packets as the iptables mode, then a short wait for knockd's door command).
    pub fn profile(&self, current: &KnockProfile) -> KnockProfile {
        let mut p = current.clone();
        p.mode = match (self.mode, self.sequence.is_empty(), current.mode) {
            (Some(m), _, _) => m,
            (None, false, KnockMode::SinglePort) => KnockMode::Knockd,
            (None, _, m) => m,
        };
        p.sequence = self.sequence.clone();
        p.close_sequence = Vec::new();
        p.knock_ports = Vec::new();
        for k in &p.sequence {
            if !p.knock_ports.contains(k) {
                p.knock_ports.push(*k);
            }
        }
        if let Some(h) = self.hitcount {
            p.hitcount = h;
            p.prior_hits = h.saturating_sub(1);
        }
        p.hit_min_seconds = self.hit_min_seconds.unwrap_or(p.hit_min_seconds);
        p.hit_max_seconds = self.hit_max_seconds.unwrap_or(p.hit_max_seconds);
        p
    }

    /// The same packets on the wire (a knock tried twice is tried once).
    pub fn same_knock(a: &KnockProfile, b: &KnockProfile) -> bool {
        let single = |p: &KnockProfile| p.mode == KnockMode::SinglePort;
        match (single(a), single(b)) {
            (true, true) => {
                (a.hitcount, a.hit_min_seconds, a.hit_max_seconds)
                    == (b.hitcount, b.hit_min_seconds, b.hit_max_seconds)
            }
            (false, false) => a.sequence == b.sequence,
            _ => false,
        }
    }

    /// The record kept in the state file (JSON, the same shape `knock_previous_sequences`
    /// accepts as a mapping).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(mode) = self.mode {
            m.insert("mode".into(), mode.as_str().into());
        }
        if let Some(d) = &self.door {
            m.insert("door".into(), d.clone().into());
        }
        if !self.sequence.is_empty() {
            m.insert(
                "sequence".into(),
                self.sequence
                    .iter()
                    .map(|k| Value::String(format!("{}:{}", k.port, k.proto.as_str())))
                    .collect(),
            );
        }
        for (k, v) in [
            ("hitcount", self.hitcount),
            ("hit_min_seconds", self.hit_min_seconds),
            ("hit_max_seconds", self.hit_max_seconds),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        }
        Value::Object(m)
    }

    /// Parse one earlier knock: a list of ports, a list string (`"7000,8000"`), or a mapping
    /// with `sequence`, `mode`, `hitcount`, `hit_min_seconds`, `hit_max_seconds` (each also
    /// with a `knock_` prefix). Errors are (sub-path, shown value, problem); a shown value is
    /// the one bad item, never a whole sequence.
    pub fn parse(v: &Value) -> Result<PastKnock, Vec<(String, String, String)>> {
        let mut errors = Vec::new();
        let mut past = PastKnock::default();
        match v {
            Value::Array(_) | Value::String(_) | Value::Number(_) => {
                past.sequence = ports(v, "", &mut errors);
            }
            Value::Object(o) => {
                let get = |k: &str| o.get(k).or_else(|| o.get(&format!("knock_{k}")));
                for key in o.keys() {
                    let k = key.strip_prefix("knock_").unwrap_or(key);
                    if ![
                        "door",
                        "sequence",
                        "mode",
                        "hitcount",
                        "hit_min_seconds",
                        "hit_max_seconds",
                    ]
                    .contains(&k)
                    {
                        errors.push((
                            format!(".{key}"),
                            format!("\"{key}\""),
                            "unknown key (expected sequence, mode, hitcount, hit_min_seconds, hit_max_seconds)".into(),
                        ));
                    }
                }
                if let Some(s) = get("sequence") {
                    past.sequence = ports(s, ".sequence", &mut errors);
                }
                past.mode = match get("mode").map(|m| m.as_str().map(str::trim)) {
                    None => None,
                    Some(Some("knockd")) => Some(KnockMode::Knockd),
                    Some(Some("iptables")) => Some(KnockMode::Iptables),
                    Some(Some("single_port")) => Some(KnockMode::SinglePort),
                    Some(_) => {
                        errors.push((
                            ".mode".into(),
                            get("mode").map(Value::to_string).unwrap_or_default(),
                            "unknown mode (expected knockd, iptables or single_port)".into(),
                        ));
                        None
                    }
                };
                let mut num = |k: &str| {
                    let v = get(k)?;
                    let n = match v {
                        Value::Number(n) => n.as_u64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    };
                    match n.and_then(|n| u32::try_from(n).ok()) {
                        Some(n) => Some(n),
                        None => {
                            errors.push((
                                format!(".{k}"),
                                v.to_string(),
                                "expected a whole number".into(),
                            ));
                            None
                        }
                    }
                };
                past.door = o.get("door").and_then(Value::as_str).map(str::to_string);
                past.hitcount = num("hitcount");
                past.hit_min_seconds = num("hit_min_seconds");
                past.hit_max_seconds = num("hit_max_seconds");
            }
            _ => errors.push((
                String::new(),
                "***".into(),
                "expected a list of ports or a mapping with `sequence`".into(),
            )),
        }
        if errors.is_empty() {
            past.check(&mut errors);
        }
        if errors.is_empty() {
            Ok(past)
        } else {
            Err(errors)
        }
    }

    fn check(&self, errors: &mut Vec<(String, String, String)>) {
        let single = self.mode == Some(KnockMode::SinglePort);
        if !single && self.sequence.is_empty() && self.hitcount.is_none() {
            errors.push((
                String::new(),
                "(empty)".into(),
                "no sequence (and no single_port hitcount): nothing to knock".into(),
            ));
        }
        if single && !self.sequence.is_empty() {
            errors.push((
                ".sequence".into(),
                "***".into(),
                "single_port knocks on the protected port: give hitcount and timing, not a sequence".into(),
            ));
        }
        if let Some(h) = self.hitcount {
            if !(2..=super::profile::MAX_HITCOUNT).contains(&h) {
                errors.push((
                    ".hitcount".into(),
                    h.to_string(),
                    format!("must be between 2 and {}", super::profile::MAX_HITCOUNT),
                ));
            }
        }
    }
}

fn ports(v: &Value, path: &str, errors: &mut Vec<(String, String, String)>) -> Vec<KnockPort> {
    let Some(parsed) = parse_port_list(v) else {
        errors.push((
            path.to_string(),
            "***".into(),
            "expected a list of ports".into(),
        ));
        return Vec::new();
    };
    for (i, item, problem) in parsed.bad {
        errors.push((format!("{path}[{i}]"), item.to_string(), problem));
    }
    parsed.ports
}

/// The items of `knock_previous_sequences`: a list (of lists, list strings or mappings), or a
/// string holding such a list (a `!vault` value decrypts to a string).
fn previous_items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(a) => Some(a.clone()),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Some(Vec::new());
            }
            if t.starts_with('[') {
                if let Ok(Value::Array(a)) = yaml_serde::from_str::<Value>(t) {
                    // `[7000, 8000]` is one sequence; `[[7000, 8000], ...]` a list of them.
                    return Some(if a.is_empty() {
                        a
                    } else if a.iter().all(|x| !x.is_array() && !x.is_object()) {
                        vec![Value::Array(a)]
                    } else {
                        a
                    });
                }
            }
            Some(vec![Value::String(t.to_string())])
        }
        _ => None,
    }
}

/// `knock_previous_sequences` of a host, validated: every problem at once, each naming the
/// item (`knock_previous_sequences[1][2]`) and never showing a whole sequence.
pub fn previous(host: &str, vars: &Map<String, Value>) -> Result<Vec<PastKnock>, KnockVarErrors> {
    let err = |variable: String, value: String, problem: String| KnockVarError {
        host: host.to_string(),
        variable,
        value,
        problem,
    };
    let Some(v) = vars.get(PREVIOUS_VAR) else {
        return Ok(Vec::new());
    };
    let Some(items) = previous_items(v) else {
        return Err(KnockVarErrors {
            host: host.to_string(),
            errors: vec![err(
                PREVIOUS_VAR.into(),
                "***".into(),
                "expected a list of earlier knock sequences, e.g. [[7000, 8000, 7000, 9000]]"
                    .into(),
            )],
        });
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match PastKnock::parse(item) {
            Ok(p) => out.push(p),
            Err(es) => errors.extend(es.into_iter().map(|(sub, value, problem)| {
                err(format!("{PREVIOUS_VAR}[{i}]{sub}"), value, problem)
            })),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(KnockVarErrors {
            host: host.to_string(),
            errors,
        })
    }
}

/// The port numbers of `knock_previous_sequences`, as words for the masker (whatever shape the
/// value has, valid or not).
pub fn secret_words(vars: &Map<String, Value>) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(items) = vars.get(PREVIOUS_VAR).and_then(previous_items) {
        for item in &items {
            collect_ports(item, &mut words);
        }
    }
    words
}

/// Port numbers of a sequence-like value, for masking.
pub fn collect_ports(v: &Value, words: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_ports(x, words)),
        Value::Object(o) => {
            for (k, x) in o {
                if k.ends_with("sequence") || k == "port" {
                    collect_ports(x, words);
                }
            }
        }
        Value::Number(n) => words.push(n.to_string()),
        Value::String(s) => words.extend(split_list_string(s).iter().filter_map(|p| {
            let t = match p {
                Value::String(t) => t.clone(),
                o => o.to_string(),
            };
            let w = t.split(':').next().unwrap_or("").trim().to_string();
            (!w.is_empty()).then_some(w)
        })),
        _ => {}
    }
}

/// Words to mask for the knocks of `fallbacks` (the state file's sequences are not in any
/// variable, yet old files and rules on the host name them).
pub fn fallback_words(fallbacks: &[Fallback]) -> Vec<String> {
    fallbacks
        .iter()
        .flat_map(|f| f.profile.sequence.iter().map(|k| k.port.to_string()))
        .collect()
}

/// How the current knock is named in messages.
pub fn current_label(p: &KnockProfile) -> &'static str {
    match p.mode {
        KnockMode::SinglePort => "knock_hitcount/knock_hit_*_seconds",
        _ => "knock_sequence",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knock::NetFacts;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn current(v: Value) -> KnockProfile {
        let facts = NetFacts {
            default_interface: Some("ens3".into()),
            ..NetFacts::default()
        };
        KnockProfile::from_vars("h1", &vars(v), &facts).unwrap()
    }

    #[test]
    fn lists_strings_mappings_and_vault_strings() {
        let v = vars(json!({PREVIOUS_VAR: [[7101, "7202:udp"], "7301,7302",
            {"sequence": [7401, 7402], "mode": "iptables"},
            {"knock_hitcount": 3, "hit_min_seconds": "2", "hit_max_seconds": 9, "mode": "single_port"}]}));
        let p = previous("h1", &v).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].sequence[1].port, 7202);
        assert_eq!(p[1].sequence.len(), 2);
        assert_eq!(p[2].mode, Some(KnockMode::Iptables));
        assert_eq!(p[3].hitcount, Some(3));
        assert_eq!(p[3].hit_min_seconds, Some(2));
        // A `!vault` value decrypts to a string: a list of lists, or one list.
        let v = vars(json!({PREVIOUS_VAR: "[[7101, 7202], [7301, 7302]]"}));
        assert_eq!(previous("h1", &v).unwrap().len(), 2);
        let v = vars(json!({PREVIOUS_VAR: "[7101, 7202, 7101]"}));
        assert_eq!(previous("h1", &v).unwrap()[0].sequence.len(), 3);
        assert!(previous("h1", &vars(json!({}))).unwrap().is_empty());
    }

    #[test]
    fn bad_items_are_named_and_sequences_not_shown() {
        let v = vars(
            json!({PREVIOUS_VAR: [[7101, 0, 7303], {"sequence": [7401], "colour": 1},
            {"mode": "single_port", "hitcount": 1}, true]}),
        );
        let e = previous("h1", &v).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("knock_previous_sequences[0][1] = 0"),
            "{text}"
        );
        assert!(
            text.contains("knock_previous_sequences[1].colour"),
            "{text}"
        );
        assert!(
            text.contains("knock_previous_sequences[2].hitcount = 1"),
            "{text}"
        );
        assert!(text.contains("knock_previous_sequences[3] = ***"), "{text}");
        assert!(!text.contains("7101") && !text.contains("7303"), "{text}");
        let e = previous("h1", &vars(json!({PREVIOUS_VAR: {"a": 1}}))).unwrap_err();
        assert_eq!(e.errors[0].variable, PREVIOUS_VAR);
    }

    #[test]
    fn a_past_knock_becomes_a_profile_to_knock_with() {
        let cur = current(json!({"knock_sequence": [7101, 7202, 7101]}));
        let past = PastKnock::parse(&json!([7501, 7502, 7501])).unwrap();
        let p = past.profile(&cur);
        assert_eq!(p.mode, KnockMode::Knockd);
        assert_eq!(p.sequence[0].port, 7501);
        assert_eq!(
            p.knock_ports.len(),
            2,
            "the knock ports are the earlier ones"
        );
        assert!(!PastKnock::same_knock(&p, &cur));
        assert!(PastKnock::same_knock(
            &PastKnock::from_profile(&cur).profile(&cur),
            &cur
        ));
        // single_port: timing rotates; a bare sequence was a sequence mode's.
        let sp = current(json!({"knock_mode": "single_port", "knock_hitcount": 3,
            "knock_hit_min_seconds": 2, "knock_hit_max_seconds": 9}));
        let past =
            PastKnock::parse(&json!({"hitcount": 2, "hit_min_seconds": 2, "hit_max_seconds": 5}))
                .unwrap();
        let p = past.profile(&sp);
        assert_eq!(
            (p.mode, p.prior_hits, p.hit_max_seconds),
            (KnockMode::SinglePort, 1, 5)
        );
        let seq = PastKnock::parse(&json!([7101, 7202])).unwrap().profile(&sp);
        assert_eq!(seq.mode, KnockMode::Knockd);
    }

    #[test]
    fn state_records_round_trip() {
        let cur =
            current(json!({"knock_mode": "iptables", "knock_sequence": [7101, "7202:udp", 7101]}));
        let past = PastKnock::from_profile(&cur);
        assert_eq!(PastKnock::parse(&past.to_value()).unwrap(), past);
        let sp = current(json!({"knock_mode": "single_port"}));
        let past = PastKnock::from_profile(&sp);
        assert_eq!(PastKnock::parse(&past.to_value()).unwrap(), past);
    }

    #[test]
    fn masking_words_cover_every_shape() {
        let v =
            vars(json!({PREVIOUS_VAR: [[7101, "7202:udp"], "7301,7302", {"sequence": [7401]}]}));
        let w = secret_words(&v);
        for p in ["7101", "7202", "7301", "7302", "7401"] {
            assert!(w.contains(&p.to_string()), "{p} not in {w:?}");
        }
        let v = vars(json!({PREVIOUS_VAR: "[[7601, 7602]]"}));
        assert_eq!(secret_words(&v), ["7601", "7602"]);
    }
}
