//! Sequences: the open sequence (`knock_sequence`, required in the sequence modes) and knockd's
//! close sequence, each checked against the ports and against each other. The messages name
//! one offending port at most, never a whole sequence.

use super::values::{Collector, PortList};
use super::{KnockMode, KnockPort};

impl Collector<'_> {
    /// The open and close sequences `mode` uses (empty where it uses none).
    pub(super) fn sequences(
        &mut self,
        mode: KnockMode,
        sequence: PortList,
        close: PortList,
        protected: &[KnockPort],
        public: &[KnockPort],
    ) -> (Vec<KnockPort>, Vec<KnockPort>) {
        let uses_sequence = mode != KnockMode::SinglePort;
        let sequence = if uses_sequence {
            match sequence {
                None => {
                    self.err(
                        "knock_sequence",
                        "(unset)",
                        format!(
                            "required in {} mode; choose your own secret ports, e.g. in host_vars with ansible-vault",
                            mode.as_str()
                        ),
                    );
                    Vec::new()
                }
                Some(None) => Vec::new(),
                Some(Some(s)) => {
                    self.check_sequence("knock_sequence", &s, protected, public);
                    s
                }
            }
        } else {
            if sequence.is_some() {
                self.warn(
                    "knock_sequence",
                    "ignored in single_port mode, which knocks on the protected port itself",
                );
            }
            Vec::new()
        };
        let close = match (mode, close) {
            (KnockMode::Knockd, Some(None)) => Vec::new(),
            (KnockMode::Knockd, Some(Some(c))) => {
                self.check_sequence("knock_close_sequence", &c, protected, public);
                if !c.is_empty() && !sequence.is_empty() {
                    if c == sequence {
                        self.err(
                            "knock_close_sequence",
                            "***",
                            "same as knock_sequence: knockd could not tell opening from closing",
                        );
                    } else if c[0] == sequence[0] {
                        self.err(
                            "knock_close_sequence[0]",
                            c[0].to_string(),
                            "starts with the first port of knock_sequence: knockd would follow both doors at once",
                        );
                    }
                }
                c
            }
            (_, Some(_)) => {
                self.warn(
                    "knock_close_sequence",
                    format!(
                        "ignored in {} mode: the door closes after knock_open_seconds",
                        mode.as_str()
                    ),
                );
                Vec::new()
            }
            (_, None) => Vec::new(),
        };
        (sequence, close)
    }

    pub(super) fn check_sequence(
        &mut self,
        name: &str,
        seq: &[KnockPort],
        protected: &[KnockPort],
        public: &[KnockPort],
    ) {
        for (variable, value, problem) in sequence_problems(name, seq, protected, public) {
            self.err(&variable, value, problem);
        }
    }
}

/// What is wrong with one knock sequence (the variable, the value: one port at most, the
/// problem): too short, a port twice in a row, a protected or public port. The profile's
/// sequences and every door of `knock_doors` are checked by it.
pub fn sequence_problems(
    name: &str,
    seq: &[KnockPort],
    protected: &[KnockPort],
    public: &[KnockPort],
) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    if seq.len() < 2 {
        out.push((
            name.to_string(),
            format!(
                "{} port{}",
                seq.len(),
                if seq.len() == 1 { "" } else { "s" }
            ),
            "a knock sequence needs at least 2 ports (3 or more recommended)",
        ));
    }
    for (i, k) in seq.iter().enumerate() {
        let item = || (format!("{name}[{i}]"), k.to_string());
        if i > 0 && seq[i - 1] == *k {
            let (v, value) = item();
            out.push((
                v,
                value,
                "same port twice in a row: a retransmitted knock could not be told from the next one",
            ));
        }
        if protected.contains(k) {
            let (v, value) = item();
            out.push((
                v,
                value,
                "is a protected port: knock ports must differ from knock_protected_ports",
            ));
        }
        if public.contains(k) {
            let (v, value) = item();
            out.push((
                v,
                value,
                "is a public port: anyone's ordinary traffic to it would disturb the sequence",
            ));
        }
    }
    out
}
