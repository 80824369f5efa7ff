/* A long-running loop that redefines its own step() from a file mid-run
 * (argv[1], e.g. examples/step_v2.c) and prints the change. Runs as is with
 * `hyperjit run crates/hyperjit/examples/stepper.c -- crates/hyperjit/examples/step_v2.c`. */
#include <hyperjit.h>
#include <stdio.h>

int step(int x) { return x + 1; }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: stepper NEW_STEP_FILE\n");
        return 2;
    }
    int value = 0;
    for (int round = 1; round <= 6; round++) {
        if (round == 4) {
            if (hj_redefine("step", argv[1]) != 0) {
                fprintf(stderr, "redefine failed: %s\n", hj_last_error());
                return 1;
            }
            printf("-- step() redefined from %s\n", argv[1]);
        }
        value = step(value);
        printf("round %d: value %d\n", round, value);
    }
    return 0;
}
