//! Dynamic-signature callbacks: for hosts whose callback types are data
//! (scripting bridges, plugins). The thunk packs the guest's arguments into
//! 64-bit slots; the handler sees them as [`Value`]s.

use super::raise::finish;
use super::signature::{Signature, Value};
use super::{Caller, Env, HostFunction, TrampolinePair};
use crate::Trap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// The boxed handler of a dynamic callback.
pub(crate) type DynamicHandler =
    Box<dyn Fn(&Caller<'_>, &[Value]) -> Result<Value, Trap> + Send + Sync>;

/// A handler with the signature its arguments are decoded by.
pub(crate) struct DynamicFunction {
    signature: Signature,
    handler: DynamicHandler,
}

/// Arguments are decoded into a stack buffer up to this many.
const INLINE_ARGS: usize = 8;

impl DynamicFunction {
    pub(crate) fn into_host_function(
        signature: Signature,
        handler: DynamicHandler,
    ) -> HostFunction {
        let func = DynamicFunction {
            signature: signature.clone(),
            handler,
        };
        HostFunction::new(
            signature,
            func,
            TrampolinePair {
                plain: trampoline::<false> as *const () as usize,
                counting: trampoline::<true> as *const () as usize,
            },
        )
    }

    fn call(&self, caller: &Caller<'_>, slots: &[u64]) -> Result<u64, Trap> {
        let mut inline = [Value::Void; INLINE_ARGS];
        let mut spilled = Vec::new();
        let args: &[Value] = if slots.len() <= INLINE_ARGS {
            for ((value, &slot), ty) in inline.iter_mut().zip(slots).zip(self.signature.params()) {
                *value = Value::from_slot(ty, slot);
            }
            &inline[..slots.len()]
        } else {
            spilled.extend(
                slots
                    .iter()
                    .zip(self.signature.params())
                    .map(|(&slot, ty)| Value::from_slot(ty, slot)),
            );
            &spilled
        };
        let result = (self.handler)(caller, args)?;
        if result.ty() != self.signature.result() {
            return Err(Trap::new(format!(
                "returned a {:?} value, but its signature {} returns {:?}",
                result.ty(),
                self.signature,
                self.signature.result()
            )));
        }
        Ok(result.to_slot())
    }
}

/// # Safety
/// `env` is the registered environment; `args` points at one slot per
/// parameter of its signature and `ret` at one writable slot.
unsafe extern "C-unwind" fn trampoline<const COUNT: bool>(
    env: *const Env<DynamicFunction>,
    args: *const u64,
    ret: *mut u64,
) {
    // SAFETY: per this function's contract.
    let (env, slots) = unsafe {
        let env = &*env;
        let count = env.func.signature.params.len();
        (env, std::slice::from_raw_parts(args, count))
    };
    let started = COUNT.then(Instant::now);
    let result = catch_unwind(AssertUnwindSafe(|| {
        env.func.call(&Caller::new(&env.shared), slots)
    }));
    let outcome = result.unwrap_or_else(|payload| Err(Trap::from_panic(payload)));
    let value = finish(&env.shared, started, outcome);
    // SAFETY: per this function's contract.
    unsafe { ret.write(value) }
}
