//! The IR thunks that connect guest call sites to trampolines.
//!
//! Each thunk is `linkonce_odr` and `alwaysinline`: linked into every batch
//! that uses the callback and inlined into the call sites, so a guest call
//! becomes one call of the trampoline, with the environment's address as a
//! constant first argument. The trampoline is called through a near symbol
//! (an absolute symbol within a direct call's reach of all JIT'd code, whose
//! calls the JIT makes direct), or, out of reach, through its address as a
//! constant: the JIT linker would route a call to a far symbol through a
//! stub, one more jump per call.

use crate::callback::{AbiType, Kind, Named, Signature, Ty};
use std::fmt::Write;

/// Quotes a symbol name for LLVM IR (`@"..."`, escaping as the IR lexer
/// expects).
pub(super) fn ir_name(name: &str) -> String {
    let mut quoted = String::from("@\"");
    for byte in name.bytes() {
        if byte.is_ascii_graphic() && byte != b'"' && byte != b'\\' || byte == b' ' {
            quoted.push(byte as char);
        } else {
            let _ = write!(quoted, "\\{byte:02X}");
        }
    }
    quoted.push('"');
    quoted
}

/// The thunk a constant-name `PerformCustomCallback("NAME", ..)` is bound to.
pub(crate) fn multiplexed_thunk_symbol(name: &str) -> String {
    format!("__hyperjit.pcc.{name}")
}

fn params_ir(params: &[AbiType]) -> String {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{} %a{i}", p.ir()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn call_and_return(result: AbiType, call: &str) -> String {
    if result.ty == Ty::Void {
        format!("  call void {call}\n  ret void\n")
    } else {
        format!(
            "  %r = call {} {call}\n  ret {} %r\n",
            result.result_ir(),
            result.ty.ir()
        )
    }
}

/// The host calls a guest function of `signature` with values
/// ([`Engine::call`](crate::Engine::call)) through this thunk:
/// `void NAME(ptr fn, ptr args, ptr ret)`, `args` one 64-bit slot per
/// parameter and `ret` one for the result, encoded as
/// [`Value::to_slot`](crate::callback::Value) does. Returns its name and
/// IR.
pub(crate) fn invoke_thunk(signature: &Signature) -> (String, String) {
    let mut code = String::from("invoke");
    for ty in signature.params().chain([signature.result()]) {
        code.push('.');
        code.push_str(ty.ir());
    }
    let name = format!("__hyperjit.{code}");
    let mut ir = format!(
        "define void {}(ptr %fn, ptr %args, ptr %ret) {{\n",
        ir_name(&name)
    );
    let arguments: Vec<String> = signature
        .params
        .iter()
        .enumerate()
        .map(|(index, param)| {
            let value = load_argument(&mut ir, index, param.ty);
            format!("{} {value}", param.ir())
        })
        .collect();
    let call = format!("%fn({})", arguments.join(", "));
    let stored = call_and_encode_result(&mut ir, &call, signature.result);
    if let Some(stored) = stored {
        let _ = writeln!(ir, "  store i64 {stored}, ptr %ret");
    }
    ir.push_str("  ret void\n}\n");
    (name, ir)
}

/// Appends to `ir` the load of argument `index` from its slot in `%args`
/// and its decoding as `ty`; returns the IR value.
fn load_argument(ir: &mut String, index: usize, ty: Ty) -> String {
    let _ = writeln!(
        ir,
        "  %p{index} = getelementptr i64, ptr %args, i64 {index}\n  %s{index} = load i64, ptr %p{index}"
    );
    let slot = format!("%s{index}");
    match ty {
        Ty::I64 => return slot,
        Ty::Ptr => {
            let _ = writeln!(ir, "  %a{index} = inttoptr i64 {slot} to ptr");
        }
        Ty::F64 => {
            let _ = writeln!(ir, "  %a{index} = bitcast i64 {slot} to double");
        }
        Ty::F32 => {
            let _ = writeln!(
                ir,
                "  %b{index} = trunc i64 {slot} to i32\n  %a{index} = bitcast i32 %b{index} to float"
            );
        }
        ty => {
            let _ = writeln!(ir, "  %a{index} = trunc i64 {slot} to {}", ty.ir());
        }
    }
    format!("%a{index}")
}

/// Appends to `ir` the call `call` and the result's encoding as a 64-bit
/// slot; returns the IR value to store, `None` for a void function.
fn call_and_encode_result(ir: &mut String, call: &str, result: AbiType) -> Option<String> {
    if result.ty == Ty::Void {
        let _ = writeln!(ir, "  call void {call}");
        return None;
    }
    let _ = writeln!(ir, "  %r = call {} {call}", result.result_ir());
    let stored = match result.ty {
        Ty::I64 => return Some("%r".to_string()),
        Ty::Ptr => "  %w = ptrtoint ptr %r to i64\n".to_string(),
        Ty::F64 => "  %w = bitcast double %r to i64\n".to_string(),
        Ty::F32 => "  %v = bitcast float %r to i32\n  %w = zext i32 %v to i64\n".to_string(),
        Ty::Bool => "  %w = zext i1 %r to i64\n".to_string(),
        ty => format!("  %w = sext {} %r to i64\n", ty.ir()),
    };
    ir.push_str(&stored);
    Some("%w".to_string())
}

/// What the names of [`near_symbol`]s start with.
pub(super) const NEAR_PREFIX: &str = "__hyperjit.near.";

/// The symbol that names host code at `address` for direct calls.
pub(crate) fn near_symbol(address: usize) -> String {
    format!("{NEAR_PREFIX}{address:x}")
}

/// What a thunk calls.
pub(crate) enum Callee {
    /// A near symbol ([`near_symbol`]): a direct call.
    Near(usize),
    /// A fixed address out of a direct call's reach.
    Address(usize),
}

impl Callee {
    /// The callee operand of the call.
    fn operand(&self) -> String {
        match *self {
            Callee::Near(address) => ir_name(&near_symbol(address)),
            Callee::Address(address) => format!("inttoptr (i64 {address} to ptr)"),
        }
    }

    /// The declaration a near callee needs, of type `result (params)`.
    fn declaration(&self, result: AbiType, params: &str) -> String {
        match *self {
            Callee::Near(address) => format!(
                "declare {} {}({params})\n",
                result.result_ir(),
                ir_name(&near_symbol(address)),
            ),
            Callee::Address(_) => String::new(),
        }
    }
}

/// The thunk through which the guest calls host function `name`, which
/// calls `callee` (its trampoline): IR defining `name`, or `None` for a raw
/// symbol, which call sites call directly.
pub(crate) fn named(name: &str, named: &Named, callee: &Callee) -> Option<String> {
    let signature = named.signature.as_ref()?;
    match named.kind {
        Kind::Typed => Some(typed(name, signature, named.env, callee)),
        Kind::Dynamic => Some(dynamic(name, signature, named.env, callee)),
        Kind::Symbol => None,
    }
}

/// `NAME(args)` → `trampoline(env, args)`.
fn typed(name: &str, signature: &Signature, env: usize, callee: &Callee) -> String {
    let param_types: String = signature
        .params
        .iter()
        .map(|p| format!(", {}", p.ir()))
        .collect();
    let declaration = callee.declaration(signature.result, &format!("ptr{param_types}"));
    let trampoline = callee.operand();
    let params = params_ir(&signature.params);
    let args = if params.is_empty() {
        format!("ptr inttoptr (i64 {env} to ptr)")
    } else {
        format!("ptr inttoptr (i64 {env} to ptr), {params}")
    };
    format!(
        "{declaration}define linkonce_odr {ret} {name}({params}) alwaysinline nounwind {{\n{body}}}\n",
        ret = signature.result.result_ir(),
        name = ir_name(name),
        body = call_and_return(signature.result, &format!("{trampoline}({args})")),
    )
}

/// `NAME(args)` → store the arguments in 64-bit slots, call
/// `trampoline(env, slots, &ret)`, and return the decoded result.
fn dynamic(name: &str, signature: &Signature, env: usize, callee: &Callee) -> String {
    let declaration = callee.declaration(AbiType::of(Ty::Void), "ptr, ptr, ptr");
    let trampoline = callee.operand();
    let count = signature.params.len();
    let mut body = format!(
        "  %slots = alloca [{} x i64], align 8\n  %ret = alloca i64, align 8\n",
        count.max(1)
    );
    for (i, param) in signature.params.iter().enumerate() {
        let encoded = match param.ty {
            Ty::Bool => format!("  %e{i} = zext i1 %a{i} to i64\n"),
            Ty::I8 | Ty::I16 | Ty::I32 => {
                format!("  %e{i} = sext {} %a{i} to i64\n", param.ty.ir())
            }
            Ty::I64 => format!("  %e{i} = add i64 %a{i}, 0\n"),
            Ty::F32 => {
                format!("  %b{i} = bitcast float %a{i} to i32\n  %e{i} = zext i32 %b{i} to i64\n")
            }
            Ty::F64 => format!("  %e{i} = bitcast double %a{i} to i64\n"),
            Ty::Ptr => format!("  %e{i} = ptrtoint ptr %a{i} to i64\n"),
            Ty::Void => continue,
        };
        body.push_str(&encoded);
        let _ = writeln!(
            body,
            "  %s{i} = getelementptr inbounds [{} x i64], ptr %slots, i64 0, i64 {i}\n  store i64 %e{i}, ptr %s{i}",
            count.max(1)
        );
    }
    let _ = writeln!(
        body,
        "  call void {trampoline}(ptr inttoptr (i64 {env} to ptr), ptr %slots, ptr %ret)"
    );
    let result = signature.result;
    let decode = match result.ty {
        Ty::Void => "  ret void\n".to_string(),
        Ty::I64 => "  %v = load i64, ptr %ret\n  ret i64 %v\n".to_string(),
        Ty::Bool | Ty::I8 | Ty::I16 | Ty::I32 => format!(
            "  %v = load i64, ptr %ret\n  %t = trunc i64 %v to {ty}\n  ret {ty} %t\n",
            ty = result.ty.ir()
        ),
        Ty::F32 => "  %v = load i64, ptr %ret\n  %t = trunc i64 %v to i32\n  %f = bitcast i32 %t to float\n  ret float %f\n"
            .to_string(),
        Ty::F64 => "  %v = load i64, ptr %ret\n  %f = bitcast i64 %v to double\n  ret double %f\n".to_string(),
        Ty::Ptr => "  %v = load i64, ptr %ret\n  %p = inttoptr i64 %v to ptr\n  ret ptr %p\n".to_string(),
    };
    body.push_str(&decode);
    format!(
        "{declaration}define linkonce_odr {ret} {name}({params}) alwaysinline nounwind {{\n{body}}}\n",
        ret = result.result_ir(),
        name = ir_name(name),
        params = params_ir(&signature.params),
    )
}

/// `PerformCustomCallback("NAME", args)` bound at link time →
/// `trampoline(env, args)`; the name argument is ignored. For a C
/// function's callback, see [`multiplexed_direct`].
pub(crate) fn multiplexed(name: &str, env: usize, callee: &Callee) -> String {
    let thunk = ir_name(&multiplexed_thunk_symbol(name));
    let declaration = callee.declaration(AbiType::of(Ty::I64), "ptr, ptr");
    let trampoline = callee.operand();
    format!(
        "{declaration}define linkonce_odr i64 {thunk}(ptr %name, ptr %args) alwaysinline nounwind {{\n\
         \x20 %r = call i64 {trampoline}(ptr inttoptr (i64 {env} to ptr), ptr %args)\n\
         \x20 ret i64 %r\n}}\n"
    )
}

/// Where a C function's constant-name call sites look for trap requests
/// after the call (the callback layer's `callback_fn.rs`).
pub(crate) struct TrapRequests {
    /// The count of requests, loaded after every call.
    pub(crate) count: usize,
    /// Called with the environment when the count is not zero.
    pub(crate) honor: Callee,
}

/// `PerformCustomCallback("NAME", args)` bound at link time to a C
/// function → `function(args, user_data)`, then, only if some thread holds
/// a trap request, `honor(env)` (which stops the guest if it is this
/// thread's).
pub(crate) fn multiplexed_direct(
    name: &str,
    env: usize,
    function: &Callee,
    user_data: usize,
    requests: &TrapRequests,
) -> String {
    let thunk = ir_name(&multiplexed_thunk_symbol(name));
    let declarations = function.declaration(AbiType::of(Ty::I64), "ptr, ptr")
        + &requests.honor.declaration(AbiType::of(Ty::Void), "ptr");
    format!(
        "{declarations}define linkonce_odr i64 {thunk}(ptr %name, ptr %args) alwaysinline nounwind {{\n\
         \x20 %r = call i64 {function}(ptr %args, ptr inttoptr (i64 {user_data} to ptr))\n\
         \x20 %n = load atomic i64, ptr inttoptr (i64 {count} to ptr) monotonic, align 8\n\
         \x20 %requested = icmp ne i64 %n, 0\n\
         \x20 br i1 %requested, label %honor, label %done\n\
         honor:\n\
         \x20 call void {honor}(ptr inttoptr (i64 {env} to ptr)) cold\n\
         \x20 br label %done\n\
         done:\n\
         \x20 ret i64 %r\n}}\n",
        function = function.operand(),
        count = requests.count,
        honor = requests.honor.operand(),
    )
}
