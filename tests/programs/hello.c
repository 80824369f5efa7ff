/* The trivial program: start-up and nothing else. */
#include <stdio.h>

int main(void) {
    puts("hello, world");
    return 0;
}
