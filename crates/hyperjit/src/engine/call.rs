//! Calling one guest function with values whose types are data
//! ([`Engine::call`], and C's `hj_engine_call`): the counterpart of a
//! dynamic callback. The call goes through a thunk generated once per
//! signature (`glue::invoke_thunk`) and enters the guest as a run does, so
//! a trap and the guest's `exit` come back as errors.

use super::{lock, Core, Engine};
use crate::callback::{Signature, Value};
use crate::compile::Source;
use crate::error::{Error, Result};
use crate::link::glue;
use crate::runtime;
use std::ffi::c_void;

/// What the thunk is called with: the function, its argument slots and a
/// slot for its result.
type Thunk = extern "C" fn(*const c_void, *const u64, *mut u64);

impl Engine {
    /// Calls the program's function (or a callback) `name` with `args`,
    /// whose types must be its parameters' (its IR type, or the callback's
    /// registered signature), and returns its result ([`Value::Void`] for
    /// none). Like [`TypedFn::call`](crate::TypedFn::call), a callback's
    /// trap comes back as [`Error::Trap`] and the guest's `exit(n)` as
    /// [`Error::GuestExit`]; for types known at compile time, `lookup_fn`
    /// is the faster way.
    ///
    /// ```
    /// # use hyperjit::{Engine, Value};
    /// let engine = Engine::new()?;
    /// engine.add_ir("add.ll", "define i64 @add(i64 %a, i32 %b) {\n  %c = sext i32 %b to i64\n  %r = add i64 %a, %c\n  ret i64 %r\n}\n")?;
    /// assert_eq!(engine.call("add", &[Value::I64(40), Value::I32(2)])?, Value::I64(42));
    /// # Ok::<(), hyperjit::Error>(())
    /// ```
    pub fn call(&self, name: &str, args: &[Value]) -> Result<Value> {
        self.core.call(name, args)
    }

    /// The signature [`call`](Self::call) calls `name` with: its IR type
    /// (small integers taken as signed, as C's are), or a callback's
    /// registered signature. An error if it has none a [`Value`] can hold
    /// (a struct passed by value, a variadic function, a raw symbol).
    pub fn signature(&self, name: &str) -> Result<Signature> {
        self.core.signature(name)
    }
}

impl Core {
    /// See [`Engine::call`].
    pub(super) fn call(&self, name: &str, args: &[Value]) -> Result<Value> {
        let function = self.lookup(name)?;
        let signature = self.signature(name)?;
        let found: Vec<_> = args.iter().map(Value::ty).collect();
        if !found.iter().copied().eq(signature.params()) {
            let found = Signature::new(found, signature.result());
            return Err(Error::CallArguments {
                function: name.to_string(),
                expected: signature.to_string(),
                found: found.to_string(),
            });
        }
        let thunk = self.invoke_thunk(&signature)?;
        let slots: Vec<u64> = args.iter().map(|arg| arg.to_slot()).collect();
        struct Invocation {
            thunk: Thunk,
            function: *const c_void,
            parameters: usize,
            slots: *const u64,
            result: u64,
        }
        extern "C" fn invoke(payload: *mut c_void) {
            // SAFETY: `payload` is the Invocation below, alive and used by
            // this thread only while the call runs.
            let invocation = unsafe { &mut *payload.cast::<Invocation>() };
            (invocation.thunk)(
                runtime::guarded(invocation.function, invocation.parameters),
                invocation.slots,
                &mut invocation.result,
            );
        }
        let mut invocation = Invocation {
            thunk,
            function,
            parameters: args.len(),
            slots: slots.as_ptr(),
            result: 0,
        };
        // SAFETY: `invoke` holds only a reference while the guest runs (a
        // trap's longjmp skips no destructor); the payload is the
        // Invocation it expects, whose thunk calls `function` with the
        // parameters its signature says it has.
        unsafe { self.call_guest(invoke, (&raw mut invocation).cast::<c_void>())? };
        Ok(Value::from_slot(signature.result(), invocation.result))
    }

    /// See [`Engine::signature`].
    fn signature(&self, name: &str) -> Result<Signature> {
        let unsupported = |ty: String| Error::CallArguments {
            function: name.to_string(),
            expected: ty,
            found: "a type hyperjit's values cannot hold".to_string(),
        };
        let mut state = self.lock();
        self.link_pending_for(&mut state, name)?;
        if let Some(declared) = state.linker.function_signature(name) {
            return Signature::of_ir(declared).ok_or_else(|| unsupported(declared.to_string()));
        }
        drop(state);
        match self.callbacks.named(name).map(|named| named.signature) {
            Some(Some(signature)) => Ok(signature),
            Some(None) => Err(unsupported("a raw symbol's unknown type".to_string())),
            None => Err(Error::UnknownSymbol {
                name: name.to_string(),
            }),
        }
    }

    /// The thunk for `signature`, linked on first use.
    fn invoke_thunk(&self, signature: &Signature) -> Result<Thunk> {
        if let Some(&address) = lock(&self.invoke_thunks).get(signature) {
            // SAFETY: an invoke thunk linked below, of type `Thunk`.
            return Ok(unsafe { std::mem::transmute::<usize, Thunk>(address) });
        }
        let (name, ir) = glue::invoke_thunk(signature);
        if !self.lock().linker.defines(&name) {
            self.load(Source::in_memory(&name, ir.as_bytes()))?;
        }
        let address = self.lookup(&name)? as usize;
        lock(&self.invoke_thunks).insert(signature.clone(), address);
        // SAFETY: the thunk just linked, `void (ptr, ptr, ptr)`.
        Ok(unsafe { std::mem::transmute::<usize, Thunk>(address) })
    }
}
#[cfg(test)]
mod tests {
    #[test]
    fn signature_links_pending() {
        let engine = crate::Engine::new().unwrap();
        engine
            .add_ir("a.ll", "define i32 @checked(i32 %n) {\n ret i32 %n\n}\n")
            .unwrap();
        assert_eq!(
            engine.signature("checked").unwrap().to_string(),
            "i32 (i32)"
        );
    }
}
