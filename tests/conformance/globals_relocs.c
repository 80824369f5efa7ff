/* Globals whose initializers hold addresses: pointers to globals, string
   tables, function tables, self-referential lists, static locals. */
#include <stdio.h>
#include <string.h>

struct node { int value; struct node *next; };
static struct node third = {3, NULL};
static struct node second = {2, &third};
struct node first = {1, &second};
struct node *list_head = &first;

static const char *names[] = {"zero", "one", "two", "three"};
const char *const *name_table = names;
static int numbers[8] = {1, 1, 2, 3, 5, 8, 13, 21};
int *middle = &numbers[4];
long offset = (long)(&numbers[7] - &numbers[2]);

static int twice(int x) { return 2 * x; }
static int square(int x) { return x * x; }
struct op { const char *name; int (*fn)(int); } ops[] = {{"twice", twice}, {"square", square}};

struct ring { struct ring *self; char label[8]; } ring = {&ring, "ring"};
char greeting[] = "hello, relocations";
char *greeting_tail = greeting + 7;

static int counter(void) {
    static int calls;
    static int *where = &calls;
    return ++*where;
}

int main(void) {
    for (struct node *n = list_head; n; n = n->next) printf("node %d\n", n->value);
    for (int i = 0; i < 4; i++) printf("%s ", name_table[i]);
    printf("\nmiddle %d offset %ld\n", *middle, offset);
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) printf("%s(7)=%d\n", ops[i].name, ops[i].fn(7));
    printf("ring %s self-ok %d\n", ring.self->self->label, ring.self == &ring);
    printf("tail '%s' len %zu\n", greeting_tail, strlen(greeting));
    counter(); counter();
    printf("counter %d\n", counter());
    return 0;
}
