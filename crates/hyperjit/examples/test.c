/* The seed proposal's example guest: fills a struct and calls the host's
 * "Callback1" through PerformCustomCallback. Run by examples/seed.rs. */
#include <hyperjit.h>
#include <stdio.h>

struct arg {
    int arg1;
    int arg2;
} Arg;

int main(void) {
    Arg.arg1 = 10;
    Arg.arg2 = 20;
    intptr_t result = PerformCustomCallback("Callback1", &Arg);
    printf("Callback1 returned %ld\n", (long)result);
    return 0;
}
