//! The knock client: sends a knock sequence exactly as the server side expects it (one bare SYN
//! per TCP knock, one datagram per UDP knock, nothing else), and relays a connection between
//! stdio and a host after knocking (for OpenSSH's `ProxyCommand`). Never prints.

use super::{KnockError, KnockPort, Proto};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How long a connection attempt right after a knock waits for the TCP connect before knocking
/// again (the last attempt waits the whole connect timeout).
pub const KNOCK_ANSWER_WAIT: Duration = Duration::from_secs(3);

/// Send `seq` to `ip`, waiting `gap` between knocks, from whatever source address the kernel
/// picks. Packet-level, with any timing (the lab tests use it to probe the rules with wrong
/// timings): sesame's own knocks all go through `KnockProfile::send` (`knock/send.rs`).
pub fn send(ip: IpAddr, seq: &[KnockPort], gap: Duration) -> Result<(), KnockError> {
    send_from(None, ip, seq, gap)
}

/// Send `seq` to `ip` from `source` (when given), waiting `gap` between knocks.
///
/// A TCP knock is a non-blocking `connect` whose socket is closed as soon as the call returns:
/// Linux transmits the SYN inside `connect`, and closing a socket in SYN-SENT sends nothing
/// more (no RST, no retransmission). So the host sees exactly one SYN per knock, as knockd's
/// `tcpflags = syn` and the xt_recent gates expect, and no handshake ever completes.
pub fn send_from(
    source: Option<IpAddr>,
    ip: IpAddr,
    seq: &[KnockPort],
    gap: Duration,
) -> Result<(), KnockError> {
    for (i, k) in seq.iter().enumerate() {
        if i > 0 && !gap.is_zero() {
            std::thread::sleep(gap);
        }
        knock_once(source, SocketAddr::new(ip, k.port), k.proto)?;
    }
    Ok(())
}

/// One knock: a bare SYN or a one-byte datagram.
pub fn knock_once(
    source: Option<IpAddr>,
    addr: SocketAddr,
    proto: Proto,
) -> Result<(), KnockError> {
    let (ty, protocol, name) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP, "tcp"),
        Proto::Udp => (Type::DGRAM, Protocol::UDP, "udp"),
    };
    let sock = Socket::new(Domain::for_address(addr), ty, Some(protocol)).map_err(|source| {
        KnockError::Socket {
            proto: name,
            addr,
            source,
        }
    })?;
    if let Some(src) = source {
        sock.bind(&SockAddr::from(SocketAddr::new(src, 0)))
            .map_err(|source| KnockError::Bind {
                source_addr: src,
                source,
            })?;
    }
    let send_err = |source| KnockError::Send {
        proto: name,
        addr,
        source,
    };
    match proto {
        Proto::Tcp => {
            sock.set_nonblocking(true).map_err(send_err)?;
            match sock.connect(&SockAddr::from(addr)) {
                // EINPROGRESS: the SYN is on its way; that is all a knock is.
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Only possible if something answered at once (loopback): still one SYN.
                Ok(()) => {}
                Err(e) => return Err(send_err(e)),
            }
        }
        Proto::Udp => {
            sock.send_to(&[0u8], &SockAddr::from(addr))
                .map_err(send_err)?;
        }
    }
    drop(sock);
    Ok(())
}

/// How long to wait between single_port hits so that the connection that follows the last one
/// lands in the middle of the allowed window: hits at least `hit_min` apart, the first hit and
/// the connection at most `hit_max` apart. `prior_hits` is `knock_hitcount - 1`.
pub fn single_port_spacing(prior_hits: u32, hit_min: u32, hit_max: u32) -> Duration {
    let prior = f64::from(prior_hits.max(1));
    let low = f64::from(hit_min);
    let high = (f64::from(hit_max) / prior).max(low);
    Duration::from_secs_f64((low + high) / 2.0)
}

/// single_port knocking: `prior_hits` connection attempts to the protected port itself,
/// `spacing` apart, then one more `spacing` of waiting, so that the caller's real connection
/// is the next hit and gets through.
pub fn send_single_port(
    source: Option<IpAddr>,
    ip: IpAddr,
    port: KnockPort,
    prior_hits: u32,
    spacing: Duration,
) -> Result<(), KnockError> {
    for _ in 0..prior_hits {
        knock_once(source, SocketAddr::new(ip, port.port), port.proto)?;
        std::thread::sleep(spacing);
    }
    Ok(())
}

/// Connect to `ip:port` and relay stdin to it and it to stdout until it closes, as OpenSSH's
/// `ProxyCommand` needs. Stdin's EOF half-closes the connection; the host closing ends the relay.
pub fn proxy(ip: IpAddr, port: u16, connect_timeout: Duration) -> Result<(), KnockError> {
    let addr = SocketAddr::new(ip, port);
    let stream = TcpStream::connect_timeout(&addr, connect_timeout)
        .map_err(|source| KnockError::ProxyConnect { addr, source })?;
    relay(stream, io::stdin(), io::stdout(), addr)
}

/// The relay behind `proxy`, over any reader and writer (tests use pipes).
pub fn relay<R, W>(
    stream: TcpStream,
    input: R,
    mut output: W,
    addr: SocketAddr,
) -> Result<(), KnockError>
where
    R: Read + Send + 'static,
    W: Write,
{
    let mut upstream = stream
        .try_clone()
        .map_err(|source| KnockError::Relay { addr, source })?;
    // Input to the host on its own thread: it blocks on reads that may never end (ssh keeps
    // stdin open), so the relay ends with the host's side, not with this thread.
    std::thread::spawn(move || {
        let mut input = input;
        let _ = io::copy(&mut input, &mut upstream);
        let _ = upstream.shutdown(Shutdown::Write);
    });
    let mut downstream = stream;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match downstream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(KnockError::Relay { addr, source }),
        };
        output
            .write_all(&buf[..n])
            .and_then(|()| output.flush())
            .map_err(|source| KnockError::Relay { addr, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener, UdpSocket};

    fn lo() -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    #[test]
    fn spacing_lands_in_the_middle_of_the_window() {
        // Defaults 2 / 3 / 5: one prior hit, then connect 3..5 s later: 4 s.
        assert_eq!(single_port_spacing(1, 3, 5), Duration::from_secs(4));
        // 4 prior hits at least 3 s apart within 13 s: between 3 and 3.25 s.
        let s = single_port_spacing(4, 3, 13);
        assert!(
            s >= Duration::from_secs(3) && s * 4 <= Duration::from_secs(13),
            "{s:?}"
        );
    }

    #[test]
    fn udp_knock_is_one_datagram() {
        let rx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let port = rx.local_addr().unwrap().port();
        send(
            lo(),
            &[KnockPort {
                port,
                proto: Proto::Udp,
            }],
            Duration::ZERO,
        )
        .unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(n, 1);
        rx.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(rx.recv_from(&mut buf).is_err(), "a second datagram arrived");
    }

    #[test]
    fn tcp_knock_from_a_bound_source_reaches_a_listener() {
        // On loopback a listener completes the handshake in the kernel; what matters here is
        // that the knock leaves from the requested source address.
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        send_from(
            Some(src),
            lo(),
            &[KnockPort {
                port,
                proto: Proto::Tcp,
            }],
            Duration::ZERO,
        )
        .unwrap();
        l.set_nonblocking(false).unwrap();
        let (_, peer) = l.accept().unwrap();
        assert_eq!(peer.ip(), src);
    }

    #[test]
    fn bind_to_a_foreign_source_is_a_typed_error() {
        let err = send_from(
            Some(IpAddr::V4(Ipv4Addr::new(198, 19, 250, 250))),
            lo(),
            &[KnockPort {
                port: 9,
                proto: Proto::Udp,
            }],
            Duration::ZERO,
        )
        .unwrap_err();
        assert!(matches!(err, KnockError::Bind { .. }), "{err}");
    }

    #[test]
    fn relay_moves_bytes_both_ways_until_the_host_closes() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap(); // until the relay half-closes
            s.write_all(b"pong:").unwrap();
            s.write_all(&got).unwrap();
            got
        });
        let stream = TcpStream::connect(addr).unwrap();
        let mut out = Vec::new();
        relay(stream, io::Cursor::new(b"ping".to_vec()), &mut out, addr).unwrap();
        assert_eq!(server.join().unwrap(), b"ping");
        assert_eq!(out, b"pong:ping");
    }
}
