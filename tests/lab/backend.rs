//! The knock backend (`knock_backend`) a lab test body shared by both backends runs on: the
//! group vars that choose it, sesame's live part on a host with it, and the check that the
//! other backend's part is not there. lab::day2 and lab::harden run such bodies on iptables,
//! lab::nft runs the same bodies on nftables.

use crate::common::Lab;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Iptables,
    Nftables,
}

impl Backend {
    /// Group vars that choose this backend (none for the default, iptables).
    pub fn vars(self) -> &'static str {
        match self {
            Backend::Iptables => "",
            Backend::Nftables => "knock_backend: nftables\n",
        }
    }

    /// Panics if the other backend's part of sesame is live on `host`: with nftables no
    /// SESAME-* chain in iptables, with iptables no `table inet sesame`.
    pub fn assert_only_its_own(self, lab: &Lab, host: &str, when: &str) {
        match self {
            Backend::Nftables => {
                let ipt = lab.sh(
                    host,
                    "{ iptables-save -t filter; ip6tables-save -t filter; } 2>/dev/null; true",
                );
                assert!(
                    !ipt.contains("SESAME"),
                    "{host} {when}: the nftables backend left iptables rules:\n{ipt}"
                );
            }
            Backend::Iptables => assert!(
                !nft_live(lab, host),
                "{host} {when}: the iptables backend left table inet sesame"
            ),
        }
    }
}

/// Whether sesame's nftables table is live on `host`.
pub fn nft_live(lab: &Lab, host: &str) -> bool {
    lab.exec(
        host,
        &["sh", "-c", "nft list table inet sesame >/dev/null 2>&1"],
    )
    .status
    .success()
}

/// sesame's live nftables table without set elements (a knock adds one) and without counters,
/// or `no table inet sesame` (also where nft is not installed yet): what a change by sesame
/// would alter.
pub fn nft_table(lab: &Lab, host: &str) -> String {
    lab.sh(
        host,
        "if nft list table inet sesame >/dev/null 2>&1; then nft -s -t list table inet sesame; \
         else echo 'no table inet sesame'; fi",
    )
}
