// The proposal's own guest, test.cc: a C++ program calling the callback
// the runner registered, through PerformCustomCallback. Run it with the
// plugin that defines Callback1:
//
//   cc -shared -fPIC -Iinclude examples/plugin/callbacks.c -o libcallbacks.so
//   hyperjit run --plugin ./libcallbacks.so examples/plugin/test.cc
#include <hyperjit.h>

#include <iostream>

struct arg {
    int arg1;
    int arg2;
};

int main() {
    arg Arg;
    Arg.arg1 = 10;
    Arg.arg2 = 20;
    intptr_t result = PerformCustomCallback("Callback1", &Arg);
    std::cout << "test.cc: PerformCustomCallback(\"Callback1\", &Arg) returned " << result
              << std::endl;
    return result == 30 ? 0 : 1;
}
