//! Sockets created inside a test cgroup (and optionally a network
//! namespace), real TCP connections, and the socket options tests read.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::{NetNs, TestCgroup};

/// A socket (`socket(domain, SOCK_STREAM, 0)`) created by a short-lived child
/// process that first joins `cgroup` (writes its pid to `cgroup.procs`) and,
/// if given, enters `netns`; the fd comes back over a Unix socket
/// (SCM_RIGHTS). The socket stays charged to the cgroup and lives in the
/// namespace, while the test process itself joins neither, so cgroup
/// programs see everything done with it (connect, listen, accept).
///
/// The child only makes async-signal-safe system calls, so this is safe in
/// a multi-threaded test binary.
pub fn socket_in(cgroup: &TestCgroup, netns: Option<&NetNs>, domain: i32) -> io::Result<OwnedFd> {
    let procs = CString::new(cgroup.procs_path().as_os_str().as_bytes())?;
    let ns = match netns {
        Some(ns) => Some(CString::new(ns.path().as_os_str().as_bytes())?),
        None => None,
    };
    let mut pair = [0; 2];
    // SAFETY: pair has room for two fds.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned here.
    let (parent_end, child_end) =
        unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    // SAFETY: the child only calls async-signal-safe functions and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: in the child; see child_make_socket.
        unsafe { child_make_socket(&procs, ns.as_deref(), domain, child_end.as_raw_fd()) }
    }
    drop(child_end);
    let received = recv_fd(parent_end.as_raw_fd());
    let mut status = 0;
    // SAFETY: pid is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        let step = match code {
            10 => "open cgroup.procs",
            11 => "write cgroup.procs",
            12 => "enter the network namespace",
            13 => "socket()",
            14 => "send the fd",
            _ => "unknown step",
        };
        return Err(io::Error::other(format!(
            "socket helper child failed at {step} (exit {code})"
        )));
    }
    received
}

/// Runs in the forked child: no allocation, no locks, only raw syscalls.
unsafe fn child_make_socket(
    procs: &std::ffi::CStr,
    ns: Option<&std::ffi::CStr>,
    domain: i32,
    chan: RawFd,
) -> ! {
    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        libc::_exit(10);
    }
    let mut buf = [0u8; 16];
    let mut pid = libc::getpid() as u32;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (pid % 10) as u8;
        pid /= 10;
        if pid == 0 {
            break;
        }
    }
    let len = buf.len() - i;
    if libc::write(fd, buf[i..].as_ptr().cast(), len) != len as isize {
        libc::_exit(11);
    }
    libc::close(fd);
    if let Some(ns) = ns {
        let nfd = libc::open(ns.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if nfd < 0 || libc::setns(nfd, libc::CLONE_NEWNET) != 0 {
            libc::_exit(12);
        }
    }
    let s = libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
    if s < 0 {
        libc::_exit(13);
    }
    let mut cmsg_buf = [0u64; 4];
    let mut iov_byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: iov_byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut msg: libc::msghdr = zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as _;
    let cmsg = libc::CMSG_FIRSTHDR(&msg);
    (*cmsg).cmsg_level = libc::SOL_SOCKET;
    (*cmsg).cmsg_type = libc::SCM_RIGHTS;
    (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), s);
    if libc::sendmsg(chan, &msg, 0) != 1 {
        libc::_exit(14);
    }
    libc::_exit(0);
}

fn recv_fd(chan: RawFd) -> io::Result<OwnedFd> {
    let mut cmsg_buf = [0u64; 4];
    let mut iov_byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: iov_byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives recvmsg.
    unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 4]>() as _;
        if libc::recvmsg(chan, &mut msg, libc::MSG_CMSG_CLOEXEC) < 1 {
            return Err(io::Error::last_os_error());
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::other("socket helper child sent no fd"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    sa
}

/// Calls `bind` or `connect` (same signature) on `fd` with `addr`.
fn sockaddr_call_v4(
    fd: &OwnedFd,
    addr: SocketAddrV4,
    call: unsafe extern "C" fn(libc::c_int, *const libc::sockaddr, libc::socklen_t) -> libc::c_int,
) -> io::Result<()> {
    let sa = sockaddr_in(addr);
    // SAFETY: sa is a valid sockaddr_in of the given length.
    let ret = unsafe {
        call(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn bind_v4(fd: &OwnedFd, addr: SocketAddrV4) -> io::Result<()> {
    sockaddr_call_v4(fd, addr, libc::bind)
}

fn connect_v4(fd: &OwnedFd, addr: SocketAddrV4) -> io::Result<()> {
    sockaddr_call_v4(fd, addr, libc::connect)
}

/// A listener of this process on `addr` (port 0 picks one) whose accept
/// queue holds one connection (`listen(fd, 0)`): while one waits in it,
/// the kernel drops new SYNs and their clients retransmit after the
/// initial RTO (1 s).
pub fn one_slot_listener(addr: SocketAddrV4) -> io::Result<TcpListener> {
    // SAFETY: plain socket creation; the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    bind_v4(&fd, addr)?;
    // SAFETY: fd is a valid bound socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

/// Connects from this process (outside any test cgroup) to `to`, with the
/// client bound to `ip` (so the other end sees `ip` as its peer).
pub fn connect_bound(ip: Ipv4Addr, to: SocketAddrV4) -> io::Result<TcpStream> {
    // SAFETY: plain socket creation; the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned only here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    bind_v4(&fd, SocketAddrV4::new(ip, 0))?;
    connect_v4(&fd, to)?;
    Ok(TcpStream::from(fd))
}

/// Starts connecting a socket created in `cgroup` to `addr` without
/// waiting for the handshake: `TCP_CONNECT_CB` has run when this returns.
pub fn connect_started(cgroup: &TestCgroup, addr: SocketAddrV4) -> io::Result<OwnedFd> {
    let fd = socket_in(cgroup, None, libc::AF_INET)?;
    // SAFETY: fd is a valid socket; F_SETFL only changes its flags.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    match connect_v4(&fd, addr) {
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(fd),
        Err(e) => Err(e),
        Ok(()) => Ok(fd),
    }
}

/// Waits up to `limit` for a connect started by [`connect_started`];
/// the socket is blocking again afterwards.
pub fn wait_connected(fd: &OwnedFd, limit: std::time::Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Err(io::Error::from(io::ErrorKind::TimedOut));
    }
    let err = getsockopt_u32(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err as i32));
    }
    // SAFETY: as in connect_started.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
    }
    Ok(())
}

/// A listening IPv4 socket created inside `cgroup` (and `netns`), bound to
/// `addr` (port 0 picks one): its accepted sockets are charged to the cgroup,
/// so the passive-side callbacks run there.
pub fn listener_in(
    cgroup: &TestCgroup,
    netns: Option<&NetNs>,
    addr: SocketAddrV4,
) -> io::Result<TcpListener> {
    let fd = socket_in(cgroup, netns, libc::AF_INET)?;
    // Best effort, as before: a failed SO_REUSEADDR is not an error here.
    let _ = setsockopt_u32(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    bind_v4(&fd, addr)?;
    // SAFETY: fd is a valid bound socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 16) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

/// One established TCP connection: both ends, open until dropped.
#[derive(Debug)]
pub struct TcpConn {
    /// The connecting end.
    pub client: TcpStream,
    /// The accepted end.
    pub server: TcpStream,
}

impl TcpConn {
    /// `client` (connected to `listener`) and the end `listener` accepts.
    fn accepted(client: OwnedFd, listener: &TcpListener) -> io::Result<Self> {
        let (server, _) = listener.accept()?;
        Ok(Self {
            client: TcpStream::from(client),
            server,
        })
    }

    /// Connects a client socket created inside `cgroup` to a listener of this
    /// process (outside the cgroup) on `ip` (any 127.0.0.0/8 address works
    /// over loopback). The client's active-side callbacks run in the cgroup.
    pub fn connect_from(cgroup: &TestCgroup, ip: Ipv4Addr) -> io::Result<Self> {
        Self::connect_from_with(cgroup, ip, None)
    }

    /// [`TcpConn::connect_from`], with `TCP_MAXSEG` = `client_maxseg` set
    /// from user space on the client before it connects (to get a small MSS
    /// over loopback without the feature under test).
    pub fn connect_from_with(
        cgroup: &TestCgroup,
        ip: Ipv4Addr,
        client_maxseg: Option<u32>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind((ip, 0))?;
        let addr = v4(listener.local_addr()?)?;
        let fd = socket_in(cgroup, None, libc::AF_INET)?;
        if let Some(mss) = client_maxseg {
            setsockopt_u32(&fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss)?;
        }
        connect_v4(&fd, addr)?;
        Self::accepted(fd, &listener)
    }

    /// Connects from this process (outside any test cgroup) to a listener
    /// created inside `cgroup` on `ip`, with the client bound to `ip` too, so
    /// the accepted end sees `ip` as its peer: its passive-side callbacks run
    /// in the cgroup.
    pub fn accept_in(cgroup: &TestCgroup, ip: Ipv4Addr) -> io::Result<Self> {
        Self::accept_in_with(cgroup, ip, None)
    }

    /// [`TcpConn::accept_in`], with `TCP_MAXSEG` = `listener_maxseg` set on
    /// the listener from user space (the accepted end inherits it; a small
    /// MSS over loopback without the feature under test).
    pub fn accept_in_with(
        cgroup: &TestCgroup,
        ip: Ipv4Addr,
        listener_maxseg: Option<u32>,
    ) -> io::Result<Self> {
        let listener = listener_in(cgroup, None, SocketAddrV4::new(ip, 0))?;
        if let Some(mss) = listener_maxseg {
            setsockopt_u32(&listener, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss)?;
        }
        let addr = v4(listener.local_addr()?)?;
        let client = connect_bound(ip, addr)?;
        let (server, _) = listener.accept()?;
        Ok(Self { client, server })
    }

    /// Both ends inside `cgroup`: a listener created there on `ip` and a
    /// client created there, bound to `ip`, so each end sees `ip` as its peer
    /// and both the active and the passive callbacks run in the cgroup.
    pub fn within(cgroup: &TestCgroup, ip: Ipv4Addr) -> io::Result<Self> {
        let listener = listener_in(cgroup, None, SocketAddrV4::new(ip, 0))?;
        let addr = v4(listener.local_addr()?)?;
        let fd = socket_in(cgroup, None, libc::AF_INET)?;
        bind_v4(&fd, SocketAddrV4::new(ip, 0))?;
        connect_v4(&fd, addr)?;
        Self::accepted(fd, &listener)
    }

    /// Connects a client created in `cgroup` to `target`, which must reach
    /// `listener`: an AF_INET6 socket when `target` is IPv6 (including
    /// v4-mapped `::ffff:a.b.c.d` to an IPv4 listener), AF_INET otherwise.
    pub fn connect_to(
        cgroup: &TestCgroup,
        listener: &TcpListener,
        target: SocketAddr,
    ) -> io::Result<Self> {
        let fd = match target {
            SocketAddr::V4(a) => {
                let fd = socket_in(cgroup, None, libc::AF_INET)?;
                connect_v4(&fd, a)?;
                fd
            }
            SocketAddr::V6(a) => {
                let fd = socket_in(cgroup, None, libc::AF_INET6)?;
                // SAFETY: sockaddr_in6 is plain data.
                let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
                sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sa.sin6_port = a.port().to_be();
                sa.sin6_addr.s6_addr = a.ip().octets();
                // SAFETY: sa is a valid sockaddr_in6 of the given length.
                let ret = unsafe {
                    libc::connect(
                        fd.as_raw_fd(),
                        (&sa as *const libc::sockaddr_in6).cast(),
                        size_of::<libc::sockaddr_in6>() as u32,
                    )
                };
                if ret != 0 {
                    return Err(io::Error::last_os_error());
                }
                fd
            }
        };
        Self::accepted(fd, listener)
    }

    /// Connects a client created in `cgroup` (in this process's network
    /// namespace) to `listener`, e.g. one made with [`listener_in`] inside a
    /// [`crate::NetNs`] and reached across a [`crate::VethPair`]. Returns
    /// (client, accepted end).
    pub fn connect_in_netns_from_host(
        cgroup: &TestCgroup,
        listener: &TcpListener,
    ) -> io::Result<(TcpStream, TcpStream)> {
        let addr = v4(listener.local_addr()?)?;
        let fd = socket_in(cgroup, None, libc::AF_INET)?;
        connect_v4(&fd, addr)?;
        let conn = Self::accepted(fd, listener)?;
        Ok((conn.client, conn.server))
    }

    /// `rounds` small request/response round trips, each at least one RTT:
    /// the RTT estimator (and so the RTO) converges over them.
    pub fn ping_pong(&mut self, rounds: usize) -> io::Result<()> {
        use std::io::{Read, Write};
        let mut byte = [0u8; 1];
        for _ in 0..rounds {
            self.client.write_all(b"p")?;
            self.server.read_exact(&mut byte)?;
            self.server.write_all(b"q")?;
            self.client.read_exact(&mut byte)?;
        }
        Ok(())
    }

    /// Sends `bytes` from client to server and reads them back on the server,
    /// so both ends have seen data, ACKs and RTT samples.
    pub fn exchange(&mut self, bytes: usize) -> io::Result<()> {
        use std::io::{Read, Write};
        let data = vec![0x5a; bytes];
        let mut buf = vec![0; bytes];
        let writer = {
            let mut client = self.client.try_clone()?;
            std::thread::spawn(move || client.write_all(&data))
        };
        self.server.read_exact(&mut buf)?;
        writer
            .join()
            .map_err(|_| io::Error::other("writer panicked"))??;
        // And back, so the client receives data too.
        self.server.write_all(&buf[..bytes.min(4096)])?;
        self.client.read_exact(&mut buf[..bytes.min(4096)])?;
        Ok(())
    }
}

fn v4(addr: SocketAddr) -> io::Result<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(io::Error::other("expected an IPv4 address")),
    }
}

/// `setsockopt(fd, level, opt, val)` for an int option.
pub fn setsockopt_u32(fd: &impl AsRawFd, level: i32, opt: i32, val: u32) -> io::Result<()> {
    let val = val as libc::c_int;
    // SAFETY: val is a valid int option value.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&val as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `getsockopt(fd, level, opt)` into `out`; returns the length the kernel
/// reported.
///
/// # Safety
/// `T` must be plain data for which every byte pattern is valid (an int, a
/// byte array, a `repr(C)` struct of integers): the kernel writes up to
/// `size_of::<T>()` raw bytes into it.
unsafe fn getsockopt_into<T>(
    fd: &impl AsRawFd,
    level: i32,
    opt: i32,
    out: &mut T,
) -> io::Result<libc::socklen_t> {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: out/len describe a writable buffer of size_of::<T>() bytes;
    // the caller vouches that any bytes written make a valid T.
    let ret =
        unsafe { libc::getsockopt(fd.as_raw_fd(), level, opt, (out as *mut T).cast(), &mut len) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(len)
}

/// `getsockopt(fd, level, opt)` for an int option.
pub fn getsockopt_u32(fd: &impl AsRawFd, level: i32, opt: i32) -> io::Result<u32> {
    let mut val: libc::c_int = 0;
    // SAFETY: c_int is plain data.
    unsafe { getsockopt_into(fd, level, opt, &mut val)? };
    Ok(val as u32)
}

/// The socket's congestion control name (`TCP_CONGESTION`).
pub fn tcp_congestion(fd: &impl AsRawFd) -> io::Result<String> {
    let mut buf = [0u8; 16];
    // SAFETY: a byte array is plain data.
    let len = unsafe { getsockopt_into(fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION, &mut buf)? };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(len as usize);
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// `TCP_MAXSEG`: the current MSS of a connected socket.
pub fn tcp_maxseg(fd: &impl AsRawFd) -> io::Result<u32> {
    getsockopt_u32(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG)
}

/// `SO_SNDBUF` (the kernel reports twice what was set).
pub fn so_sndbuf(fd: &impl AsRawFd) -> io::Result<u32> {
    getsockopt_u32(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)
}

/// What `SO_SNDBUF` reports after a program set `bytes`: the kernel caps
/// the value at `net.core.wmem_max` (a fresh kernel's default is 212992)
/// and reports twice what it kept.
pub fn sndbuf_after_set(bytes: u32) -> u32 {
    let wmem_max = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(u32::MAX);
    2 * bytes.min(wmem_max)
}

/// `SO_RCVBUF` (the kernel reports twice what was set).
pub fn so_rcvbuf(fd: &impl AsRawFd) -> io::Result<u32> {
    getsockopt_u32(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)
}

/// `struct tcp_info` (include/uapi/linux/tcp.h) up to `tcpi_rehash` (kernel
/// 6.2+); older kernels leave the tail zero. Times are in microseconds.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpInfo {
    pub tcpi_state: u8,
    pub tcpi_ca_state: u8,
    pub tcpi_retransmits: u8,
    pub tcpi_probes: u8,
    pub tcpi_backoff: u8,
    /// TCPI_OPT_* bits (TCPI_OPT_ECN = 8).
    pub tcpi_options: u8,
    pub tcpi_wscale: u8,
    pub tcpi_flags: u8,
    pub tcpi_rto: u32,
    pub tcpi_ato: u32,
    pub tcpi_snd_mss: u32,
    pub tcpi_rcv_mss: u32,
    pub tcpi_unacked: u32,
    pub tcpi_sacked: u32,
    pub tcpi_lost: u32,
    pub tcpi_retrans: u32,
    pub tcpi_fackets: u32,
    pub tcpi_last_data_sent: u32,
    pub tcpi_last_ack_sent: u32,
    pub tcpi_last_data_recv: u32,
    pub tcpi_last_ack_recv: u32,
    pub tcpi_pmtu: u32,
    pub tcpi_rcv_ssthresh: u32,
    pub tcpi_rtt: u32,
    pub tcpi_rttvar: u32,
    pub tcpi_snd_ssthresh: u32,
    pub tcpi_snd_cwnd: u32,
    pub tcpi_advmss: u32,
    pub tcpi_reordering: u32,
    pub tcpi_rcv_rtt: u32,
    pub tcpi_rcv_space: u32,
    pub tcpi_total_retrans: u32,
    pub tcpi_pacing_rate: u64,
    pub tcpi_max_pacing_rate: u64,
    pub tcpi_bytes_acked: u64,
    pub tcpi_bytes_received: u64,
    pub tcpi_segs_out: u32,
    pub tcpi_segs_in: u32,
    pub tcpi_notsent_bytes: u32,
    pub tcpi_min_rtt: u32,
    pub tcpi_data_segs_in: u32,
    pub tcpi_data_segs_out: u32,
    pub tcpi_delivery_rate: u64,
    pub tcpi_busy_time: u64,
    pub tcpi_rwnd_limited: u64,
    pub tcpi_sndbuf_limited: u64,
    pub tcpi_delivered: u32,
    pub tcpi_delivered_ce: u32,
    pub tcpi_bytes_sent: u64,
    pub tcpi_bytes_retrans: u64,
    pub tcpi_dsack_dups: u32,
    pub tcpi_reord_seen: u32,
    pub tcpi_rcv_ooopack: u32,
    pub tcpi_snd_wnd: u32,
    /// Our current advertised receive window (bytes).
    pub tcpi_rcv_wnd: u32,
    pub tcpi_rehash: u32,
}

/// `TCP_INFO` of a TCP socket.
pub fn tcp_info(fd: &impl AsRawFd) -> io::Result<TcpInfo> {
    let mut info = TcpInfo::default();
    // SAFETY: TcpInfo is a repr(C) prefix of struct tcp_info made of
    // integers; the kernel copies at most size_of::<TcpInfo>() bytes.
    unsafe { getsockopt_into(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info)? };
    Ok(info)
}
