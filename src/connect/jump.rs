//! The knocks of jump hosts that are inventory hosts with knock settings (hardened bastions):
//! worked out once per jump host, and sent before each connection through it (`dial`). A
//! bastion whose knock cannot be worked out is a warning event, never silence.

use super::host::HostConn;
use super::target::{host_vars, inventory_host_at};
use crate::inventory::Inventory;
use crate::knock::KnockProfile;
use crate::transport::spec::{ConnOverrides, ConnSpec};
use crate::vars::Vars;
use std::collections::HashMap;
use std::net::IpAddr;

/// The knocks of jump hosts, found once per jump host: a fleet behind one bastion resolves it
/// once, not once per host.
pub struct JumpKnocks<'a> {
    inv: &'a Inventory,
    extra: &'a Vars,
    overrides: &'a ConnOverrides,
    found: HashMap<String, Option<(KnockProfile, IpAddr)>>,
    /// Jump hosts whose knock could not be worked out, not yet warned about.
    unresolved: Vec<String>,
}

impl<'a> JumpKnocks<'a> {
    pub fn new(inv: &'a Inventory, extra: &'a Vars, overrides: &'a ConnOverrides) -> Self {
        JumpKnocks {
            inv,
            extra,
            overrides,
            found: HashMap::new(),
            unresolved: Vec::new(),
        }
    }

    /// The knock to send before connecting with `spec`: that of the inventory host its
    /// `ProxyJump`'s last hop names (by inventory name or address), if it has one.
    pub fn for_spec(&mut self, spec: &ConnSpec) -> Option<(KnockProfile, IpAddr)> {
        let name = spec.proxy.as_ref()?.last_hop_host()?;
        if !self.found.contains_key(name) {
            // A bastion whose vars or settings are broken is connected through unknocked: if it
            // is knock-protected the hosts behind it time out, so say why (`warn_unresolved`).
            let knock = self.resolve(name).unwrap_or_else(|e| {
                self.unresolved.push(format!(
                    "jump host {name}: cannot work out its knock ({e}); hosts behind it are \
                     reached without knocking it and time out if it is knock-protected"
                ));
                None
            });
            self.found.insert(name.to_string(), knock);
        }
        let knock = self.found.get(name)?.clone();
        if knock.is_some() {
            tracing::debug!(host = %spec.name, jump = %name, "the jump host is knocked before each connection");
        }
        knock
    }

    /// Send one warning per jump host `for_spec` could not resolve since the last call.
    pub fn warn_unresolved(&mut self, events: &crate::runner::EventSender) {
        for msg in self.unresolved.drain(..) {
            events.send(crate::runner::Event::Warning { host: None, msg });
        }
    }

    /// `Ok(None)`: not an inventory host, or one without a knock.
    fn resolve(&mut self, name: &str) -> Result<Option<(KnockProfile, IpAddr)>, String> {
        let Some(jump) = inventory_host_at(self.inv, name)? else {
            return Ok(None);
        };
        let vars = host_vars(self.inv, &jump, self.extra).map_err(|e| e.to_string())?;
        let conn = HostConn::from_vars(&jump, &vars, self.overrides).map_err(|e| e.to_string())?;
        let Some(profile) = conn.knock else {
            return Ok(None);
        };
        let ip = crate::transport::spec::resolve_ip(&conn.spec.address, conn.spec.port)
            .ok_or_else(|| format!("cannot resolve its address `{}`", conn.spec.address))?;
        Ok(Some((profile, ip)))
    }
}
