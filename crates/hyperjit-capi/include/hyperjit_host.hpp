// hyperjit's C host API wrapped for C++: an engine that frees itself,
// failures as exceptions, typed functions registered from their C++ type,
// and callbacks from any callable. Header-only, over hyperjit_host.h.
#ifndef HYPERJIT_HOST_HPP
#define HYPERJIT_HOST_HPP

#include "hyperjit_host.h"

#include <cstdint>
#include <functional>
#include <list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace hyperjit {

// A failed call: what hj_engine_last_error said.
class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

namespace detail {
template <typename T> constexpr hj_type type_of() {
    if constexpr (std::is_void_v<T>) return HJ_VOID;
    else if constexpr (std::is_same_v<T, bool>) return HJ_BOOL;
    else if constexpr (std::is_pointer_v<T>) return HJ_PTR;
    else if constexpr (std::is_same_v<T, float>) return HJ_F32;
    else if constexpr (std::is_same_v<T, double>) return HJ_F64;
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) return HJ_I8;
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 2) return HJ_I16;
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 4) return HJ_I32;
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 8) return HJ_I64;
    else static_assert(sizeof(T) == 0, "not a type a guest and host can share");
}
} // namespace detail

// One engine; it is freed with the object. Move-only.
class Engine {
  public:
    // Called with the guest's `args`; its result is PerformCustomCallback's.
    // An exception it throws stops the guest (a trap with its what()).
    using Callback = std::function<intptr_t(void *args)>;

    Engine() : engine_(hj_engine_new()) {}
    ~Engine() { hj_engine_free(engine_); }
    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;
    Engine(Engine &&other) noexcept
        : engine_(std::exchange(other.engine_, nullptr)), callbacks_(std::move(other.callbacks_)) {}
    Engine &operator=(Engine &&other) noexcept {
        std::swap(engine_, other.engine_);
        std::swap(callbacks_, other.callbacks_);
        return *this;
    }

    hj_engine *get() const { return engine_; }

    Engine &opt_level(int level) { return check(hj_engine_set_opt_level(engine_, level)); }
    Engine &lazy(bool enabled) { return check(hj_engine_set_lazy(engine_, enabled)); }
    Engine &tier(bool enabled, uint64_t threshold = 0) {
        return check(hj_engine_set_tier(engine_, enabled, threshold));
    }
    Engine &cache(const std::string &dir) { return check(hj_engine_set_cache(engine_, dir.c_str())); }

    Engine &add_file(const std::string &path) { return check(hj_engine_add_file(engine_, path.c_str())); }
    Engine &add_ir(const std::string &name, const std::string &ir) {
        return check(hj_engine_add_ir(engine_, name.c_str(), ir.c_str()));
    }
    Engine &load(const std::string &path) { return check(hj_engine_load(engine_, path.c_str())); }

    // A raw symbol, as the guest declares it (addGlobalMapping).
    Engine &define_symbol(const std::string &name, void *address) {
        return check(hj_define_symbol(engine_, name.c_str(), address));
    }

    // A C function the guest calls directly; its signature comes from its
    // type and is checked against the guest's declaration.
    template <typename R, typename... Args>
    Engine &define_function(const std::string &name, R (*function)(Args...)) {
        const hj_type params[] = {detail::type_of<Args>()..., HJ_VOID};
        return check(hj_define_function(engine_, name.c_str(), reinterpret_cast<void *>(function),
                                        detail::type_of<R>(), params, sizeof...(Args)));
    }

    // The seed's registerCustomCallback, with any callable.
    Engine &register_callback(const std::string &name, Callback callback) {
        callbacks_.push_back(std::move(callback));
        return check(hj_register_callback(engine_, name.c_str(), &Engine::dispatch,
                                          &callbacks_.back()));
    }

    // Runs main; returns its exit status. Throws if the program cannot be
    // linked or is stopped.
    int run_main(const std::vector<std::string> &args) {
        std::vector<const char *> argv;
        for (const auto &arg : args) argv.push_back(arg.c_str());
        int status = 0;
        check(hj_engine_run_main(engine_, static_cast<int>(argv.size()), argv.data(), &status));
        return status;
    }

    void *lookup(const std::string &name) {
        void *address = hj_engine_lookup(engine_, name.c_str());
        if (address == nullptr) throw Error(last_error());
        return address;
    }
    template <typename F> F *lookup_function(const std::string &name) {
        return reinterpret_cast<F *>(lookup(name));
    }

    Engine &recompile(const std::string &function, int opt_level) {
        return check(hj_engine_recompile(engine_, function.c_str(), opt_level));
    }
    Engine &redefine(const std::string &function, const std::string &path) {
        return check(hj_engine_redefine(engine_, function.c_str(), path.c_str()));
    }
    Engine &load_plugin(const std::string &path) {
        return check(hj_engine_load_plugin(engine_, path.c_str()));
    }

    std::string stats() {
        char *text = hj_engine_stats(engine_);
        if (text == nullptr) throw Error(last_error());
        std::string copy(text);
        hj_string_free(text);
        return copy;
    }

  private:
    static intptr_t dispatch(void *args, void *user_data) {
        try {
            return (*static_cast<Callback *>(user_data))(args);
        } catch (const std::exception &error) {
            hj_trap(error.what());
        } catch (...) {
            hj_trap("the callback threw");
        }
        return 0;
    }

    std::string last_error() const {
        const char *message = hj_engine_last_error(engine_);
        return message ? message : "unknown error";
    }

    Engine &check(int status) {
        if (status != 0) throw Error(last_error());
        return *this;
    }

    hj_engine *engine_;
    // Stable addresses: each callback's user data points into the list.
    std::list<Callback> callbacks_;
};

} // namespace hyperjit

#endif // HYPERJIT_HOST_HPP
