//! File and cgroup watching with inotify (through `notify`). Directories are
//! watched, not files, so editors that replace a file by renaming over it
//! are seen too; events are sorted into "a policy input changed" and "a
//! cgroup appeared or vanished".

use std::collections::BTreeSet;
use std::path::PathBuf;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tracing::{debug, warn};

use super::engine::WatchSet;

/// What an event means for the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The policy or a file it references changed: reload.
    Inputs,
    /// An entry appeared or vanished beside a target cgroup: reconcile.
    Cgroups,
}

/// Watches what a [`WatchSet`] names.
pub struct Watch {
    watcher: notify::RecommendedWatcher,
    events: UnboundedReceiver<notify::Result<notify::Event>>,
    set: WatchSet,
    watched: BTreeSet<PathBuf>,
}

impl Watch {
    pub fn new() -> notify::Result<Watch> {
        let (tx, events) = unbounded_channel();
        let watcher = notify::recommended_watcher(move |ev| {
            let _ = tx.send(ev);
        })?;
        Ok(Watch {
            watcher,
            events,
            set: WatchSet::default(),
            watched: BTreeSet::new(),
        })
    }

    /// Watches the directories of `set`, dropping the ones no longer needed.
    pub fn update(&mut self, set: WatchSet) {
        let mut dirs: BTreeSet<PathBuf> = set
            .files
            .iter()
            .filter_map(|f| f.parent().map(PathBuf::from))
            .collect();
        dirs.extend(set.cgroup_dirs.iter().cloned());
        for gone in self.watched.difference(&dirs) {
            let _ = self.watcher.unwatch(gone);
        }
        let mut now = BTreeSet::new();
        for dir in &dirs {
            if self.watched.contains(dir) {
                now.insert(dir.clone());
                continue;
            }
            match self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    now.insert(dir.clone());
                }
                Err(e) => warn!("cannot watch {}: {e}", dir.display()),
            }
        }
        self.watched = now;
        self.set = set;
    }

    /// The next meaningful change (`None` when the watcher is gone).
    pub async fn next(&mut self) -> Option<Change> {
        loop {
            let ev = match self.events.recv().await? {
                Ok(ev) => ev,
                Err(e) => {
                    warn!("watch error: {e}");
                    continue;
                }
            };
            if let Some(c) = self.classify(&ev) {
                debug!(?ev.kind, paths = ?ev.paths, "change: {c:?}");
                return Some(c);
            }
        }
    }

    fn classify(&self, ev: &notify::Event) -> Option<Change> {
        let content = match ev.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => return None,
            _ => true,
        };
        if content && ev.paths.iter().any(|p| self.set.files.contains(p)) {
            return Some(Change::Inputs);
        }
        let structural = matches!(ev.kind, EventKind::Create(_) | EventKind::Remove(_));
        let beside_cgroup = ev
            .paths
            .iter()
            .any(|p| p.parent().is_some_and(|d| self.set.cgroup_dirs.contains(d)));
        (structural && beside_cgroup).then_some(Change::Cgroups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, ModifyKind, RemoveKind};
    use notify::Event;

    fn watch() -> Watch {
        let mut w = Watch::new().unwrap();
        w.set = WatchSet {
            files: [PathBuf::from("/etc/accord/policy.yaml")].into(),
            cgroup_dirs: [PathBuf::from("/sys/fs/cgroup")].into(),
        };
        w
    }

    fn ev(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn inputs_and_cgroups_are_told_apart() {
        let w = watch();
        let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert_eq!(
            w.classify(&ev(modify, "/etc/accord/policy.yaml")),
            Some(Change::Inputs)
        );
        // A rename over the policy shows up as a create of its path.
        assert_eq!(
            w.classify(&ev(
                EventKind::Create(CreateKind::File),
                "/etc/accord/policy.yaml"
            )),
            Some(Change::Inputs)
        );
        // Other files in a watched directory, and reads, are not changes.
        assert_eq!(w.classify(&ev(modify, "/etc/accord/notes.txt")), None);
        assert_eq!(
            w.classify(&ev(
                EventKind::Access(AccessKind::Open(AccessMode::Read)),
                "/etc/accord/policy.yaml"
            )),
            None
        );
        assert_eq!(
            w.classify(&ev(
                EventKind::Create(CreateKind::Folder),
                "/sys/fs/cgroup/web.slice"
            )),
            Some(Change::Cgroups)
        );
        assert_eq!(
            w.classify(&ev(
                EventKind::Remove(RemoveKind::Folder),
                "/sys/fs/cgroup/web.slice"
            )),
            Some(Change::Cgroups)
        );
        // cgroup.events and friends change all the time: not structural.
        assert_eq!(
            w.classify(&ev(modify, "/sys/fs/cgroup/cgroup.events")),
            None
        );
    }
}
