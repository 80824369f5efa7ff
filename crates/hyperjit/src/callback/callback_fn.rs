//! C functions as the seed's multiplexed callbacks: `intptr_t f(void *args,
//! void *user_data)`, what `hj_register_callback` registers.
//!
//! A constant-name `PerformCustomCallback` calls the function itself, with
//! `user_data` as a constant: no trampoline between them, so the call costs
//! what a native one does (a trampoline is a second call, twice the cost).
//!
//! A C function cannot return a `Trap`: it asks for one with
//! [`request_trap`] before it returns. The request is its thread's; a
//! process-wide count of requests lets the call site see, with one load
//! after the call, whether there might be one. Only then does it call into
//! the engine ([`honor_request`]), which stops the guest if the request is
//! this thread's. Run-time names and counting (`--stats`) go through a
//! trampoline as closures do, which looks at the request itself.

use super::raise::raise;
use super::{HostFunction, MultiplexedFunction, Shared};
use crate::{runtime, Trap};
use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A C function registered for `PerformCustomCallback(name, args)`
/// ([`Engine::register_callback_fn`](crate::Engine::register_callback_fn)):
/// it receives the guest's `args` and the `user_data` given with it, and
/// its result is `PerformCustomCallback`'s.
pub type CallbackFn = unsafe extern "C" fn(args: *mut c_void, user_data: *mut c_void) -> isize;

/// How many threads hold a request not yet honored. Call sites load it
/// after every call: a constant address, as JIT'd code needs.
static REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// A thread's request: the trap's message. Counted in [`REQUESTS`] while
/// it holds one, also if the thread ends first.
struct Request(Option<String>);

impl Drop for Request {
    fn drop(&mut self) {
        if self.0.is_some() {
            REQUESTS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

thread_local! {
    static REQUEST: RefCell<Request> = const { RefCell::new(Request(None)) };
}

/// Asks that the guest stop with a trap carrying `message` when the
/// [`CallbackFn`] running on this thread returns: the run (or the host's
/// call of guest code) then fails with [`Error::Trap`] naming the callback.
/// For C callbacks, which cannot return a `Trap`; closures return
/// `Err(Trap)` instead. A second request before the return replaces the
/// first.
///
/// Returns false, and does nothing, if nothing can stop the guest on this
/// thread: no guest code runs here, or the host called it directly by its
/// address (a raw pointer from a lookup, [`TypedFn::as_raw`]) rather than
/// through [`TypedFn::call`] or a run. The callback must then fail some
/// other way (its result). Called from host code the guest calls that is
/// not a `CallbackFn`, the request waits for the next `CallbackFn` to
/// return on this thread, or is dropped when the run ends.
///
/// [`Error::Trap`]: crate::Error::Trap
/// [`TypedFn::as_raw`]: crate::TypedFn::as_raw
/// [`TypedFn::call`]: crate::TypedFn::call
pub fn request_trap(message: impl Into<String>) -> bool {
    if !runtime::can_stop_guest() {
        return false;
    }
    let message = message.into();
    REQUEST.with(|request| {
        let mut request = request.borrow_mut();
        if request.0.replace(message).is_none() {
            REQUESTS.fetch_add(1, Ordering::Relaxed);
        }
    });
    true
}

/// Takes this thread's request, if it holds one. One load when no thread
/// does. (This thread's own count is always visible to it: program order.)
#[inline(always)]
fn take_request() -> Option<String> {
    if REQUESTS.load(Ordering::Relaxed) == 0 {
        return None;
    }
    take_request_slow()
}

#[cold]
fn take_request_slow() -> Option<String> {
    let message = REQUEST.with(|request| request.borrow_mut().0.take())?;
    REQUESTS.fetch_sub(1, Ordering::Relaxed);
    Some(message)
}

/// Drops this thread's request, if it holds one: a run that ended leaves
/// none behind.
pub(crate) fn drop_trap_request() {
    take_request();
}

/// What the call sites of a [`CallbackFn`] need: the function, its user
/// data, and where to look for requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DirectCall {
    pub(crate) function: usize,
    pub(crate) user_data: usize,
}

/// The address of the count of requests, which call sites load.
pub(crate) fn requests_address() -> usize {
    REQUESTS.as_ptr() as usize
}

/// The address of [`honor_request`], which call sites call when the count
/// is not zero, with the callback's environment.
pub(crate) fn honor_request_address() -> usize {
    honor_request as *const () as usize
}

/// Calls a C function's callback as its constant-name call sites do: the
/// function, then the engine only if some thread requested a trap.
///
/// # Safety
/// `direct` and `env` are one callback's, registered with the engine whose
/// guest code is calling, directly or through `PerformCustomCallback`.
#[inline(always)]
pub(crate) unsafe fn call_direct(direct: DirectCall, env: usize, args: *mut c_void) -> isize {
    // SAFETY: `direct.function` is a `CallbackFn`, per this function's
    // contract.
    let function: CallbackFn = unsafe { std::mem::transmute(direct.function) };
    // SAFETY: registered for the guest's `args` and this `user_data`.
    let result = unsafe { function(args, direct.user_data as *mut c_void) };
    if REQUESTS.load(Ordering::Relaxed) != 0 {
        // SAFETY: `env` is the callback's environment, which starts with
        // its `Shared`.
        unsafe { honor_request(env as *const Shared) };
    }
    result
}

/// Stops the guest if this thread requested a trap; else returns (the
/// request was another thread's).
///
/// # Safety
/// `shared` is the environment of the callback whose call site calls this,
/// directly from guest code.
unsafe extern "C-unwind" fn honor_request(shared: *const Shared) {
    if let Some(message) = take_request_slow() {
        // SAFETY: per this function's contract: the environment lives as
        // long as the engine whose guest code is calling.
        raise(unsafe { &*shared }, Trap::new(message));
    }
}

/// The host's `user_data`, handed back to its function on whichever thread
/// the guest calls from.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);

// SAFETY: the pointer is only passed back to the host's own function, whose
// registration vouches that it may be called on any thread the guest runs
// on; the engine never dereferences it.
unsafe impl Send for UserData {}
// SAFETY: as for Send.
unsafe impl Sync for UserData {}

impl UserData {
    // A method, so that closures capture the whole (Send) wrapper.
    fn get(self) -> *mut c_void {
        self.0
    }
}

/// `function` as a multiplexed callback, for the calls that go through a
/// trampoline, and its direct call for constant-name call sites.
///
/// # Safety
/// `function` is safe to call with the guest's `args` and `user_data` on
/// any thread the guest runs on, while the engine lives, and never unwinds.
pub(crate) unsafe fn into_host_function(
    function: CallbackFn,
    user_data: *mut c_void,
) -> (HostFunction, DirectCall) {
    let direct = DirectCall {
        function: function as usize,
        user_data: user_data as usize,
    };
    let user_data = UserData(user_data);
    let host_function = MultiplexedFunction::into_host_function(move |_caller, args| {
        // SAFETY: per this function's contract.
        let result = unsafe { function(args, user_data.get()) };
        match take_request() {
            Some(message) => Err(Trap::new(message)),
            None => Ok(result),
        }
    });
    (host_function, direct)
}
