//! IPv6 connections for the tests: listeners and clients created inside a
//! test cgroup (and a network namespace), over IPv6 loopback, a veth pair,
//! or IPv4-mapped addresses on a dual-stack socket.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::{socket_in, NetNs, TcpConn, TestCgroup};

fn sockaddr_in6(addr: SocketAddrV6) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_port = addr.port().to_be();
    sa.sin6_addr.s6_addr = addr.ip().octets();
    sa
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn bind_v6(fd: &OwnedFd, addr: SocketAddrV6) -> io::Result<()> {
    let sa = sockaddr_in6(addr);
    // SAFETY: sa is a valid sockaddr_in6 of the given length.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in6).cast(),
            size_of::<libc::sockaddr_in6>() as u32,
        )
    })
}

fn connect_v6(fd: &OwnedFd, addr: SocketAddrV6) -> io::Result<()> {
    let sa = sockaddr_in6(addr);
    // SAFETY: sa is a valid sockaddr_in6 of the given length.
    check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in6).cast(),
            size_of::<libc::sockaddr_in6>() as u32,
        )
    })
}

fn v6(addr: SocketAddr) -> io::Result<SocketAddrV6> {
    match addr {
        SocketAddr::V6(a) => Ok(a),
        SocketAddr::V4(a) => Err(io::Error::other(format!("{a} is not IPv6"))),
    }
}

/// A listening AF_INET6 socket created inside `cgroup` (and `netns`),
/// bound to `addr` (port 0 picks one). Dual-stack (IPV6_V6ONLY off), so an
/// IPv4-mapped `addr` (`::ffff:127.0.0.1`) accepts IPv4 peers that the
/// kernel presents as `::ffff:a.b.c.d`.
pub fn listener6_in(
    cgroup: &TestCgroup,
    netns: Option<&NetNs>,
    addr: SocketAddrV6,
) -> io::Result<TcpListener> {
    let fd = socket_in(cgroup, netns, libc::AF_INET6)?;
    let one: libc::c_int = 1;
    let zero: libc::c_int = 0;
    // SAFETY: valid fd and option pointers of the right sizes.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&zero as *const libc::c_int).cast(),
            4,
        );
    }
    bind_v6(&fd, addr)?;
    // SAFETY: valid fd.
    check(unsafe { libc::listen(fd.as_raw_fd(), 16) })?;
    Ok(TcpListener::from(fd))
}

impl TcpConn {
    /// Both ends AF_INET6 inside `cgroup` and `netns`: a listener on `ip` and
    /// a client that connects to it from `ip`, so each end sees `ip` as its
    /// peer (an address on the namespace's loopback, or IPv4-mapped) and the
    /// active and the passive callbacks both run in the cgroup.
    pub fn within6(cgroup: &TestCgroup, netns: Option<&NetNs>, ip: Ipv6Addr) -> io::Result<Self> {
        Self::within6_with(cgroup, netns, ip, None)
    }

    /// [`TcpConn::within6`], with `TCP_MAXSEG` = `client_maxseg` set on the
    /// client before it connects (a small MSS over loopback).
    pub fn within6_with(
        cgroup: &TestCgroup,
        netns: Option<&NetNs>,
        ip: Ipv6Addr,
        client_maxseg: Option<u32>,
    ) -> io::Result<Self> {
        let listener = listener6_in(cgroup, netns, SocketAddrV6::new(ip, 0, 0, 0))?;
        let addr = v6(listener.local_addr()?)?;
        let fd = socket_in(cgroup, netns, libc::AF_INET6)?;
        if let Some(mss) = client_maxseg {
            crate::setsockopt_u32(&fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss)?;
        }
        bind_v6(&fd, SocketAddrV6::new(ip, 0, 0, 0))?;
        connect_v6(&fd, addr)?;
        let (server, _) = listener.accept()?;
        Ok(Self {
            client: TcpStream::from(fd),
            server,
        })
    }

    /// An AF_INET6 client created in `cgroup` (in this process's namespace)
    /// connected to `listener`, e.g. one made with [`listener6_in`] inside a
    /// [`NetNs`] behind a [`crate::VethPair`].
    pub fn connect6_to(cgroup: &TestCgroup, listener: &TcpListener) -> io::Result<Self> {
        let addr = v6(listener.local_addr()?)?;
        let fd = socket_in(cgroup, None, libc::AF_INET6)?;
        connect_v6(&fd, addr)?;
        let (server, _) = listener.accept()?;
        Ok(Self {
            client: TcpStream::from(fd),
            server,
        })
    }
}
