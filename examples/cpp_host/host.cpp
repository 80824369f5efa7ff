// A C++ host embedding hyperjit through the RAII wrapper in
// include/hyperjit_host.hpp: Callback1 is a lambda with state, Callback2 a
// typed function whose signature comes from its C++ type. Then the same
// engine shows a failure: a callback that throws stops the guest, and the
// host gets the error as an exception. From the repository's root:
//
//   cargo build --release -p hyperjit-capi
//   clang++-19 -std=c++17 examples/cpp_host/host.cpp -Iinclude -Ltarget/release \
//      -lhyperjit_capi -Wl,-rpath,"$PWD/target/release" -o cpp_host
//   ./cpp_host examples/c_host/test.c
#include <hyperjit_host.hpp>

#include <iostream>

namespace {
struct Arg {
    int arg1;
    int arg2;
};

int Callback2(int a, int b) { return a * 100 + b; }
} // namespace

int main(int argc, char **argv) {
    const std::string guest = argc > 1 ? argv[1] : "examples/c_host/test.c";
    try {
        int calls = 0;
        hyperjit::Engine engine;
        engine.opt_level(2)
            .register_callback("Callback1",
                               [&calls](void *args) -> intptr_t {
                                   const auto *arg = static_cast<const Arg *>(args);
                                   ++calls;
                                   std::cout << "host: Callback1(" << arg->arg1 << ", " << arg->arg2
                                             << ")" << std::endl;
                                   return arg->arg1 + arg->arg2;
                               })
            .define_function("Callback2", &Callback2)
            .add_file(guest);
        int status = engine.run_main({guest});
        std::cout << "host: the guest exited with " << status << " after " << calls
                  << " call(s) of Callback1" << std::endl;

        hyperjit::Engine failing;
        failing
            .register_callback("Callback1",
                               [](void *) -> intptr_t { throw std::runtime_error("no, thanks"); })
            .define_function("Callback2", &Callback2)
            .add_file(guest);
        try {
            failing.run_main({guest});
            std::cout << "host: the throwing callback did not stop the guest" << std::endl;
            return 1;
        } catch (const hyperjit::Error &error) {
            std::cout << "host: stopped: " << error.what() << std::endl;
        }
        return status;
    } catch (const hyperjit::Error &error) {
        std::cerr << "host: " << error.what() << std::endl;
        return 125;
    }
}
