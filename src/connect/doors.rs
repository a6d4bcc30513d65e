//! `sesame verify`'s proof of the doors beyond the one sesame knocks: each door of
//! `knock_doors` opens for its own knock (a fresh knocked SSH session, through `HostConn`), and
//! each door sesame removed stays shut after its knock. Read-only: knocks and sessions only.

use super::{HostConn, Warn};
use crate::knock::{KnockProfile, Which};
use crate::runner::{Event, KnockStage};
use crate::transport::Cmd;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Whether `addr:port` accepts a TCP connection within a second.
fn answers(addr: IpAddr, port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(1))
        .is_ok()
}

/// Wait until the port is silent again (the door of the last knock closed by itself).
fn wait_shut(addr: IpAddr, port: u16, profile: &KnockProfile) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs(u64::from(profile.open_seconds) + 5);
    while Instant::now() < end {
        if !answers(addr, port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!(
        "port {port} stays open: cannot prove the other doors one by one"
    ))
}

/// Beyond the door sesame knocks: every other door of `knock_doors` opens for its owner's
/// knock (a new SSH session), and every door sesame removed (the state file keeps them) stays
/// shut after its knock. Nothing is proven through a jump host.
pub fn prove_doors(
    host: &str,
    hc: &HostConn,
    profile: &KnockProfile,
    addr: IpAddr,
    sink: &(dyn Fn(Event) + Sync),
    warn: Warn<'_>,
) -> Result<(), String> {
    let ev = |stage, ok, detail: String| {
        sink(Event::Knock {
            host: host.to_string(),
            stage,
            ok,
            detail,
        })
    };
    let revoked =
        crate::knock::state_file::entry(&crate::knock::state_file::HostKey::for_spec(&hc.spec))
            .map(|e| e.revoked)
            .unwrap_or_default();
    if hc.spec.proxy.is_some() || (profile.doors.is_empty() && revoked.is_empty()) {
        return Ok(());
    }
    let port = hc.spec.port;
    for d in &profile.doors {
        wait_shut(addr, port, profile)?;
        let mut p = profile.clone();
        p.sequence = d.sequence.clone();
        p.close_sequence = d.close_sequence.clone();
        p.doors.clear();
        let one = hc.with_knock(p.clone());
        match one
            .connect(true, warn)
            .and_then(|mut t| t.exec(&Cmd::new("true")))
        {
            Ok(o) if o.ok() => ev(
                KnockStage::Opened,
                true,
                format!("door {}: new SSH session after its knock", d.name),
            ),
            Ok(o) => {
                ev(
                    KnockStage::Opened,
                    false,
                    format!("door {}: exit {}", d.name, o.status),
                );
                return Err(format!(
                    "door {}: the session could not run a command",
                    d.name
                ));
            }
            Err(e) => {
                ev(KnockStage::Opened, false, format!("door {}: {e}", d.name));
                return Err(format!("door {} does not open: {e}", d.name));
            }
        }
        if !d.close_sequence.is_empty() {
            // Best effort: the next door waits for the port to be shut anyway (`wait_shut`).
            let _ = p.send(None, addr, Which::Close);
        }
    }
    for r in &revoked {
        let name = r.door.as_deref().unwrap_or("(unnamed)");
        wait_shut(addr, port, profile)?;
        let p = r.profile(profile);
        if let Err(e) = p.send(None, addr, Which::Open) {
            return Err(format!("removed door {name}: cannot knock: {e}"));
        }
        let end = Instant::now() + Duration::from_secs(3);
        let mut opened = false;
        while Instant::now() < end && !opened {
            opened = answers(addr, port);
            std::thread::sleep(Duration::from_millis(300));
        }
        ev(
            KnockStage::ClosedAfter,
            !opened,
            format!(
                "removed door {name}: {}",
                if opened {
                    "its knock still opens the port"
                } else {
                    "still shut after its knock"
                }
            ),
        );
        if opened {
            return Err(format!("removed door {name} still opens port {port}"));
        }
    }
    Ok(())
}
