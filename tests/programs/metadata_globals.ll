; Metadata that names globals, on everything a lazy body takes along when it
; moves to a module of its own (issue 23): each must still name the global
; of that module, and the program run as eagerly.
@data = global [4 x i32] [i32 10, i32 20, i32 30, i32 40], !associated !10
@format = private constant [16 x i8] c"%s %d %d %d %d\0A\00"
@name = private constant [9 x i8] c"metadata\00"

declare i32 @printf(ptr, ...)

define i32 @undump(ptr %p) { ret i32 1 }
define i32 @parser(ptr %p) { ret i32 2 }

; !callees beside !tbaa, as clang -O2 emits for an indirect call through a
; known set of functions.
define internal i32 @dispatch(ptr %p) {
  %v = load i32, ptr %p, !tbaa !3
  %c = icmp eq i32 %v, 27
  %f = select i1 %c, ptr @undump, ptr @parser
  %r = call i32 %f(ptr %p), !callees !4
  ret i32 %r
}

; A function attachment, an instruction's custom attachment naming a
; constant expression, a distinct node, a loop's self-referencing node.
define internal i32 @sum(i32 %n) !hj.owner !5 {
entry:
  br label %loop
loop:
  %i = phi i32 [ 0, %entry ], [ %next, %loop ]
  %acc = phi i32 [ 0, %entry ], [ %total, %loop ]
  %slot = getelementptr [4 x i32], ptr @data, i32 0, i32 %i
  %x = load i32, ptr %slot, !hj.source !6, !hj.unique !7
  %total = add i32 %acc, %x
  %next = add i32 %i, 1
  %done = icmp eq i32 %next, %n
  br i1 %done, label %exit, label %loop, !llvm.loop !8
exit:
  ret i32 %total
}

define i32 @main(i32 %argc, ptr %argv) {
  %s = alloca i32
  store i32 %argc, ptr %s
  %a = call i32 @dispatch(ptr %s)
  store i32 27, ptr %s
  %b = call i32 @dispatch(ptr %s)
  %t = call i32 @sum(i32 4)
  %u = call i32 @sum(i32 2)
  call i32 (ptr, ...) @printf(ptr @format, ptr @name, i32 %a, i32 %b, i32 %t, i32 %u)
  ret i32 %t
}

!0 = !{!"Simple C/C++ TBAA"}
!1 = !{!"omnipotent char", !0, i64 0}
!2 = !{!"int", !1, i64 0}
!3 = !{!2, !2, i64 0}
!4 = !{ptr @parser, ptr @undump}
!5 = !{ptr @main, ptr @data}
!6 = !{ptr getelementptr (i8, ptr @data, i64 4), !"data+4"}
!7 = distinct !{ptr @sum, ptr @dispatch}
!8 = distinct !{!8, !9}
!9 = !{!"llvm.loop.mustprogress", ptr @sum}
!10 = !{ptr @main}
