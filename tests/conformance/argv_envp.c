/* argc/argv/envp as a native main receives them. argv[0] differs between a
   native binary and a JIT'd input, so only its presence is printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv, char **envp) {
    printf("argc=%d\n", argc);
    printf("argv[0] present: %s\n", argv[0] && argv[0][0] ? "yes" : "no");
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=\"%s\" (%zu bytes)\n", i, argv[i], strlen(argv[i]));
    printf("argv[argc] is NULL: %s\n", argv[argc] == NULL ? "yes" : "no");

    const char *from_envp = NULL;
    int count = 0;
    for (char **e = envp; *e; e++) {
        count++;
        if (strncmp(*e, "HJ_CONFORMANCE=", 15) == 0)
            from_envp = *e + 15;
    }
    printf("envp has entries: %s\n", count > 0 ? "yes" : "no");
    printf("HJ_CONFORMANCE via envp: %s\n", from_envp ? from_envp : "(missing)");
    const char *from_getenv = getenv("HJ_CONFORMANCE");
    printf("HJ_CONFORMANCE via getenv: %s\n", from_getenv ? from_getenv : "(missing)");
    return argc;
}
