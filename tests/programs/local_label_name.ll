; A static named as an assembler-local label (as LLVM's own ExecutionEngine
; test MCJIT/hello.ll has it): promoted for lazy bodies, it must not stay
; a temporary symbol (issue 23).
@.LC0 = internal global [12 x i8] c"Hello World\00"
declare i32 @puts(ptr)
define i32 @main() {
  %r = call i32 @puts(ptr @.LC0)
  ret i32 0
}
