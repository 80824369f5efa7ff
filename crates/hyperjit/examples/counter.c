/* Guest of examples/typed_state.rs: calls host functions declared with
 * their own prototypes; the host keeps the state. */
#include <stdio.h>

long record(const char *event, long amount); /* returns the running total */
void log_line(const char *text);
double average(void);

int main(void) {
    const char *events[] = {"deposit", "deposit", "withdraw", "deposit"};
    long amounts[] = {120, 80, -50, 25};
    for (int i = 0; i < 4; i++) {
        long total = record(events[i], amounts[i]);
        char line[64];
        snprintf(line, sizeof line, "%s %ld -> total %ld", events[i], amounts[i], total);
        log_line(line);
    }
    printf("guest: average amount %.2f\n", average());
    return 0;
}
