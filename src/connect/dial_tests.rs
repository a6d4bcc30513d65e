//! Unit tests of `dial` with a fake dialer: which knocks go out, in which order, how often,
//! and which warnings reach the reporter. No network: the fake records every call.

use super::*;
use crate::knock::rotation::Fallback;
use crate::transport::spec::ConnOverrides;
use serde_json::json;
use std::cell::RefCell;
use std::collections::VecDeque;

/// Records knocks, opens and pauses; each `open` takes the next scripted answer (a silent
/// port once the script is used up).
#[derive(Default)]
struct Fake {
    opens: RefCell<VecDeque<Result<(), TransportError>>>,
    log: RefCell<Vec<String>>,
}

fn silent() -> TransportError {
    TransportError::ConnectTimeout {
        addr: "198.19.251.1:22".into(),
        timeout: Duration::from_secs(3),
    }
}

impl Fake {
    fn answering(script: Vec<Result<(), TransportError>>) -> Fake {
        Fake {
            opens: RefCell::new(script.into()),
            ..Fake::default()
        }
    }
    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
}

impl Dialer for Fake {
    type Session = ();
    fn open(&self, quick: bool) -> Result<(), TransportError> {
        self.log
            .borrow_mut()
            .push(if quick { "open quick" } else { "open" }.into());
        self.opens
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| Err(silent()))
    }
    fn knock(&self, profile: &KnockProfile, ip: IpAddr) -> Result<(), KnockError> {
        let first = profile.sequence.first().map_or(0, |k| k.port);
        let first = match profile.mode {
            KnockMode::SinglePort => profile.protected_ports[0].port,
            _ => first,
        };
        self.log.borrow_mut().push(format!("knock {first} {ip}"));
        Ok(())
    }
    fn pause(&self, d: Duration) {
        self.log
            .borrow_mut()
            .push(format!("pause {}s", d.as_secs()));
    }
}

fn conn(vars: serde_json::Value) -> HostConn {
    HostConn::from_vars("h1", vars.as_object().unwrap(), &ConnOverrides::default()).unwrap()
}

/// Collects warnings the way the reporter gets them: events on a channel.
fn warnings(rx: &crate::runner::EventReceiver) -> Vec<String> {
    rx.drain()
        .into_iter()
        .filter_map(|e| match e {
            Event::Warning { host: Some(h), msg } if h == "h1" => Some(msg),
            _ => None,
        })
        .collect()
}

#[test]
fn knocks_then_connects() {
    let c = conn(json!({"ansible_host": "198.19.251.1", "knock_sequence": [7000, 8000, 7000]}));
    let d = Fake::answering(vec![Ok(())]);
    connect_with(&c, &d, Knocks::Current, &|m| panic!("warned: {m}")).unwrap();
    assert_eq!(d.log(), ["knock 7000 198.19.251.1", "open quick"]);
    // No knock asked: just the connection, with the whole timeout.
    let d = Fake::answering(vec![Ok(())]);
    connect_with(&c, &d, Knocks::None, &|m| panic!("warned: {m}")).unwrap();
    assert_eq!(d.log(), ["open"]);
}

/// A silent port is knocked again `sesame_knock_retries` times; each retry is a warning event
/// for the reporter; the last attempt waits the whole connect timeout.
#[test]
fn silent_port_is_knocked_again_per_knock_retries_and_warned_as_an_event() {
    let c = conn(
        json!({"ansible_host": "198.19.251.1", "knock_sequence": [7000, 8000, 7000],
                        "sesame_knock_retries": 2}),
    );
    let (events, rx) = EventSender::channel();
    let warn = warn_to(&events, "h1");
    let d = Fake::answering(vec![Err(silent()), Err(silent()), Ok(())]);
    connect_with(&c, &d, Knocks::Current, &warn).unwrap();
    let k = "knock 7000 198.19.251.1";
    assert_eq!(d.log(), [k, "open quick", k, "open quick", k, "open"]);
    assert_eq!(
        warnings(&rx),
        [
            "no answer 3s after knocking; knocking again (2/3)",
            "no answer 3s after knocking; knocking again (3/3)"
        ]
    );
    // Never answered: unreachable, saying how many knocks went out and which knock.
    let d = Fake::answering(vec![]);
    let e = connect_with(&c, &d, Knocks::Current, &warn).unwrap_err();
    match e {
        TransportError::KnockedButSilent { knocks, tried, .. } => {
            assert_eq!((knocks, tried.as_str()), (3, "knock_sequence"))
        }
        other => panic!("{other}"),
    }
    // Another error (a refused connection, a handshake) is not retried.
    let d = Fake::answering(vec![Err(TransportError::Handshake {
        addr: "198.19.251.1:22".into(),
        message: "reset".into(),
    })]);
    assert!(connect_with(&c, &d, Knocks::Current, &warn).is_err());
    assert_eq!(d.log(), [k, "open quick"]);
}

/// single_port: the unanswered hits still count, so a retry waits for them to leave the window.
#[test]
fn single_port_retry_waits_out_the_hit_window() {
    // Built outside `HostConn::from_vars`, whose masker would hide "22" in other tests' output.
    let mut c = conn(json!({"ansible_host": "198.19.251.1"}));
    let facts = crate::knock::NetFacts {
        default_interface: Some("eth0".into()),
        ..Default::default()
    };
    let vars = json!({"knock_mode": "single_port", "knock_hit_max_seconds": 6});
    c.knock = Some(KnockProfile::from_vars("h1", vars.as_object().unwrap(), &facts).unwrap());
    let d = Fake::answering(vec![Err(silent()), Ok(())]);
    connect_with(&c, &d, Knocks::Current, &|_| {}).unwrap();
    let k = "knock 22 198.19.251.1";
    assert_eq!(d.log(), [k, "open quick", "pause 7s", k, "open"]);
}

/// Rotation: the current knock, then knock_previous_sequences in order, then the state file's
/// entry; the one that opened the host is remembered for the session after a rollback.
#[test]
fn earlier_knocks_are_tried_in_order_and_remembered() {
    let mut c = conn(
        json!({"ansible_host": "198.19.251.2", "knock_sequence": [7000, 8000, 7000],
                            "knock_previous_sequences": [[6000, 6100, 6000], [5000, 5100, 5000]],
                            "sesame_knock_retries": 0}),
    );
    let labels: Vec<&str> = c.fallbacks.iter().map(|f| f.label.as_str()).collect();
    assert_eq!(
        labels,
        ["knock_previous_sequences[0]", "knock_previous_sequences[1]"]
    );
    // What the state file would add after them.
    let mut from_state = c.fallbacks[0].profile.clone();
    from_state.sequence = c.knock.as_ref().unwrap().sequence.clone();
    from_state.sequence[0].port = 4000;
    c.fallbacks.push(Fallback {
        label: "the state file's entry".into(),
        profile: from_state,
    });
    let (events, rx) = EventSender::channel();
    let warn = warn_to(&events, "h1");
    let d = Fake::answering(vec![Err(silent()), Err(silent()), Err(silent()), Ok(())]);
    connect_with(&c, &d, Knocks::Any, &warn).unwrap();
    let ip = "198.19.251.2";
    assert_eq!(
        d.log(),
        [
            format!("knock 7000 {ip}"),
            "open quick".into(),
            format!("knock 6000 {ip}"),
            "open quick".into(),
            format!("knock 5000 {ip}"),
            "open quick".into(),
            format!("knock 4000 {ip}"),
            "open".into(),
        ]
    );
    assert_eq!(
        warnings(&rx),
        [
            "knock_sequence did not get in; trying knock_previous_sequences[0]",
            "knock_sequence, knock_previous_sequences[0] did not get in; trying knock_previous_sequences[1]",
            "knock_sequence, knock_previous_sequences[0], knock_previous_sequences[1] did not get in; trying the state file's entry",
            "opened with the state file's entry: the host still has rules from before knock_sequence",
        ]
    );
    assert_eq!(
        c.opened_with_earlier_knock(),
        Some("the state file's entry")
    );
    // After a rollback: the knock that got in, and only that one.
    let d = Fake::answering(vec![Ok(())]);
    connect_with(&c, &d, Knocks::AsBefore, &warn).unwrap();
    assert_eq!(d.log(), [format!("knock 4000 {ip}"), "open".into()]);
    // A proof uses the current knock only, whatever opened the first session.
    let d = Fake::answering(vec![]);
    assert!(connect_with(&c, &d, Knocks::Current, &warn).is_err());
    assert_eq!(d.log(), [format!("knock 7000 {ip}"), "open".into()]);
    // None opens it: every knock tried is named.
    let d = Fake::answering(vec![]);
    match connect_with(&c, &d, Knocks::Any, &warn).unwrap_err() {
        TransportError::KnockedButSilent { knocks, tried, .. } => {
            assert_eq!(knocks, 4);
            assert!(
                tried.ends_with("knock_previous_sequences[1], the state file's entry"),
                "{tried}"
            );
        }
        other => panic!("{other}"),
    }
}

/// A host behind a knock-protected bastion: the bastion is knocked before every attempt, and
/// a proxy that cannot get through is knocked again per knock_retries, with a warning.
#[test]
fn jump_host_is_knocked_before_connecting_through_it() {
    let mut c = conn(
        json!({"ansible_host": "10.0.0.5", "knock_sequence": [7000, 8000, 7000],
                            "ansible_ssh_common_args": "-o ProxyJump=bastion"}),
    );
    assert!(c.fallbacks.is_empty(), "no earlier knocks through a proxy");
    let bastion =
        conn(json!({"ansible_host": "198.19.251.9", "knock_sequence": [9000, 9100, 9000]}));
    c.jump_knock = Some((bastion.knock.unwrap(), "198.19.251.9".parse().unwrap()));
    let (events, rx) = EventSender::channel();
    let warn = warn_to(&events, "h1");
    let refused = TransportError::Proxy {
        host: "h1".into(),
        proxy: "bastion".into(),
        message: "closed".into(),
    };
    let d = Fake::answering(vec![Err(refused), Ok(())]);
    connect_with(&c, &d, Knocks::Any, &warn).unwrap();
    let k = "knock 9000 198.19.251.9";
    assert_eq!(d.log(), [k, "open", k, "open"]);
    assert_eq!(
        warnings(&rx),
        ["no way through the knocked jump host; knocking it again (2/2)"]
    );
    // Without knocks (a plain session) the bastion is not knocked either.
    let d = Fake::answering(vec![Ok(())]);
    connect_with(&c, &d, Knocks::None, &warn).unwrap();
    assert_eq!(d.log(), ["open"]);
}

/// A host with no knock at all is just connected to, once, with the whole timeout.
#[test]
fn host_without_knock_is_connected_once() {
    let c = conn(json!({"ansible_host": "198.19.251.3"}));
    let d = Fake::answering(vec![Ok(())]);
    connect_with(&c, &d, Knocks::Any, &|m| panic!("warned: {m}")).unwrap();
    assert_eq!(d.log(), ["open"]);
}
