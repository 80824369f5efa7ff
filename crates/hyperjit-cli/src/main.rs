//! `hyperjit`: runs C, LLVM IR and bitcode programs on the hyperjit engine.
//!
//! The exit status is the guest's own; an error of hyperjit itself prints
//! `hyperjit: error: ...` and exits with 125, so that a caller can tell the
//! two apart.

use clap::{Parser, Subcommand};
use hyperjit::{Engine, SymbolPolicy};
use hyperjit_capi::hj_engine;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit status of hyperjit's own errors (bad input, link errors, traps).
const ERROR_STATUS: u8 = 125;

#[derive(Parser)]
#[command(
    name = "hyperjit",
    version,
    about = "An LLVM JIT whose programs call back into their host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program: its inputs are linked, compiled and its entry called.
    Run(Box<RunArgs>),
    /// Read, verify and compile inputs, each on its own, without running
    /// anything: whether hyperjit takes them (what isolated engines run in
    /// a child process). Exit 0 if all pass, else 125 with the first error.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// .c, .cc/.cpp/.cxx (C++), .ll or .bc files.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Optimization level, as for `run`.
    #[arg(short = 'O', value_name = "LEVEL", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(0..=3))]
    opt_level: u8,
    /// Also compile at the tiered baseline (-O0).
    #[arg(long)]
    tier: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    /// .c, .cc/.cpp/.cxx (C++), .ll or .bc files; all are linked; argv[0]
    /// is the first.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Optimization level: clang's and the IR pipeline's for unoptimized
    /// inputs, and the code generator's.
    #[arg(short = 'O', value_name = "LEVEL", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(0..=3))]
    opt_level: u8,
    /// The entry function.
    #[arg(long, value_name = "NAME", default_value = "main")]
    entry: String,
    /// Include directory for C and C++ inputs (passed to clang).
    #[arg(short = 'I', value_name = "DIR")]
    include: Vec<PathBuf>,
    /// Macro for C and C++ inputs, NAME or NAME=VALUE (passed to clang).
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    define: Vec<String>,
    /// Compile each function on its first call, at -O.
    #[arg(long, conflicts_with_all = ["eager", "tier"])]
    lazy: bool,
    /// Start every function at a fast baseline, recompile hot ones at -O
    /// in the background (each compiled on its first call). The default.
    #[arg(long, conflicts_with = "eager")]
    tier: bool,
    /// Calls plus loop iterations after which --tier recompiles a function.
    #[arg(long, value_name = "COUNT", conflicts_with_all = ["eager", "lazy"])]
    tier_threshold: Option<u64>,
    /// Reuse compiled code across runs, kept in DIR; with --eager, the
    /// whole program, which later runs (any mode) load without parsing.
    #[arg(long, value_name = "DIR", env = "HYPERJIT_CACHE")]
    cache: Option<PathBuf>,
    /// Compile everything up front (what lli does), whatever the default.
    #[arg(long)]
    eager: bool,
    /// Register JIT'd code with gdb (the GDB JIT interface), C and C++
    /// compiled with -g; compiles up front unless --lazy or --tier is given,
    /// so that debug information is complete.
    #[arg(long)]
    debug: bool,
    /// Write /tmp/perf-PID.map, naming every JIT'd function for perf.
    #[arg(long)]
    perf_map: bool,
    /// Load callbacks from a plugin: a shared library exporting
    /// `int hyperjit_plugin_init(hj_engine *)` (include/hyperjit_host.h),
    /// called before the inputs are linked (repeatable).
    #[arg(long, value_name = "LIB.so")]
    plugin: Vec<PathBuf>,
    /// Link only registered callbacks, hyperjit's own functions and the
    /// symbols --allow names (not libc as a whole); refuse inline assembly.
    /// It controls linking; it is not memory isolation.
    #[arg(long)]
    sandbox: bool,
    /// A host symbol the program may link against under --sandbox
    /// (repeatable).
    #[arg(long, value_name = "NAME", requires = "sandbox")]
    allow: Vec<String>,
    /// A file of symbols the program may link against under --sandbox:
    /// one a line; blank lines and lines starting with # are skipped.
    #[arg(long, value_name = "FILE", requires = "sandbox")]
    allow_file: Vec<PathBuf>,
    /// Print phase times and per-callback call counts to stderr at exit.
    #[arg(long)]
    stats: bool,
    /// Arguments for the program (after `--`).
    #[arg(last = true, value_name = "ARG")]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and --version, on stdout; nothing else to do if it fails.
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        // A usage error: clap's text starts with "error: ", and reads as
        // every other error of hyperjit's own.
        Err(error) => {
            eprint!("hyperjit: {}", error.render());
            return ExitCode::from(ERROR_STATUS);
        }
    };
    match cli.command {
        Command::Run(args) => run(*args),
        Command::Check(args) => check(args),
    }
}

fn run(args: RunArgs) -> ExitCode {
    // A native C program dies of SIGPIPE when its reader goes away; Rust's
    // runtime ignores the signal, so restore the default for the guest.
    // SAFETY: setting a signal's disposition to SIG_DFL has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };

    let mut builder = Engine::builder()
        .opt_level(args.opt_level)
        .lazy(args.lazy)
        // The default: the fastest start (BENCHMARKS.md), steady state kept
        // by tiering up what is hot; under a debugger, everything up front.
        .tier(args.tier || !(args.lazy || args.eager || args.debug))
        .debug(args.debug)
        .perf_map(args.perf_map)
        // A guest killed by a signal says where (README: exit status).
        .fault_reports(true)
        .count_callback_calls(args.stats);
    if let Some(dir) = &args.cache {
        builder = builder.cache(dir);
    }
    if args.sandbox {
        match allowed_symbols(&args) {
            Ok(names) => builder = builder.symbol_policy(SymbolPolicy::allow(names)),
            Err(message) => return fail(&message, None),
        }
    }
    if let Some(threshold) = args.tier_threshold {
        builder = builder.tier_threshold(threshold);
    }
    for dir in &args.include {
        builder = builder.include_dir(dir);
    }
    for definition in &args.define {
        builder = builder.c_define(definition.clone());
    }
    let host = match builder.build() {
        Ok(engine) => hj_engine::wrap(engine),
        Err(error) => return fail(&error, None),
    };
    for plugin in &args.plugin {
        if let Err(error) = host.load_plugin(plugin) {
            return fail(&error, None);
        }
    }
    let engine = match host.engine() {
        Ok(engine) => engine,
        Err(error) => return fail(&error, None),
    };
    for input in &args.inputs {
        if let Err(error) = engine.add_file(input) {
            return fail(&error, args.stats.then_some(engine));
        }
    }
    let argv: Vec<String> = std::iter::once(args.inputs[0].display().to_string())
        .chain(args.args.iter().cloned())
        .collect();
    let result = engine.run_entry(&args.entry, &argv);
    if args.stats {
        eprintln!("{}", engine.stats());
    }
    match result {
        // The OS keeps the low 8 bits of a status, as for a native program.
        Ok(status) => exit_now(status as u8),
        Err(error) => fail(&error, None),
    }
}

fn check(args: CheckArgs) -> ExitCode {
    let built = Engine::builder()
        .opt_level(args.opt_level)
        .tier(args.tier)
        // A crash inside LLVM is reported, naming the input, exit 125.
        .fault_reports(true)
        .build();
    let engine = match built {
        Ok(engine) => engine,
        Err(error) => return fail(&error, None),
    };
    for input in &args.inputs {
        if let Err(error) = engine.check_file(input) {
            return fail(&error, None);
        }
    }
    exit_now(0)
}

/// The symbols `--allow` and `--allow-file` name.
fn allowed_symbols(args: &RunArgs) -> Result<Vec<String>, String> {
    let mut names = args.allow.clone();
    for file in &args.allow_file {
        let text = std::fs::read_to_string(file)
            .map_err(|error| format!("--allow-file {}: {error}", file.display()))?;
        names.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(names)
}

/// Ends the process with `status` without dropping the engine, which would
/// wait for a background compilation in progress (see `--tier`) and free
/// what the OS frees anyway. The guest's stdio was flushed when its run
/// ended; ours is.
fn exit_now(status: u8) -> ExitCode {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit ends the process at once; nothing after it runs, and
    // no other thread's work (a tiering compile) needs to complete.
    unsafe { libc::_exit(i32::from(status)) }
}

fn fail(error: &dyn std::fmt::Display, stats_of: Option<&Engine>) -> ExitCode {
    eprintln!("hyperjit: error: {error}");
    if let Some(engine) = stats_of {
        eprintln!("{}", engine.stats());
    }
    ExitCode::from(ERROR_STATUS)
}
