//! Guards that read a written field (`SO_MARK == 5`, `reply == 0`): the
//! value a member sees is what the members before it in the chain wrote
//! there under their own guards, the last one whose guard holds winning
//! (an `update: or` write ORs into what was there), or the field's initial
//! value when none did (the catalog's `initial:`, else any value).
//!
//! The seen value of field F for reader R at a callback is a variable
//! `seen.R.F` defined by a chain of steps `t0` (the initial value), then
//! per writer k `t_k = g_k ? (t_{k-1} | v_k or v_k) : t_{k-1}`, and
//! `seen = t_n`; the definitions are conjoined to every guard formula that
//! reads the variable, so each query carries them. Without a known order
//! (`writers` unset for R, or a cycle while defining) the value is free.

use super::{EncodeError, Encoder, Event, Formula, Term};
use crate::ir::{Feature, Literal, Update, WritableField, Write};

/// One write of a field that a reader may see, in chain order.
#[derive(Debug, Clone)]
pub struct SeenWriter<'c> {
    /// The writer's member index (its guards read what it sees, in turn).
    pub member: usize,
    pub feature: &'c Feature,
    pub write: &'c Write,
    pub field: &'c WritableField,
    /// The key of the write's value (as the prover encodes it: a range's
    /// chosen value is one variable per write).
    pub value_key: String,
}

impl<'c> Encoder<'c> {
    /// Tells the encoder, per (reader member, field), the writes before
    /// the reader in chain order; from now on guards read seen values.
    pub fn set_writers(&mut self, writers: Vec<((usize, String), Vec<SeenWriter<'c>>)>) {
        self.writers = writers.into_iter().collect();
    }

    /// Encodes guards as member `reader`'s (its written-field reads are
    /// the values it sees), or with free written values (`None`).
    pub fn with_reader<T>(&mut self, reader: Option<usize>, f: impl FnOnce(&mut Self) -> T) -> T {
        let old = std::mem::replace(&mut self.reader, reader);
        let r = f(self);
        self.reader = old;
        r
    }

    /// The term of written field `name` as the current reader sees it at
    /// the current event.
    pub(super) fn written(&mut self, name: &str) -> Result<Term, EncodeError> {
        match self.reader {
            Some(r) if self.writers.contains_key(&(r, name.to_string())) => {
                self.seen(r, name, self.event)
            }
            _ => Ok(self.free_written(name)),
        }
    }

    /// The term of what member `reader` sees in `field` at `event` (a free
    /// value when no order is known), for reading back from a model.
    pub fn seen_term(
        &mut self,
        reader: usize,
        field: &str,
        event: Event,
    ) -> Result<Term, EncodeError> {
        if self.writers.contains_key(&(reader, field.to_string())) {
            self.seen(reader, field, event)
        } else {
            let old = std::mem::replace(&mut self.event, event);
            let t = self.free_written(field);
            self.event = old;
            Ok(t)
        }
    }

    fn width_of(&self, field: &str) -> u32 {
        self.comp
            .catalog
            .writable
            .get(field)
            .map_or(32, |w| super::ty_width(&w.ty))
    }

    fn free_written(&mut self, name: &str) -> Term {
        let width = self.width_of(name);
        let key = (name.to_string(), self.event);
        let id = match self.free_written.get(&key) {
            Some(id) => *id,
            None => {
                let var = match self.event {
                    Event::First => format!("written.{name}"),
                    Event::Later => format!("written.{name}@later"),
                };
                let id = self.symbols.var(var, width, Formula::True);
                self.free_written.insert(key, id);
                id
            }
        };
        Term::Var { id, width }
    }

    fn fresh(&mut self, name: String, width: u32) -> Term {
        let id = self.symbols.var(name, width, Formula::True);
        Term::Var { id, width }
    }

    /// The seen variable of (reader, field, event), defined once; its
    /// definition is added to the guard being encoded.
    fn seen(&mut self, reader: usize, field: &str, event: Event) -> Result<Term, EncodeError> {
        let width = self.width_of(field);
        let key = (reader, field.to_string(), event);
        if let Some((id, def)) = self.seen_vars.get(&key) {
            let (id, def) = (*id, def.clone());
            self.defs.push(def);
            return Ok(Term::Var { id, width });
        }
        if !self.defining.insert(key.clone()) {
            // A cycle of guards reading each other's fields: any value.
            let old = std::mem::replace(&mut self.event, event);
            let t = self.free_written(field);
            self.event = old;
            return Ok(t);
        }
        let at = if event == Event::Later { "@later" } else { "" };
        let result = self.define_seen(reader, field, event, width, at);
        self.defining.remove(&key);
        let (t, def) = result?;
        let Term::Var { id, .. } = t else {
            return Ok(t);
        };
        self.seen_vars.insert(key, (id, def.clone()));
        self.defs.push(def);
        Ok(t)
    }

    fn define_seen(
        &mut self,
        reader: usize,
        field: &str,
        event: Event,
        width: u32,
        at: &str,
    ) -> Result<(Term, Formula), EncodeError> {
        let wf = self.comp.catalog.writable.get(field);
        let mut parts = Vec::new();
        // t0: the initial value.
        let mut current = self.fresh(format!("initial.{reader}.{field}{at}"), width);
        if let Some(init) = wf.and_then(|w| w.initial.clone()) {
            if let Literal::Int(v) = init.value {
                let is = Formula::eq(current.clone(), Term::num(v, width));
                match init.at {
                    None => parts.push(is),
                    Some(ops) => {
                        let op = self.field_at("op", event)?;
                        let applies = Formula::or(
                            ops.iter()
                                .map(|o| Formula::eq(op.clone(), Term::num(*o, op.width()))),
                        );
                        parts.push(Formula::or([Formula::not(applies), is]));
                    }
                }
            }
        }
        let writers = self
            .writers
            .get(&(reader, field.to_string()))
            .cloned()
            .unwrap_or_default();
        for (k, w) in writers.iter().enumerate() {
            let (g, _) = self.with_reader(Some(w.member), |enc| {
                let old = std::mem::replace(&mut enc.event, event);
                let r = enc.guard(w.feature, &w.write.guard);
                enc.event = old;
                r
            })?;
            let v = self.value(w.feature, w.field, &w.write.value, &w.value_key)?;
            let stored = match w.write.update {
                Update::Or => Term::bvor(current.clone(), v),
                Update::Set => v,
            };
            let next = self.fresh(format!("seen.{reader}.{field}{at}#{k}"), width);
            parts.push(Formula::or([
                Formula::not(g.clone()),
                Formula::eq(next.clone(), stored),
            ]));
            parts.push(Formula::or([g, Formula::eq(next.clone(), current)]));
            current = next;
        }
        Ok((current, Formula::and(parts)))
    }
}
