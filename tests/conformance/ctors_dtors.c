/* Static constructors and destructors with priorities, interleaved with
   atexit handlers: the order must match the native program exactly. */
#include <stdio.h>
#include <stdlib.h>

static int order = 0;

__attribute__((constructor(200))) static void ctor_200(void) { printf("ctor 200 (#%d)\n", ++order); }
__attribute__((constructor(101))) static void ctor_101(void) { printf("ctor 101 (#%d)\n", ++order); }
__attribute__((constructor)) static void ctor_default_a(void) { printf("ctor default a (#%d)\n", ++order); }
__attribute__((constructor)) static void ctor_default_b(void) { printf("ctor default b (#%d)\n", ++order); }
__attribute__((constructor(150))) static void ctor_150(void) { printf("ctor 150 (#%d)\n", ++order); }

__attribute__((destructor(200))) static void dtor_200(void) { printf("dtor 200\n"); }
__attribute__((destructor(101))) static void dtor_101(void) { printf("dtor 101\n"); }
__attribute__((destructor)) static void dtor_default_a(void) { printf("dtor default a\n"); }
__attribute__((destructor)) static void dtor_default_b(void) { printf("dtor default b\n"); }

static void at_exit_first(void) { printf("atexit registered first\n"); }
static void at_exit_second(void) { printf("atexit registered second\n"); }

int main(void) {
    printf("main runs after %d constructors\n", order);
    atexit(at_exit_first);
    atexit(at_exit_second);
    return 3;
}
