//! Network namespaces and veth pairs, made and removed with `ip` (iproute2).

use std::io;
use std::path::PathBuf;
use std::process::Command;

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A named network namespace (`ip netns add`), deleted on drop. Its
/// loopback is up. Create sockets inside it with [`crate::socket_in`].
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    pub fn create(tag: &str) -> io::Result<Self> {
        // `ip netns` names end up in interface-free paths; keep them short.
        let name = crate::unique_name(tag);
        ip(&["netns", "add", &name])?;
        let ns = Self { name };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`, the file `setns(2)` takes.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Adds an IPv6 address to the namespace's loopback (`::2/128`-style,
    /// no duplicate address detection), next to its `::1`.
    pub fn add_loopback_v6(&self, cidr: &str) -> io::Result<()> {
        self.exec(&["ip", "-6", "addr", "add", cidr, "dev", "lo", "nodad"])
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    pub fn exec(&self, cmd: &[&str]) -> io::Result<()> {
        let mut args = vec!["netns", "exec", self.name.as_str()];
        args.extend_from_slice(cmd);
        ip(&args)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: could not delete netns {}: {e}", self.name);
        }
    }
}

/// A veth pair: one end in the host namespace, the peer inside a [`NetNs`],
/// both with an IPv4 address and up. Deleted on drop (deleting one end
/// deletes both).
#[derive(Debug)]
pub struct VethPair {
    host_if: String,
}

impl VethPair {
    /// `host_if` (in this namespace, with `host_cidr` such as
    /// `10.231.0.1/24`) and `ns_if` (in `ns`, with `ns_cidr`), MTU `mtu`.
    /// Interface names must fit in 15 bytes.
    pub fn create(
        ns: &NetNs,
        host_if: &str,
        ns_if: &str,
        host_cidr: &str,
        ns_cidr: &str,
        mtu: u32,
    ) -> io::Result<Self> {
        let mtu = mtu.to_string();
        ip(&[
            "link", "add", host_if, "mtu", &mtu, "type", "veth", "peer", "name", ns_if, "mtu", &mtu,
        ])?;
        let pair = Self {
            host_if: host_if.to_string(),
        };
        ip(&["link", "set", ns_if, "netns", ns.name()])?;
        ip(&["addr", "add", host_cidr, "dev", host_if])?;
        ip(&["link", "set", host_if, "up"])?;
        ns.exec(&["ip", "addr", "add", ns_cidr, "dev", ns_if])?;
        ns.exec(&["ip", "link", "set", ns_if, "up"])?;
        Ok(pair)
    }

    pub fn host_if(&self) -> &str {
        &self.host_if
    }

    /// Adds IPv6 addresses to both ends (`host_cidr` such as
    /// `2001:db8:77::1/64` here, `ns_cidr` on `ns_if` inside `ns`), without
    /// duplicate address detection so they are usable at once.
    pub fn add_v6(
        &self,
        ns: &NetNs,
        ns_if: &str,
        host_cidr: &str,
        ns_cidr: &str,
    ) -> io::Result<()> {
        ip(&[
            "-6",
            "addr",
            "add",
            host_cidr,
            "dev",
            &self.host_if,
            "nodad",
        ])?;
        ns.exec(&["ip", "-6", "addr", "add", ns_cidr, "dev", ns_if, "nodad"])
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_if]);
    }
}
