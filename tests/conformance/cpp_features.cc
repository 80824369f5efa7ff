// C++ as a guest: static initializers and destructors, iostreams,
// exceptions (thrown by the program and by libstdc++, caught by base class,
// rethrown, carried in std::exception_ptr), virtual calls and RTTI, the
// standard containers, and thread_local objects with constructors and
// destructors on several threads. Its output must equal the native build's.
#include <algorithm>
#include <exception>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

namespace {

struct Registry {
    std::vector<std::string> names;
    Registry() { std::cout << "[init] registry" << std::endl; }
    ~Registry() { std::cout << "[exit] registry held " << names.size() << " names" << std::endl; }
};

Registry registry;

struct Registrar {
    explicit Registrar(const char *name) {
        registry.names.push_back(name);
        std::cout << "[init] registered " << name << std::endl;
    }
};

Registrar alpha("alpha");
Registrar beta("beta");

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
    virtual std::string name() const = 0;
};

struct Square : Shape {
    double side;
    explicit Square(double side) : side(side) {}
    double area() const override { return side * side; }
    std::string name() const override { return "square"; }
};

struct Circle : Shape {
    double radius;
    explicit Circle(double radius) : radius(radius) {}
    double area() const override { return 3.14159265358979 * radius * radius; }
    std::string name() const override { return "circle"; }
};

struct ParseError : std::runtime_error {
    int position;
    ParseError(int position, const std::string &what)
        : std::runtime_error(what), position(position) {}
};

int parse_digits(const std::string &text) {
    int value = 0;
    for (size_t i = 0; i < text.size(); i++) {
        if (text[i] < '0' || text[i] > '9') {
            throw ParseError(static_cast<int>(i), "not a digit: '" + std::string(1, text[i]) + "'");
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

int parse_or_rethrow(const std::string &text) {
    try {
        return parse_digits(text);
    } catch (const ParseError &) {
        std::cout << "  parse_or_rethrow: rethrowing" << std::endl;
        throw;
    }
}

std::mutex output;

struct Visits {
    int count = 0;
    std::string owner;
    Visits() : owner("thread") {}
    ~Visits() {
        std::lock_guard<std::mutex> lock(output);
        std::cout << "[thread_local] " << owner << " destroyed after " << count << " visits"
                  << std::endl;
    }
};

thread_local Visits visits;
thread_local std::string greeting = std::string("hello from ") + "a thread";

void worker(int id) {
    visits.owner = "worker " + std::to_string(id);
    for (int i = 0; i <= id; i++) visits.count++;
    std::lock_guard<std::mutex> lock(output);
    std::cout << "[thread " << id << "] " << greeting << ", " << visits.count << " visits"
              << std::endl;
}

} // namespace

int main(int argc, char **argv) {
    std::cout << "main: " << argc << " arguments, first " << (argc > 1 ? argv[1] : "-")
              << std::endl;

    std::vector<std::unique_ptr<Shape>> shapes;
    shapes.push_back(std::make_unique<Square>(2.0));
    shapes.push_back(std::make_unique<Circle>(1.5));
    shapes.push_back(std::make_unique<Square>(0.5));
    std::sort(shapes.begin(), shapes.end(),
              [](const auto &a, const auto &b) { return a->area() < b->area(); });
    for (const auto &shape : shapes) {
        std::cout << std::fixed << std::setprecision(3) << std::setw(8) << shape->area() << " "
                  << shape->name() << (dynamic_cast<Circle *>(shape.get()) ? " (round)" : "")
                  << std::endl;
    }

    int caught = 0;
    for (const char *text : {"1234", "12x4", "x"}) {
        try {
            std::cout << "parse " << text << " = " << parse_or_rethrow(text) << std::endl;
        } catch (const std::exception &error) {
            caught++;
            const auto *parse_error = dynamic_cast<const ParseError *>(&error);
            std::cout << "caught " << (parse_error ? "ParseError" : "exception") << " at "
                      << (parse_error ? parse_error->position : -1) << ": " << error.what()
                      << std::endl;
        }
    }

    // Thrown inside libstdc++, unwound through JIT'd frames.
    std::vector<int> small{1, 2, 3};
    try {
        std::cout << small.at(7) << std::endl;
    } catch (const std::out_of_range &) {
        caught++;
        std::cout << "caught std::out_of_range from vector::at" << std::endl;
    }

    std::exception_ptr saved;
    try {
        throw std::logic_error("kept for later");
    } catch (...) {
        saved = std::current_exception();
    }
    try {
        std::rethrow_exception(saved);
    } catch (const std::logic_error &error) {
        caught++;
        std::cout << "rethrown from exception_ptr: " << error.what() << std::endl;
    }

    std::map<std::string, int> counts;
    std::istringstream words("the quick brown fox jumps over the lazy dog the end");
    for (std::string word; words >> word;) counts[word]++;
    std::ostringstream summary;
    for (const auto &[word, count] : counts) {
        if (count > 1) summary << word << "=" << count << " ";
    }
    std::cout << "repeated: " << summary.str() << std::endl;

    // One thread at a time, so the output's order is fixed.
    for (int id = 0; id < 3; id++) std::thread(worker, id).join();
    visits.owner = "main";
    visits.count = 42;

    std::cout << "main: caught " << caught << " exceptions" << std::endl;
    return caught;
}
