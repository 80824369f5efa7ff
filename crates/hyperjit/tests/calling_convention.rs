//! Guest code that breaks the calling convention does not take the host
//! down: a `naked` function returns with the host's callee-saved registers
//! (rbx, rbp, r12-r15) overwritten and the direction flag set, or calls
//! with the stack misaligned. Natively, libc's call of `main` survives the
//! first and a callee that needs no alignment the second; so does a host
//! running such code, in every mode, however it calls in.
#![cfg(target_arch = "x86_64")]

use hyperjit::{Engine, Value};

/// Registers a caller keeps across a call, set to what no pointer is.
const CLOBBER: &str = "movq $$1, %rbx\\0Amovq $$1, %rbp\\0Amovq $$1, %r12\\0A\
                       movq $$1, %r13\\0Amovq $$1, %r14\\0Amovq $$1, %r15\\0Astd\\0A";

/// `next(x)` is x + 1 and `main` is 7, both leaving the host's registers
/// overwritten; `via_misaligned` calls `forty_one` with rsp misaligned by
/// 8 and returns its result plus one.
fn guest() -> String {
    format!(
        "define i64 @next(i64 %x) naked noinline {{
  call void asm sideeffect \"leaq 1(%rdi), %rax\\0A{CLOBBER}retq\", \"\"()
  unreachable
}}
define i32 @main() naked noinline {{
  call void asm sideeffect \"movl $$7, %eax\\0A{CLOBBER}retq\", \"\"()
  unreachable
}}
define i32 @forty_one() noinline {{
  ret i32 41
}}
define i32 @via_misaligned() naked noinline {{
  call void asm sideeffect \"callq *%rdi\\0Aaddl $$1, %eax\\0Aretq\", \"{{rdi}}\"(ptr @forty_one)
  unreachable
}}
"
    )
}

fn engines() -> [(&'static str, Engine); 3] {
    [
        ("eager", Engine::new().unwrap()),
        ("lazy", Engine::builder().lazy(true).build().unwrap()),
        ("tier", Engine::builder().tier(true).build().unwrap()),
    ]
}

/// Strings the host builds and compares after each call: what it does with
/// its registers and the direction flag (memcpy, allocation).
fn host_work(round: i64) -> String {
    let text: String = (0..64).map(|i| format!("{round}-{i};")).collect();
    let copy = text.clone();
    assert_eq!(copy, text);
    copy
}

#[test]
fn a_function_that_overwrites_the_hosts_registers_returns_to_a_working_host() {
    for (mode, engine) in engines() {
        engine.add_ir("abi.ll", guest()).unwrap();
        let next = engine
            .lookup_fn::<extern "C" fn(i64) -> i64>("next")
            .unwrap();
        let mut x = 0;
        for round in 0..100 {
            x = next.call(x).unwrap();
            host_work(round);
        }
        assert_eq!(x, 100, "{mode}");
        for round in 0..100 {
            let value = engine.call("next", &[Value::I64(round)]).unwrap();
            assert_eq!(value, Value::I64(round + 1), "{mode}");
            host_work(round);
        }
        assert_eq!(engine.run_main(&["abi"]).unwrap(), 7, "{mode}");
        host_work(7);
    }
}

/// The stub that compiles a lazy function on its first call saves the
/// SSE state, which needs an aligned stack: a misaligned call still
/// compiles and runs it.
#[test]
fn a_call_with_the_stack_misaligned_compiles_and_runs_its_callee() {
    for (mode, engine) in engines() {
        engine.add_ir("abi.ll", guest()).unwrap();
        let call = engine.lookup_fn::<extern "C" fn() -> i32>("via_misaligned");
        assert_eq!(call.unwrap().call(()).unwrap(), 42, "{mode}");
    }
}

/// Calls from the host pass through the guard that keeps its registers:
/// arguments on the stack (past six integers, past eight doubles) arrive
/// in order, and mixed integer and double arguments in their registers.
#[test]
fn arguments_on_the_stack_reach_the_guest_in_order() {
    let params: Vec<String> = (0..12).map(|i| format!("i64 %a{i}")).collect();
    let mut body = String::from("  %s0 = mul i64 %a0, 1\n");
    for i in 1..12 {
        body += &format!(
            "  %w{i} = mul i64 %a{i}, {}\n  %s{i} = add i64 %s{}, %w{i}\n",
            1u64 << i,
            i - 1
        );
    }
    let ir = format!(
        "define i64 @weigh(i64 %a0, i64 %a1, i64 %a2, i64 %a3, i64 %a4, i64 %a5, i64 %a6, i64 %a7) {{
  %b = shl i64 %a7, 7
  %c = shl i64 %a6, 6
  %d = add i64 %b, %c
  %e = add i64 %d, %a0
  ret i64 %e
}}
define i64 @weigh12({}) {{
{body}  ret i64 %s11
}}
define double @mixed(double %x0, i32 %n, double %x1, double %x2, double %x3, double %x4, double %x5, double %x6, double %x7, double %x8, double %x9) {{
  %f = sitofp i32 %n to double
  %a = fmul double %x9, 1000.0
  %b = fmul double %x0, 10.0
  %c = fadd double %a, %b
  %d = fadd double %c, %f
  ret double %d
}}
",
        params.join(", ")
    );
    for (mode, engine) in engines() {
        engine.add_ir("args.ll", &ir).unwrap();
        type Weigh = extern "C" fn(i64, i64, i64, i64, i64, i64, i64, i64) -> i64;
        let weigh = engine.lookup_fn::<Weigh>("weigh").unwrap();
        assert_eq!(
            weigh.call((1, 0, 0, 0, 0, 0, 3, 5)).unwrap(),
            1 + 192 + 640,
            "{mode}"
        );
        let args: Vec<Value> = (0..12).map(|i| Value::I64(i + 1)).collect();
        let expected: i64 = (0..12).map(|i| (i + 1) << i).sum();
        assert_eq!(
            engine.call("weigh12", &args).unwrap(),
            Value::I64(expected),
            "{mode}"
        );
        let mut args = vec![Value::F64(2.0), Value::I32(3)];
        args.extend((1..10).map(|i| Value::F64(if i == 9 { 4.0 } else { 0.5 })));
        let result = engine.call("mixed", &args).unwrap();
        assert_eq!(result, Value::F64(4023.0), "{mode}");
    }
}
