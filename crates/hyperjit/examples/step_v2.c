/* The new step() for examples/stepper.c. */
int step(int x) { return x * 10; }
