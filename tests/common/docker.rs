//! The fail2ban/Docker stand-in of the coexistence tests (`tests/data/coexist/lab-others`): a
//! boot service that adds the rules those daemons add (a fail2ban chain and ban, Docker's
//! DOCKER-USER/DOCKER chains, FORWARD policy DROP, a published port DNAT-ed in nat to a
//! "container" in a network namespace of its own), and the probes that tell how a connection
//! to it ends. Shared by lab::coexist (iptables backend) and lab::nft (nftables backend).

use super::Lab;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// The port the "container" is published on, and where it listens inside its namespace.
pub const PUBLISHED: u16 = 8080;
pub const CTR_PORT: u16 = 80;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/coexist")
}

/// Whether `port` of `ip` answers the controller with what the service sends (for the
/// published port: the container's greeting, proof the DNAT forwarded it).
pub fn answers(ip: &str, port: u16) -> bool {
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(1500)) else {
        return false;
    };
    if port != PUBLISHED {
        return true;
    }
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut buf);
    buf.contains("container")
}

/// How a TCP connection from the stranger namespace, from `source`, to `ip:port` ends:
/// "open", "refused" (a REJECT: fail2ban's ban) or "silent" (a DROP: sesame's gate). IPv4 or
/// IPv6 after `ip`.
pub fn from_stranger(lab: &Lab, source: &str, ip: &str, port: u16) -> String {
    let py = "import socket, sys\n\
              fam = socket.AF_INET6 if ':' in sys.argv[2] else socket.AF_INET\n\
              s = socket.socket(fam); s.settimeout(2); s.bind((sys.argv[1], 0))\n\
              try:\n    s.connect((sys.argv[2], int(sys.argv[3]))); print('open')\n\
              except ConnectionRefusedError: print('refused')\n\
              except OSError: print('silent')\n";
    let out = lab.stranger(&["python3", "-c", py, source, ip, &port.to_string()]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Installs the fail2ban/Docker stand-in on h1 as a boot service for whichever init the host
/// runs (an LSB init script and a systemd unit), and starts it. `banned` is the address
/// fail2ban has banned.
pub fn install_stand_in(lab: &Lab, banned: &str) {
    let k = lab.index;
    let b64 = |name: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(data().join(name)).unwrap())
    };
    let defaults = format!(
        "BANNED={banned}\nCTR_HOST=198.19.{k}.241\nCTR=198.19.{k}.242\n\
         CTR6_HOST=fd5e:5a3e:0:{k}::f1\nCTR6=fd5e:5a3e:0:{k}::f2\nPUBLISHED={PUBLISHED}\nCTR_PORT={CTR_PORT}\n"
    );
    lab.sh(
        "h1",
        &format!(
            "printf '%s' '{defaults}' > /etc/default/lab-others && \
             echo {} | base64 -d > /etc/init.d/lab-others && chmod 755 /etc/init.d/lab-others && \
             echo {} | base64 -d > /etc/systemd/lab-others.service.in && \
             if [ -d /run/systemd/system ]; then \
               cp /etc/systemd/lab-others.service.in /etc/systemd/system/lab-others.service && \
               systemctl daemon-reload && systemctl enable --now lab-others >/dev/null 2>&1; \
             else update-rc.d lab-others defaults >/dev/null 2>&1 && /etc/init.d/lab-others start; fi",
            b64("lab-others"),
            b64("lab-others.service")
        ),
    );
}
