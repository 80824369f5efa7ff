/* The proposal's guest program: it calls the host's callbacks through
 * PerformCustomCallback (Callback1, with its arguments in a struct, as in
 * the proposal) and by their own names (Callback2, typed). Run by
 * host.c, host.cpp, or `hyperjit run --plugin` with a plugin defining them. */
#include <hyperjit.h>
#include <stdio.h>

struct arg {
    int arg1;
    int arg2;
};

int Callback2(int, int);

int main(void) {
    struct arg Arg;
    Arg.arg1 = 10;
    Arg.arg2 = 20;
    intptr_t sum = PerformCustomCallback("Callback1", &Arg);
    printf("guest: Callback1(10, 20) returned %ld\n", (long)sum);
    int packed = Callback2(3, 4);
    printf("guest: Callback2(3, 4) returned %d\n", packed);
    return sum == 30 && packed == 304 ? 0 : 1;
}
