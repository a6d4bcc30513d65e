//! Names: every chain and recent-list name the rules use, all prefixed `SESAME` so they never
//! collide with a user's own rules. The iptables gate steps are named here for the main
//! sequence and for the other doors (`knock::doors`) alike.

use super::{GateStep, KnockPort, Names, Proto, SinglePortNames};

impl Names {
    /// The names for a profile's main sequence and protected ports.
    pub(super) fn new(sequence: &[KnockPort], protected: &[KnockPort]) -> Names {
        Names {
            input_chain: "SESAME-INPUT".into(),
            forward_chain: "SESAME-FORWARD".into(),
            forward_gate_chain: "SESAME-DOOR-FWD".into(),
            door_chain: "SESAME-DOOR".into(),
            knocking_chain: "SESAME-KNOCKING".into(),
            passed_chain: "SESAME-PASSED".into(),
            compact_chain: "SESAME-KNOCK".into(),
            steps: gate_steps(
                sequence,
                |i| format!("SESAME-GATE{i}"),
                |i| format!("SESAME_AUTH{i}"),
            ),
            single_port: protected.iter().map(single_port_names).collect(),
        }
    }
}

/// One `GateStep` per knock of `sequence`: step `i` (1-based) expects its knock in chain
/// `chain(i)` and sets list `list(i)`, after the previous step's list.
pub fn gate_steps(
    sequence: &[KnockPort],
    chain: impl Fn(usize) -> String,
    list: impl Fn(usize) -> String,
) -> Vec<GateStep> {
    sequence
        .iter()
        .enumerate()
        .map(|(i, k)| GateStep {
            index: i + 1,
            port: k.port,
            proto: k.proto,
            chain: chain(i + 1),
            list: list(i + 1),
            prev_list: (i > 0).then(|| list(i)),
        })
        .collect()
}

fn single_port_names(p: &KnockPort) -> SinglePortNames {
    let tag = match p.proto {
        Proto::Tcp => format!("{}", p.port),
        Proto::Udp => format!("{}U", p.port),
    };
    SinglePortNames {
        port: p.port,
        proto: p.proto,
        chain: format!("SESAME-SP{tag}"),
        hits_list: format!("SESAME_SP{tag}_HITS"),
        penalty_list: format!("SESAME_SP{tag}_PENALTY"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_steps_chain_their_lists() {
        let seq = [7000, 8000, 7000].map(|port| KnockPort {
            port,
            proto: Proto::Tcp,
        });
        let steps = gate_steps(&seq, |i| format!("C{i}"), |i| format!("L{i}"));
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].prev_list, None);
        assert_eq!((steps[0].index, steps[0].chain.as_str()), (1, "C1"));
        assert_eq!(steps[2].list, "L3");
        assert_eq!(steps[2].prev_list.as_deref(), Some("L2"));
        let udp = single_port_names(&KnockPort {
            port: 53,
            proto: Proto::Udp,
        });
        assert_eq!(udp.chain, "SESAME-SP53U");
        assert_eq!(udp.penalty_list, "SESAME_SP53U_PENALTY");
    }
}
