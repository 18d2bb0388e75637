//! An in-memory stand-in for the kernel and bpffs, for tests of everything
//! above the adapter. It keeps a tree of pins (dirs, programs, maps, links),
//! hands out increasing ids, records every call, and fails on request.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use dispatcher::{Dispatcher, Hook};

use super::{
    AdapterError, AdapterResult, BpfAdapter, ExpectedProg, KernelFeatures, MemberCounters,
    MemberLoad, ProgStats, SockoptOption, StatsSession,
};

/// A map's contents: key bytes to value bytes.
pub type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// One pinned thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakePin {
    Dir,
    Prog {
        id: u32,
        name: String,
        run_cnt: u64,
    },
    Map {
        id: u32,
        value_size: usize,
        entries: BTreeMap<Vec<u8>, Vec<u8>>,
    },
    Link {
        id: u32,
        prog_id: u32,
        cgroup: PathBuf,
    },
}

/// The fake kernel.
#[derive(Debug, Default)]
pub struct FakeAdapter {
    pub pins: BTreeMap<PathBuf, FakePin>,
    /// Every call, one line each, in order.
    pub calls: Vec<String>,
    /// Maps each object (by file name) declares: `(name, value_size)`.
    pub object_maps: HashMap<String, Vec<(String, usize)>>,
    /// Fail the first call whose log line contains this text.
    pub fail_when: Option<String>,
    /// What `probe` reports; `None`: a kernel with everything.
    pub kernel: Option<KernelFeatures>,
    next_id: u32,
}

impl FakeAdapter {
    pub fn new() -> Self {
        FakeAdapter {
            next_id: 100,
            ..Default::default()
        }
    }

    /// Declares the `accord_*` maps an object holds.
    pub fn with_object(mut self, object: &str, maps: &[(&str, usize)]) -> Self {
        self.object_maps.insert(
            object.to_owned(),
            maps.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect(),
        );
        self
    }

    fn call(&mut self, line: String) -> AdapterResult<()> {
        let fail = self
            .fail_when
            .as_ref()
            .is_some_and(|f| line.contains(f.as_str()));
        self.calls.push(line.clone());
        if fail {
            self.fail_when = None;
            return Err(AdapterError::Injected { what: line });
        }
        Ok(())
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn pin(&mut self, path: &Path, what: FakePin) -> AdapterResult<()> {
        if self.pins.contains_key(path) {
            return Err(AdapterError::io(
                path,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        self.pins.insert(path.to_owned(), what);
        Ok(())
    }

    fn prog_id(&self, path: &Path) -> AdapterResult<u32> {
        match self.pins.get(path) {
            Some(FakePin::Prog { id, .. }) => Ok(*id),
            _ => Err(AdapterError::io(
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )),
        }
    }

    fn map_mut(&mut self, path: &Path) -> AdapterResult<(&mut usize, &mut Entries)> {
        match self.pins.get_mut(path) {
            Some(FakePin::Map {
                value_size,
                entries,
                ..
            }) => Ok((value_size, entries)),
            _ => Err(AdapterError::io(
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )),
        }
    }

    /// Every pinned path that is not a directory.
    pub fn pinned_objects(&self) -> Vec<PathBuf> {
        self.pins
            .iter()
            .filter(|(_, p)| **p != FakePin::Dir)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The value of entry `key` of a pinned map.
    pub fn map_entry(&self, path: &Path, key: &[u8]) -> Option<Vec<u8>> {
        match self.pins.get(path) {
            Some(FakePin::Map { entries, .. }) => entries.get(key).cloned(),
            _ => None,
        }
    }

    /// Pretend `n` events ran through a pinned program.
    pub fn run(&mut self, path: &Path, n: u64) {
        if let Some(FakePin::Prog { run_cnt, .. }) = self.pins.get_mut(path) {
            *run_cnt += n;
        }
    }
}

impl BpfAdapter for FakeAdapter {
    fn probe(&self, options: &[SockoptOption]) -> KernelFeatures {
        self.kernel
            .clone()
            .unwrap_or_else(|| KernelFeatures::everything(options))
    }

    fn make_dir(&mut self, path: &Path) -> AdapterResult<()> {
        self.call(format!("make_dir {}", path.display()))?;
        for ancestor in path.ancestors() {
            if ancestor.as_os_str().is_empty() || ancestor == Path::new("/") {
                continue;
            }
            self.pins.entry(ancestor.to_owned()).or_insert(FakePin::Dir);
        }
        Ok(())
    }

    fn remove_tree(&mut self, path: &Path) -> AdapterResult<()> {
        self.call(format!("remove_tree {}", path.display()))?;
        self.pins.retain(|p, _| !p.starts_with(path));
        Ok(())
    }

    fn unpin(&mut self, path: &Path) -> AdapterResult<()> {
        self.call(format!("unpin {}", path.display()))?;
        self.pins.remove(path);
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        self.pins.contains_key(path)
    }

    fn list_dir(&self, path: &Path) -> AdapterResult<Vec<PathBuf>> {
        Ok(self
            .pins
            .keys()
            .filter(|p| p.parent() == Some(path))
            .cloned()
            .collect())
    }

    fn create_chain_map(&mut self, pin: &Path) -> AdapterResult<u32> {
        self.call(format!("create_chain_map {}", pin.display()))?;
        let id = self.id();
        self.pin(
            pin,
            FakePin::Map {
                id,
                value_size: 4,
                entries: BTreeMap::new(),
            },
        )?;
        Ok(id)
    }

    fn load_member(&mut self, req: &MemberLoad<'_>) -> AdapterResult<u32> {
        self.call(format!(
            "load_member {} {} -> {}",
            req.member,
            req.object_name,
            req.prog_pin.display()
        ))?;
        if !self.pins.contains_key(req.chain_pin) {
            return Err(AdapterError::io(
                req.chain_pin,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        let maps = self
            .object_maps
            .get(req.object_name)
            .cloned()
            .unwrap_or_default();
        self.make_dir(req.map_dir)?;
        for (name, value_size) in maps {
            let id = self.id();
            self.pin(
                &req.map_dir.join(name),
                FakePin::Map {
                    id,
                    value_size,
                    entries: BTreeMap::new(),
                },
            )?;
        }
        let id = self.id();
        self.pin(
            req.prog_pin,
            FakePin::Prog {
                id,
                name: req.program.to_owned(),
                run_cnt: 0,
            },
        )?;
        Ok(id)
    }

    fn create_conn_map(&mut self, map: crate::plan::ConnMap, pin: &Path) -> AdapterResult<()> {
        self.call(format!("create_conn_map {map:?} {}", pin.display()))?;
        let id = self.id();
        self.pin(
            pin,
            FakePin::Map {
                id,
                value_size: 8,
                entries: BTreeMap::new(),
            },
        )
    }

    fn load_dispatcher(
        &mut self,
        dispatcher: &Dispatcher,
        maps: &[(&'static str, PathBuf)],
        pin: &Path,
    ) -> AdapterResult<u32> {
        self.call(format!(
            "load_dispatcher {} -> {}",
            dispatcher.hook.name(),
            pin.display()
        ))?;
        for name in dispatcher.maps() {
            let Some((_, map_pin)) = maps.iter().find(|(n, _)| *n == name) else {
                return Err(AdapterError::Object {
                    object: "accord_disp".into(),
                    message: format!("no pin given for the dispatcher's map {name}"),
                });
            };
            if !self.pins.contains_key(map_pin) {
                return Err(AdapterError::io(
                    map_pin,
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                ));
            }
        }
        let id = self.id();
        self.pin(
            pin,
            FakePin::Prog {
                id,
                name: "accord_disp".into(),
                run_cnt: 0,
            },
        )?;
        Ok(id)
    }

    fn set_slot(&mut self, chain_pin: &Path, slot: u32, prog_pin: &Path) -> AdapterResult<()> {
        self.call(format!(
            "set_slot {} {slot} {}",
            chain_pin.display(),
            prog_pin.display()
        ))?;
        let prog = self.prog_id(prog_pin)?;
        let (_, entries) = self.map_mut(chain_pin)?;
        entries.insert(slot.to_ne_bytes().to_vec(), prog.to_ne_bytes().to_vec());
        Ok(())
    }

    fn write_config(&mut self, map_pin: &Path, value: &[u8]) -> AdapterResult<()> {
        self.call(format!(
            "write_config {} {} bytes",
            map_pin.display(),
            value.len()
        ))?;
        let (size, entries) = self.map_mut(map_pin)?;
        if *size != value.len() {
            return Err(AdapterError::ConfigLayout {
                map: map_pin.to_owned(),
                expected: value.len(),
                actual: *size,
            });
        }
        entries.insert(0u32.to_ne_bytes().to_vec(), value.to_vec());
        Ok(())
    }

    fn replace_set(&mut self, map_pin: &Path, keys: &[Vec<u8>]) -> AdapterResult<()> {
        self.call(format!(
            "replace_set {} {} keys",
            map_pin.display(),
            keys.len()
        ))?;
        let (_, entries) = self.map_mut(map_pin)?;
        entries.clear();
        for k in keys {
            entries.insert(k.clone(), vec![1]);
        }
        Ok(())
    }

    fn create_link(
        &mut self,
        cgroup: &Path,
        hook: Hook,
        prog_pin: &Path,
        link_pin: &Path,
    ) -> AdapterResult<u32> {
        self.call(format!(
            "create_link {} {} {}",
            hook.name(),
            cgroup.display(),
            prog_pin.display()
        ))?;
        let prog_id = self.prog_id(prog_pin)?;
        let id = self.id();
        self.pin(
            link_pin,
            FakePin::Link {
                id,
                prog_id,
                cgroup: cgroup.to_owned(),
            },
        )?;
        Ok(id)
    }

    fn update_link(
        &mut self,
        link_pin: &Path,
        new_prog_pin: &Path,
        old: &ExpectedProg,
    ) -> AdapterResult<()> {
        self.call(format!(
            "update_link {} {}",
            link_pin.display(),
            new_prog_pin.display()
        ))?;
        let new = self.prog_id(new_prog_pin)?;
        let old = match old {
            ExpectedProg::Pin(pin) => self.prog_id(pin)?,
            ExpectedProg::Id(id) => *id,
        };
        match self.pins.get_mut(link_pin) {
            Some(FakePin::Link { prog_id, .. }) if *prog_id == old => {
                *prog_id = new;
                Ok(())
            }
            Some(FakePin::Link { .. }) => Err(AdapterError::io(
                link_pin,
                std::io::Error::from_raw_os_error(libc::EPERM),
            )),
            _ => Err(AdapterError::io(
                link_pin,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )),
        }
    }

    fn link_prog_id(&self, link_pin: &Path) -> AdapterResult<Option<u32>> {
        Ok(match self.pins.get(link_pin) {
            Some(FakePin::Link { prog_id, .. }) => Some(*prog_id),
            _ => None,
        })
    }

    fn prog_stats(&self, prog_pin: &Path) -> AdapterResult<ProgStats> {
        match self.pins.get(prog_pin) {
            Some(FakePin::Prog { id, run_cnt, .. }) => Ok(ProgStats {
                id: *id,
                run_cnt: *run_cnt,
                run_time_ns: run_cnt * 10,
            }),
            _ => Err(AdapterError::io(
                prog_pin,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )),
        }
    }

    fn register_struct_ops(
        &mut self,
        name: &str,
        _object: &[u8],
        pin_dir: &Path,
    ) -> AdapterResult<()> {
        self.call(format!(
            "register_struct_ops {name} -> {}",
            pin_dir.display()
        ))?;
        self.make_dir(pin_dir)?;
        let id = self.id();
        self.pin(
            &pin_dir.join(name),
            FakePin::Link {
                id,
                prog_id: 0,
                cgroup: PathBuf::new(),
            },
        )
    }

    fn member_counters(&self, stats_pin: &Path) -> AdapterResult<Option<MemberCounters>> {
        // The fake counts runs on the program next to the stats map.
        let prog = stats_pin.with_file_name("prog");
        Ok(match (self.pins.get(stats_pin), self.pins.get(&prog)) {
            (Some(FakePin::Map { .. }), Some(FakePin::Prog { run_cnt, .. })) => {
                Some(MemberCounters {
                    events: *run_cnt,
                    writes: 0,
                    errors: 0,
                    run_ns: 0,
                })
            }
            _ => None,
        })
    }

    fn enable_stats(&mut self) -> AdapterResult<StatsSession> {
        self.call("enable_stats".into())?;
        Ok(StatsSession::new(None))
    }
}
