/* Guest of examples/find_function.rs: finds functions by name, among the
 * 10,000 of generated.ll, with hj_lookup, and calls them. */
#include <hyperjit.h>
#include <stdio.h>

int main(void) {
    const char *names[] = {"generated_0", "generated_4242", "generated_9999", "generated_10000"};
    for (int i = 0; i < 4; i++) {
        long (*f)(long) = (long (*)(long))hj_lookup(names[i]);
        if (f)
            printf("%s(1) = %ld\n", names[i], f(1));
        else
            printf("%s: %s\n", names[i], hj_last_error());
    }
    return 0;
}
