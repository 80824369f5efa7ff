/* The callee of the native baseline; hidden, so the call is direct. */
__attribute__((visibility("hidden"))) long native_target(long x) { return x + 1; }
