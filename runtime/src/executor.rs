//! The one executor: runs a plan's steps through the BPF adapter and the
//! state store, in order. When a step before the commit point fails, it
//! runs the undo of every step already taken, in reverse, so the live
//! generation stays untouched and nothing new stays pinned. Failures after
//! the commit point (removing an old generation) become warnings: the new
//! state is live and `accord gc` can finish the cleanup.

use thiserror::Error;

use crate::adapter::{AdapterError, BpfAdapter, MemberLoad};
use crate::plan::{Action, Plan};
use crate::state::{StateError, StateStore};

/// Why one action failed.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// A plan that failed, with what rolling back did.
#[derive(Debug, Error)]
#[error(
    "step {step} ({action}) failed: {source}{}",
    rollback_note(undo_failures)
)]
pub struct ExecError {
    /// 1-based, as `accord plan` numbers them.
    pub step: usize,
    pub action: String,
    #[source]
    pub source: StepError,
    /// Undo actions that failed themselves (empty: fully rolled back).
    pub undo_failures: Vec<String>,
}

fn rollback_note(failures: &[String]) -> String {
    if failures.is_empty() {
        "; rolled back, nothing changed".to_owned()
    } else {
        format!("; rollback incomplete: {}", failures.join("; "))
    }
}

/// What happened, for the caller to print.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Executed {
    pub steps: usize,
    /// Failures after the commit point.
    pub warnings: Vec<String>,
    /// How long each step took, in plan order (for benchmarks and `-v`).
    pub timings: Vec<std::time::Duration>,
    /// How the kernel made the apply run (its fallbacks), for the user.
    pub notes: Vec<String>,
}

/// Runs one action.
pub fn run_action(
    action: &Action,
    adapter: &mut dyn BpfAdapter,
    store: &mut dyn StateStore,
) -> Result<(), StepError> {
    match action {
        Action::MakeDir { path } => adapter.make_dir(path)?,
        Action::RemoveTree { path } => adapter.remove_tree(path)?,
        Action::Unpin { path } => adapter.unpin(path)?,
        Action::RegisterStructOps {
            name,
            object,
            pin_dir,
        } => adapter.register_struct_ops(name, object, pin_dir)?,
        Action::CreateChainMap { pin } => {
            adapter.create_chain_map(pin)?;
        }
        Action::LoadMember {
            slot: _,
            feature,
            program,
            hook,
            object,
            globals,
            chain_pin,
            prog_pin,
            map_dir,
        } => {
            let member = if feature == program {
                feature.clone()
            } else {
                format!("{feature}/{program}")
            };
            adapter.load_member(&MemberLoad {
                member,
                object_name: &object.name,
                object: &object.bytes,
                program,
                hook: *hook,
                globals,
                chain_pin,
                prog_pin,
                map_dir,
            })?;
        }
        Action::WriteConfig { map_pin, value, .. } => adapter.write_config(map_pin, value)?,
        Action::ReplaceSet { map_pin, keys, .. } => adapter.replace_set(map_pin, keys)?,
        Action::SetSlot {
            chain_pin,
            slot,
            prog_pin,
        } => adapter.set_slot(chain_pin, *slot, prog_pin)?,
        Action::LoadDispatcher {
            dispatcher,
            maps,
            pin,
        } => {
            adapter.load_dispatcher(dispatcher, maps, pin)?;
        }
        Action::CreateConnMap { map, pin } => adapter.create_conn_map(*map, pin)?,
        Action::CreateLink {
            cgroup,
            hook,
            prog_pin,
            link_pin,
        } => {
            adapter.create_link(cgroup, *hook, prog_pin, link_pin)?;
        }
        Action::UpdateLink {
            link_pin,
            new_prog_pin,
            old_prog,
        } => adapter.update_link(link_pin, new_prog_pin, old_prog)?,
        Action::WriteState { record } => store.save(record)?,
        Action::RemoveState { key } => store.remove(key)?,
    }
    Ok(())
}

/// Runs a plan; on failure before the commit point, undoes in reverse.
pub fn execute(
    plan: &Plan,
    adapter: &mut dyn BpfAdapter,
    store: &mut dyn StateStore,
) -> Result<Executed, Box<ExecError>> {
    let mut done = Executed::default();
    for (i, step) in plan.steps.iter().enumerate() {
        let started = std::time::Instant::now();
        let result = run_action(&step.action, adapter, store);
        done.timings.push(started.elapsed());
        match result {
            Ok(()) => done.steps += 1,
            Err(e) if step.after_commit => done.warnings.push(format!("{}: {e}", step.action)),
            Err(source) => {
                let mut undo_failures = Vec::new();
                for prior in plan.steps[..i].iter().rev() {
                    if let Some(undo) = &prior.undo {
                        if let Err(e) = run_action(undo, adapter, store) {
                            undo_failures.push(format!("{undo}: {e}"));
                        }
                    }
                }
                return Err(Box::new(ExecError {
                    step: i + 1,
                    action: step.action.to_string(),
                    source,
                    undo_failures,
                }));
            }
        }
    }
    Ok(done)
}
