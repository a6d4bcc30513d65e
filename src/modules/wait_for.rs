//! `wait_for`: wait from the controller until a TCP port on the host answers (or stops
//! answering). The plan is one transaction step that polls from the controller; it never
//! runs a command on the host, and check mode skips it (as Ansible does).

use super::{Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan};
use crate::facts::State;
use crate::transport::Transport;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub static DEF: ModuleDef = ModuleDef {
    name: "wait_for",
    summary: "Wait for a TCP port to open or close, from the controller",
    args: &[
        (
            "host",
            "address to check (default: the host's ansible_host)",
        ),
        ("port", "TCP port"),
        ("state", "started | stopped (default started)"),
        ("timeout", "seconds to wait (default 300)"),
        ("delay", "seconds to wait before the first check"),
        (
            "connect_timeout",
            "seconds per connection attempt (default 5)",
        ),
        ("sleep", "seconds between checks (default 1)"),
    ],
    free_form: false,
    prepare,
};

struct WaitFor {
    addr: String,
    port: u16,
    started: bool,
    timeout: Duration,
    delay: Duration,
    connect_timeout: Duration,
    sleep: Duration,
}

fn prepare(args: &Args, ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let addr = match args.opt_str("host")? {
        Some(h) => h,
        None => ctx
            .vars
            .get("ansible_host")
            .and_then(|v| v.as_str())
            .unwrap_or(ctx.host)
            .to_string(),
    };
    let port = args.opt_u64("port")?.ok_or(ModuleError::MissingArg {
        module: "wait_for",
        arg: "port".into(),
    })?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or(ModuleError::BadArg {
            module: "wait_for",
            arg: "port".into(),
            msg: format!("{port} is not a TCP port"),
        })?;
    let secs = |k: &str, d: u64| -> Result<Duration, ModuleError> {
        Ok(Duration::from_secs(args.opt_u64(k)?.unwrap_or(d)))
    };
    Ok(Box::new(WaitFor {
        addr,
        port,
        started: args
            .choice(
                "state",
                &["started", "stopped", "present", "absent"],
                "started",
            )?
            .starts_with(['s', 'p'])
            && args.opt_str("state")?.as_deref() != Some("stopped"),
        timeout: secs("timeout", 300)?,
        delay: secs("delay", 0)?,
        connect_timeout: secs("connect_timeout", 5)?,
        sleep: secs("sleep", 1)?,
    }))
}

/// Whether a TCP connection to the address succeeds within `t`.
pub fn port_open(addr: &SocketAddr, t: Duration) -> bool {
    TcpStream::connect_timeout(addr, t).is_ok()
}

impl Action for WaitFor {
    fn plan(&self, _s: &State, _c: &Ctx) -> Result<Plan, ModuleError> {
        Ok(Plan::transaction())
    }

    fn apply(
        &self,
        _p: &Plan,
        _s: &State,
        _conn: &mut dyn Transport,
        _c: &Ctx,
    ) -> Result<Applied, ModuleError> {
        let mut a = Applied::default();
        let Some(sa) = (self.addr.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut i| i.next())
        else {
            a.failed = Some(format!("cannot resolve {}", self.addr));
            return Ok(a);
        };
        std::thread::sleep(self.delay);
        let start = Instant::now();
        loop {
            let open = port_open(
                &sa,
                self.connect_timeout
                    .min(self.timeout.max(Duration::from_millis(200))),
            );
            if open == self.started {
                a.data
                    .insert("elapsed".into(), start.elapsed().as_secs().into());
                a.data.insert("port".into(), self.port.into());
                return Ok(a);
            }
            if start.elapsed() >= self.timeout {
                a.failed = Some(format!(
                    "Timeout when waiting for {}:{} to {}",
                    self.addr,
                    self.port,
                    if self.started { "open" } else { "close" }
                ));
                return Ok(a);
            }
            std::thread::sleep(
                self.sleep
                    .min(self.timeout.saturating_sub(start.elapsed()))
                    .max(Duration::from_millis(100)),
            );
        }
    }
}
