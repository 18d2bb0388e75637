//! Registering kernel `struct_ops` (a BPF `tcp_congestion_ops` such as
//! `bpf_dctcp`) from an embedded object, through libbpf.
//!
//! This is the one place accord uses libbpf (`libbpf-sys`): aya 0.14 knows the
//! struct_ops program and link *types* but cannot load a `.struct_ops` map
//! (no `StructOps` program kind, no struct_ops map initialisation against the
//! kernel's BTF), so this one step goes through libbpf behind this small seam.
//! Everything else (chain members, dispatchers, maps) stays on aya and the
//! BPF adapter.
//!
//! The object's struct_ops maps must be declared in the `.struct_ops.link`
//! section: registration then is a BPF link, which this module pins under a
//! directory the caller gives. The congestion control stays registered for
//! as long as the pin (or any fd) holds the link, also after this process
//! exits; [`unregister`] removes the pins, which unregisters it once no
//! other reference is left. Sockets already using the congestion control
//! keep it until they close.
//!
//! Kernels before 6.4 have no struct_ops links (Debian 12's 6.1 among
//! them): there [`register`] falls back to the older registration through
//! the map itself ([`Registration::Map`]: `BPF_F_LINK` cleared before the
//! load, `BPF_MAP_UPDATE_ELEM` registers) and pins the *map* where the link
//! would be. Such a registration outlives every fd and pin (the kernel
//! holds the map while registered), so removing its pin must unregister it
//! first: [`release_pin`] does (`BPF_MAP_DELETE_ELEM`), and [`unregister`]
//! and the BPF adapter's unpinning go through it.
//!
//! A name can be registered once: a second registration of `bpf_dctcp` fails
//! with [`StructOpsError::Attach`] carrying `EEXIST` until the first is gone.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;

use libbpf_sys as sys;

/// Size of the buffer the verifier log of a failed load is kept in.
const LOG_SIZE: usize = 1 << 20;

/// What can go wrong registering struct_ops.
#[derive(Debug, thiserror::Error)]
pub enum StructOpsError {
    #[error("struct_ops object {object} could not be opened")]
    Open {
        object: String,
        #[source]
        source: io::Error,
    },
    #[error("struct_ops object {object} failed to load: {source}; verifier log:\n{log}")]
    Load {
        object: String,
        #[source]
        source: io::Error,
        log: String,
    },
    #[error("struct_ops object {object} declares no struct_ops map")]
    NoStructOpsMap { object: String },
    #[error("registering struct_ops map {map} of {object} failed")]
    Attach {
        object: String,
        map: String,
        #[source]
        source: io::Error,
    },
    #[error("pinning the struct_ops link of {map} at {path} failed")]
    Pin {
        map: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("path {path} cannot be passed to libbpf (it contains a NUL byte)")]
    InvalidPath { path: PathBuf },
    #[error("removing the struct_ops link pin {path} failed")]
    Unpin {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StructOpsError {
    /// True when registration failed because the name is already registered
    /// (by an earlier registration that is still pinned or held).
    pub fn is_already_registered(&self) -> bool {
        matches!(self, StructOpsError::Attach { source, .. } if source.raw_os_error() == Some(libc::EEXIST))
    }
}

/// One struct_ops map registered with the kernel and pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredStructOps {
    /// The map's name in the object (`accord_dctcp`).
    pub map: String,
    /// Where its link is pinned (`<pin_dir>/<map>`).
    pub pin: PathBuf,
}

/// How a struct_ops map is registered with the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// A BPF link (`.struct_ops.link`, Linux 6.4+): the pin holds the link,
    /// unpinning it unregisters.
    Link,
    /// The map itself (`BPF_MAP_UPDATE_ELEM`): the pin holds the map, and
    /// [`release_pin`] unregisters (`BPF_MAP_DELETE_ELEM`) before unpinning.
    Map,
}

impl Registration {
    /// What this kernel offers: a link where struct_ops links exist.
    pub fn probe() -> Registration {
        if crate::adapter::probe::struct_ops_link_supported(true) {
            Registration::Link
        } else {
            Registration::Map
        }
    }
}

/// Owns a libbpf object and closes it (and every fd libbpf holds) on drop.
struct Object(*mut sys::bpf_object);

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: the pointer came from bpf_object__open_mem and is closed once.
        unsafe { sys::bpf_object__close(self.0) };
    }
}

/// Opens `object` (ELF bytes; `name` is for messages), loads it, registers
/// every struct_ops map in it and pins each map's link at `<pin_dir>/<map>`.
/// `pin_dir` must be an existing directory on bpffs.
///
/// On failure nothing stays registered: links are pinned only after every
/// map attached, and unpinned links are released with the object.
/// Registers as a link where the kernel can, else through the map
/// ([`Registration::probe`]).
pub fn register(
    name: &str,
    object: &[u8],
    pin_dir: &Path,
) -> Result<Vec<RegisteredStructOps>, StructOpsError> {
    register_as(name, object, pin_dir, Registration::probe())
}

/// [`register`] with the registration chosen by the caller.
pub fn register_as(
    name: &str,
    object: &[u8],
    pin_dir: &Path,
    how: Registration,
) -> Result<Vec<RegisteredStructOps>, StructOpsError> {
    let c_name = CString::new(name).map_err(|_| StructOpsError::Open {
        object: name.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"),
    })?;
    // Anything the object pins by name lands in pin_dir, never in bpffs' root.
    let c_pin_root =
        CString::new(pin_dir.as_os_str().as_bytes()).map_err(|_| StructOpsError::InvalidPath {
            path: pin_dir.to_path_buf(),
        })?;
    let mut log = vec![0u8; LOG_SIZE];
    let opts = sys::bpf_object_open_opts {
        sz: std::mem::size_of::<sys::bpf_object_open_opts>() as sys::size_t,
        object_name: c_name.as_ptr(),
        pin_root_path: c_pin_root.as_ptr(),
        kernel_log_buf: log.as_mut_ptr().cast(),
        kernel_log_size: LOG_SIZE as sys::size_t,
        ..Default::default()
    };
    // SAFETY: object outlives the call (libbpf copies it), opts is valid and
    // sized, and c_name/c_pin_root/log outlive the object (dropped after it).
    let raw = unsafe {
        sys::bpf_object__open_mem(object.as_ptr().cast(), object.len() as sys::size_t, &opts)
    };
    if raw.is_null() {
        return Err(StructOpsError::Open {
            object: name.to_string(),
            source: io::Error::last_os_error(),
        });
    }
    let obj = Object(raw);
    // Refuse before loading anything: loading an object without struct_ops
    // would create (and pin, for pinned maps) what it declares for nothing.
    if struct_ops_maps(&obj).is_empty() {
        return Err(StructOpsError::NoStructOpsMap {
            object: name.to_string(),
        });
    }
    if how == Registration::Map {
        for map in struct_ops_maps(&obj) {
            // SAFETY: map is a struct_ops map of the open, not yet loaded obj.
            unsafe {
                let flags = sys::bpf_map__map_flags(map) & !sys::BPF_F_LINK;
                sys::bpf_map__set_map_flags(map, flags);
            }
        }
    }
    // SAFETY: obj.0 is a valid, opened object.
    let ret = unsafe { sys::bpf_object__load(obj.0) };
    if ret < 0 {
        return Err(StructOpsError::Load {
            object: name.to_string(),
            source: io::Error::from_raw_os_error(-ret),
            log: log_text(&log),
        });
    }

    let mut links = Vec::new();
    for map in struct_ops_maps(&obj) {
        // SAFETY: libbpf returns a NUL-terminated name owned by the map.
        let map_name = unsafe { CStr::from_ptr(sys::bpf_map__name(map)) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: map is a loaded struct_ops map.
        let link = unsafe { sys::bpf_map__attach_struct_ops(map) };
        if link.is_null() {
            let source = io::Error::last_os_error();
            destroy_links(&links);
            return Err(StructOpsError::Attach {
                object: name.to_string(),
                map: map_name,
                source,
            });
        }
        links.push((map_name, link));
    }
    let mut registered = Vec::new();
    for (map_name, link) in &links {
        let pin = pin_dir.join(map_name);
        let c_pin = match CString::new(pin.as_os_str().as_bytes()) {
            Ok(p) => p,
            Err(_) => {
                unpin_all(&registered);
                destroy_links(&links);
                return Err(StructOpsError::InvalidPath { path: pin });
            }
        };
        // SAFETY: link is a live struct_ops link; c_pin is a valid C string.
        // Without a real link its fd is the map's: pin that.
        let ret = unsafe {
            match how {
                Registration::Link => sys::bpf_link__pin(*link, c_pin.as_ptr()),
                Registration::Map => sys::bpf_obj_pin(sys::bpf_link__fd(*link), c_pin.as_ptr()),
            }
        };
        if ret < 0 {
            unpin_all(&registered);
            destroy_links(&links);
            return Err(StructOpsError::Pin {
                map: map_name.clone(),
                path: pin,
                source: io::Error::from_raw_os_error(-ret),
            });
        }
        registered.push(RegisteredStructOps {
            map: map_name.clone(),
            pin,
        });
    }
    for (_, link) in &links {
        // SAFETY: the link is pinned. disconnect makes destroy leave the
        // registration alone; destroy frees the handle but, disconnected,
        // does not close the fd, so a real link's fd is closed here: from
        // now on only the pin holds the link. Without a real link the fd is
        // the map's, which the object closes.
        unsafe {
            let fd = sys::bpf_link__fd(*link);
            sys::bpf_link__disconnect(*link);
            sys::bpf_link__destroy(*link);
            if fd >= 0 && how == Registration::Link {
                libc::close(fd);
            }
        }
    }
    Ok(registered)
}

/// Removes the pins [`register`] made; the kernel unregisters each
/// congestion control once nothing else holds its link (a registration
/// through the map is unregistered first, [`release_pin`]).
pub fn unregister(registered: &[RegisteredStructOps]) -> Result<(), StructOpsError> {
    for r in registered {
        release_pin(&r.pin)?;
    }
    Ok(())
}

/// Removes one pin; when it holds a struct_ops map registered through the
/// map ([`Registration::Map`]), unregisters it first (`BPF_MAP_DELETE_ELEM`
/// of key 0), since the kernel keeps such a registration without any pin.
/// Any other pin is only removed; a missing one is fine.
pub fn release_pin(pin: &Path) -> Result<(), StructOpsError> {
    if let Ok(fd) = crate::sys::obj_get(pin) {
        use std::os::fd::AsFd;
        let is_struct_ops_map = crate::sys::map_info(fd.as_fd())
            .is_ok_and(|info| info.map_type == sys::BPF_MAP_TYPE_STRUCT_OPS);
        if is_struct_ops_map {
            crate::sys::map_delete(fd.as_fd(), &0u32.to_ne_bytes()).map_err(|e| {
                StructOpsError::Unpin {
                    path: pin.to_path_buf(),
                    source: e.source,
                }
            })?;
        }
    }
    match std::fs::remove_file(pin) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StructOpsError::Unpin {
            path: pin.to_path_buf(),
            source,
        }),
    }
}

/// Whether `name` is in `/proc/sys/net/ipv4/tcp_available_congestion_control`.
pub fn congestion_control_available(name: &str) -> io::Result<bool> {
    let list = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")?;
    Ok(list.split_whitespace().any(|cc| cc == name))
}

/// The object's struct_ops maps (valid while `obj` lives).
fn struct_ops_maps(obj: &Object) -> Vec<*mut sys::bpf_map> {
    let mut maps = Vec::new();
    let mut map: *mut sys::bpf_map = ptr::null_mut();
    loop {
        // SAFETY: obj.0 is an open object; map is null or its previous map.
        map = unsafe { sys::bpf_object__next_map(obj.0, map) };
        if map.is_null() {
            return maps;
        }
        // SAFETY: map is a valid map of obj.
        if unsafe { sys::bpf_map__type(map) } == sys::BPF_MAP_TYPE_STRUCT_OPS {
            maps.push(map);
        }
    }
}

fn destroy_links(links: &[(String, *mut sys::bpf_link)]) {
    for (_, link) in links {
        // SAFETY: each link is live and destroyed once; not yet pinned, so
        // destroying it unregisters the struct_ops.
        unsafe { sys::bpf_link__destroy(*link) };
    }
}

fn unpin_all(registered: &[RegisteredStructOps]) {
    for r in registered {
        let _ = std::fs::remove_file(&r.pin);
    }
}

fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_without_struct_ops_is_refused_before_loading() {
        // Opening parses the ELF only: no privileges, nothing created.
        let object = crate::objects::feature_object("init_cwnd").expect("embedded");
        let dir = std::env::temp_dir();
        let err = register("init_cwnd", object, &dir).unwrap_err();
        assert!(
            matches!(err, StructOpsError::NoStructOpsMap { .. }),
            "{err}"
        );
        assert!(!err.is_already_registered());
    }

    #[test]
    fn the_dctcp_object_declares_one_struct_ops_map() {
        let object = crate::objects::struct_ops_object("bpf_dctcp").expect("embedded");
        let c_name = CString::new("bpf_dctcp").unwrap();
        let opts = sys::bpf_object_open_opts {
            sz: std::mem::size_of::<sys::bpf_object_open_opts>() as sys::size_t,
            object_name: c_name.as_ptr(),
            ..Default::default()
        };
        // SAFETY: as in register; the object is closed by Object's drop.
        let raw = unsafe {
            sys::bpf_object__open_mem(object.as_ptr().cast(), object.len() as sys::size_t, &opts)
        };
        assert!(!raw.is_null(), "{}", io::Error::last_os_error());
        let obj = Object(raw);
        let maps = struct_ops_maps(&obj);
        assert_eq!(maps.len(), 1);
        // SAFETY: a valid map of obj.
        let name = unsafe { CStr::from_ptr(sys::bpf_map__name(maps[0])) };
        assert_eq!(name.to_str().unwrap(), "accord_dctcp");
    }
}
