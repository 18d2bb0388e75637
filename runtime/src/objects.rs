//! The eBPF objects built from `ebpf/` by `build.rs`, embedded in the binary
//! so a host needs no compiler.
//!
//! Three lists: [`FEATURES`] (chain members; a feature spec's `object:
//! <name>.bpf.o` names one), [`STRUCT_OPS`] (kernel struct_ops objects such as
//! the BPF DCTCP congestion control, registered by [`crate::struct_ops`]) and
//! [`TESTING`] (test-only programs: `mini_dispatcher`, XDP benchmark members,
//! deliberately broken objects). This module only hands out bytes; loading is
//! the BPF adapter's job.

/// One compiled eBPF object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedObject {
    /// The source's file name without `.bpf.c` (`init_cwnd`).
    pub name: &'static str,
    /// The source, relative to the repository (`ebpf/features/init_cwnd.bpf.c`).
    pub source: &'static str,
    /// The ELF object, 8-byte aligned.
    pub bytes: &'static [u8],
}

impl EmbeddedObject {
    /// The object's file name as feature specs write it (`init_cwnd.bpf.o`).
    pub fn file_name(&self) -> String {
        format!("{}.bpf.o", self.name)
    }
}

/// `include_bytes!` with 8-byte alignment: ELF parsers read u64 fields in
/// place, and a plain byte array may sit at any address.
macro_rules! embed {
    ($path:expr) => {{
        #[repr(C, align(8))]
        struct Aligned<B: ?Sized>(B);
        const ALIGNED: &Aligned<[u8]> = &Aligned(*include_bytes!($path));
        &ALIGNED.0
    }};
}

include!(concat!(env!("OUT_DIR"), "/accord_objects.rs"));

fn find(list: &'static [EmbeddedObject], name: &str) -> Option<&'static EmbeddedObject> {
    let name = name.strip_suffix(".bpf.o").unwrap_or(name);
    list.iter().find(|o| o.name == name)
}

/// A feature object by name, with or without `.bpf.o` (`init_cwnd`, `init_cwnd.bpf.o`).
pub fn feature_object(name: &str) -> Option<&'static [u8]> {
    find(FEATURES, name).map(|o| o.bytes)
}

/// A struct_ops object by name (`bpf_dctcp`).
pub fn struct_ops_object(name: &str) -> Option<&'static [u8]> {
    find(STRUCT_OPS, name).map(|o| o.bytes)
}

/// The daemon's existing-connection iterator of a feature (`init_cwnd`).
pub fn iter_object(name: &str) -> Option<&'static [u8]> {
    find(ITER, name).map(|o| o.bytes)
}

/// A kernel feature probe by name (`setsockopt`).
pub fn probe_object(name: &str) -> Option<&'static [u8]> {
    find(PROBE, name).map(|o| o.bytes)
}

/// A test-only object by name (`mini_dispatcher`).
pub fn testing_object(name: &str) -> Option<&'static [u8]> {
    find(TESTING, name).map(|o| o.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_is_an_aligned_bpf_elf() {
        for o in FEATURES.iter().chain(STRUCT_OPS).chain(TESTING) {
            assert!(o.bytes.starts_with(b"\x7fELF"), "{} is not ELF", o.name);
            // e_machine at offset 18, little-endian: EM_BPF = 247.
            assert_eq!(o.bytes[18], 247, "{} is not a BPF object", o.name);
            assert_eq!(o.bytes.as_ptr() as usize % 8, 0, "{} is misaligned", o.name);
        }
    }

    #[test]
    fn lookups_accept_both_spellings() {
        assert!(feature_object("init_cwnd").is_some());
        assert_eq!(
            feature_object("init_cwnd.bpf.o"),
            feature_object("init_cwnd")
        );
        assert!(feature_object("no_such_feature").is_none());
        assert!(struct_ops_object("bpf_dctcp").is_some());
        assert!(testing_object("mini_dispatcher").is_some());
        assert_eq!(
            FEATURES
                .iter()
                .find(|o| o.name == "init_cwnd")
                .map(|o| o.file_name()),
            Some("init_cwnd.bpf.o".into())
        );
    }

    #[test]
    fn objects_do_not_depend_on_the_checkout_path() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let needle = repo.to_str().unwrap().as_bytes();
        for o in FEATURES.iter().chain(STRUCT_OPS).chain(TESTING) {
            assert!(
                !o.bytes.windows(needle.len()).any(|w| w == needle),
                "{} embeds the build path {}",
                o.name,
                repo.display()
            );
        }
    }

    #[test]
    fn every_feature_has_a_spec() {
        let specs = concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/features");
        for o in FEATURES {
            let spec = std::path::Path::new(specs).join(format!("{}.yaml", o.name));
            assert!(
                spec.is_file(),
                "feature object {} has no spec at {}",
                o.name,
                spec.display()
            );
        }
    }
}
