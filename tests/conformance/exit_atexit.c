/* exit() from deep inside the program: atexit handlers run last-registered
   first (including one registered by a handler), buffered stdout is flushed,
   and the status is exit()'s argument. */
#include <stdio.h>
#include <stdlib.h>

static int depth_reached;

static void late_handler(void) { printf("handler registered during exit\n"); }
static void first(void) { printf("first registered, runs last\n"); }
static void second(void) {
    printf("second registered, registers another\n");
    atexit(late_handler);
}
static void third(void) { printf("third registered, runs first (depth %d)\n", depth_reached); }

static int descend(int depth) {
    depth_reached = depth;
    if (depth == 50) {
        printf("leaving from depth %d without a newline...", depth);
        exit(42);
    }
    return descend(depth + 1) + 1;
}

int main(void) {
    atexit(first);
    atexit(second);
    atexit(third);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    printf("main starts\n");
    int never = descend(0);
    printf("not reached %d\n", never);
    return 0;
}
