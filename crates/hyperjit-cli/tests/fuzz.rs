//! A mutation fuzzer over the whole `hyperjit run` path: the conformance
//! corpus and the test programs, compiled to bitcode and IR text, mutated
//! (bits and bytes of bitcode; lines, numbers, names, types and attributes
//! of IR) and run. Every run must end as hyperjit promises: the program's
//! own exit, a report of the signal that killed it, or `hyperjit: error:`
//! with status 125 — never an unreported crash, an abort inside LLVM, or a
//! hang. The programs run under `--sandbox` with a list of harmless libc
//! functions (a mutated program must not write files) and a 4 GiB
//! address-space limit.
//!
//! CI runs a short smoke (200 executions, always the same mutations). For
//! a long run:
//!
//!     HYPERJIT_FUZZ_FOR=30m cargo test --release -p hyperjit-cli --test fuzz -- --nocapture
//!
//! (`HYPERJIT_FUZZ_SEED=N` picks the mutations; findings are kept in
//! `HYPERJIT_FUZZ_OUT`, default `target/fuzz-findings`, each input with
//! what hyperjit printed, and so are the first few inputs LLVM crashed on
//! that hyperjit reported as its error: regression inputs.)

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// What a mutated program may call: output, memory, strings, math.
const ALLOWED: &[&str] = &[
    "printf",
    "puts",
    "putchar",
    "fputs",
    "fputc",
    "fprintf",
    "fflush",
    "fwrite",
    "snprintf",
    "sprintf",
    "vsnprintf",
    "vfprintf",
    "vprintf",
    "stdout",
    "stderr",
    "malloc",
    "calloc",
    "realloc",
    "free",
    "memcmp",
    "memchr",
    "strlen",
    "strcmp",
    "strncmp",
    "strcpy",
    "strncpy",
    "strcat",
    "strchr",
    "strrchr",
    "strstr",
    "strtol",
    "strtoul",
    "strtod",
    "atoi",
    "atol",
    "abs",
    "labs",
    "qsort",
    "bsearch",
    "rand",
    "srand",
    "sqrt",
    "sin",
    "cos",
    "tan",
    "atan",
    "atan2",
    "exp",
    "log",
    "pow",
    "floor",
    "ceil",
    "fabs",
    "fmod",
    "isalpha",
    "isdigit",
    "isspace",
    "toupper",
    "tolower",
    "__ctype_b_loc",
    "__ctype_toupper_loc",
    "__ctype_tolower_loc",
    "__errno_location",
    "setjmp",
    "longjmp",
    "_setjmp",
    "abort",
    "__assert_fail",
];

/// How much to fuzz: `HYPERJIT_FUZZ_FOR` ("30m", "90s") for a long run,
/// else the smoke's fixed number of executions (the same ones on every
/// machine, however fast).
enum Budget {
    Executions(u64),
    Time(Duration),
}

/// The smoke's executions: about 20 s of a debug build here.
const SMOKE_EXECUTIONS: u64 = 200;

fn budget() -> Budget {
    let Ok(text) = std::env::var("HYPERJIT_FUZZ_FOR") else {
        return Budget::Executions(SMOKE_EXECUTIONS);
    };
    let (number, unit) = text.split_at(text.len() - 1);
    let number: u64 = number
        .parse()
        .expect("HYPERJIT_FUZZ_FOR: a number and s or m");
    Budget::Time(match unit {
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        _ => panic!("HYPERJIT_FUZZ_FOR: a number and s or m, not {text}"),
    })
}

/// A seed input: its bytes, and whether they are bitcode.
struct Seed {
    name: String,
    bytes: Vec<u8>,
    bitcode: bool,
}

/// The corpus's C programs as -O0 and -O2 bitcode and -O2 IR text.
fn seeds(dir: &Path) -> Vec<Seed> {
    let mut sources: Vec<PathBuf> = ["tests/conformance", "tests/programs"]
        .iter()
        .flat_map(|folder| std::fs::read_dir(repo_root().join(folder)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .filter(|path| !path.ends_with("sqlite_driver.c") && !path.ends_with("lua_driver.c"))
        .collect();
    sources.sort();
    let mut seeds = Vec::new();
    for source in &sources {
        let stem = source.file_stem().unwrap().to_string_lossy().into_owned();
        for (level, form) in [("-O0", "bc"), ("-O2", "bc"), ("-O2", "ll")] {
            let output = dir.join(format!("{stem}{level}.{form}"));
            let kind = if form == "bc" { "-c" } else { "-S" };
            must(
                clang()
                    .args([level, kind, "-emit-llvm", "-o"])
                    .arg(&output)
                    .arg(source),
            );
            seeds.push(Seed {
                name: format!("{stem}{level}.{form}"),
                bytes: std::fs::read(&output).unwrap(),
                bitcode: form == "bc",
            });
        }
    }
    seeds
}

/// Flips, sets, copies or drops bits and bytes of bitcode.
fn mutate_bitcode(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>) {
    let len = bytes.len();
    match rng.u8(..4) {
        0 => bytes[rng.usize(..len)] ^= 1 << rng.u8(..8),
        1 => bytes[rng.usize(..len)] = [0, 0xff, 0x7f, 0x80, 1][rng.usize(..5)],
        2 => {
            let from = rng.usize(..len);
            let to = rng.usize(..len);
            let count = rng.usize(1..16).min(len - from).min(len - to);
            bytes.copy_within(from..from + count, to);
        }
        _ => {
            let from = rng.usize(..len);
            let count = rng.usize(1..8).min(len - from);
            bytes.drain(from..from + count);
        }
    }
}

/// Numbers that sit on edges.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "255",
    "65536",
    "2147483647",
    "-2147483648",
    "4294967296",
    "1073741824",
    "9223372036854775807",
];

/// Attributes that change how a function is compiled or called.
const ATTRIBUTES: &[&str] = &[
    "naked",
    "noinline",
    "optnone noinline",
    "alwaysinline",
    "cold",
    "noreturn",
    "nounwind",
    "\"target-cpu\"=\"i386\"",
    "\"target-features\"=\"+avx512f\"",
    "returns_twice",
];

/// Changes lines, numbers, names, types or attributes of IR text.
fn mutate_ir(rng: &mut fastrand::Rng, text: &mut String) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return;
    }
    let at = rng.usize(..lines.len());
    match rng.u8(..7) {
        0 => {
            lines.remove(at);
        }
        1 => {
            let copy = lines[rng.usize(..lines.len())].clone();
            lines.insert(at, copy);
        }
        2 => {
            let other = rng.usize(..lines.len());
            lines.swap(at, other);
        }
        3 => {
            // A number token becomes an edge value.
            let words: Vec<&str> = lines[at].split(' ').collect();
            let numeric: Vec<usize> = (0..words.len())
                .filter(|&i| words[i].trim_end_matches(',').parse::<i64>().is_ok())
                .collect();
            if let Some(&index) = numeric.get(rng.usize(..numeric.len().max(1))) {
                let mut words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                let comma = if words[index].ends_with(',') { "," } else { "" };
                words[index] = format!("{}{comma}", NUMBERS[rng.usize(..NUMBERS.len())]);
                lines[at] = words.join(" ");
            }
        }
        4 => {
            // One type for another, all through the line.
            let types = [
                "i32",
                "i64",
                "i8",
                "ptr",
                "double",
                "i1",
                "i128",
                "<4 x i32>",
            ];
            let from = types[rng.usize(..types.len())];
            let to = types[rng.usize(..types.len())];
            lines[at] = lines[at].replace(from, to);
        }
        5 => {
            // An attribute on a function definition.
            if let Some(line) = lines
                .iter_mut()
                .filter(|l| l.starts_with("define "))
                .nth(rng.usize(..4))
            {
                if let Some(brace) = line.rfind('{') {
                    line.insert_str(
                        brace,
                        &format!("{} ", ATTRIBUTES[rng.usize(..ATTRIBUTES.len())]),
                    );
                }
            }
        }
        _ => {
            // A global name for another.
            let names: Vec<String> = text
                .split(|c: char| !(c.is_alphanumeric() || c == '@' || c == '_' || c == '.'))
                .filter(|word| word.starts_with('@') && word.len() > 1)
                .map(str::to_string)
                .collect();
            if names.len() >= 2 {
                let from = &names[rng.usize(..names.len())];
                let to = &names[rng.usize(..names.len())];
                lines[at] = lines[at].replace(from.as_str(), to);
            }
        }
    }
    *text = lines.join("\n") + "\n";
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    /// The program exited on its own.
    Ran,
    /// `hyperjit: error:`, exit 125: the input was refused.
    Refused,
    /// LLVM crashed, and hyperjit said so (exit 125).
    LlvmCrashReported,
    /// The program died by a signal, reported.
    GuestFaultReported,
    /// The program ran past the time limit in its own code (a mutated
    /// loop bound), as its native build would.
    GuestLoops,
    /// Broken promises.
    Crash(String),
    Hang,
    UnprefixedError,
}

impl Verdict {
    fn is_finding(&self) -> bool {
        matches!(
            self,
            Verdict::Crash(_) | Verdict::Hang | Verdict::UnprefixedError
        )
    }
}

/// How long a run may take before the harness asks where it is: long
/// enough that a slow or busy machine does not pass for a hang (10 s did,
/// with both cores loaded); what decides a hang is where the fault report
/// says the process was, not the time.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Runs `hyperjit run MODE --sandbox ... input` with a time and memory
/// limit.
fn run_one(input: &Path, mode: &[&str], allowed: &Path, limit: Duration) -> (Verdict, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hyperjit"));
    command
        .arg("run")
        .args(mode)
        // The default mode's cache, kept with the work files.
        .env("XDG_CACHE_HOME", allowed.with_file_name("cache"))
        .env_remove("HYPERJIT_CACHE")
        .arg("--sandbox")
        .arg("--allow-file")
        .arg(allowed)
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit only, between fork and exec; no allocation, no lock.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            let memory = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_AS, &memory);
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start hyperjit");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            // Where is it? The fault report says: a guest loop (JIT'd
            // code), or LLVM still reading or compiling (a hang of ours).
            // SAFETY: signals our own child, which has not been reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGSEGV) };
            std::thread::sleep(Duration::from_millis(500));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    let Some(status) = status else {
        let verdict = if stderr.contains("hyperjit: the program was killed by SIGSEGV")
            && !stderr.contains("LLVM crashed")
        {
            Verdict::GuestLoops
        } else {
            Verdict::Hang
        };
        return (verdict, stderr);
    };
    use std::os::unix::process::ExitStatusExt;
    let verdict = match (status.code(), status.signal()) {
        // glibc may have said why first ("free(): invalid next size").
        (Some(125), _) if stderr.contains("hyperjit: error: LLVM crashed while") => {
            Verdict::LlvmCrashReported
        }
        (Some(125), _) if stderr.starts_with("hyperjit: error: ") => Verdict::Refused,
        (Some(125), _) => Verdict::UnprefixedError,
        (Some(_), _) if stderr.contains("LLVM ERROR") || stderr.contains("PLEASE submit") => {
            Verdict::Crash("LLVM's own error output".to_string())
        }
        // Our own C++ is built without assertions, as LLVM is: one firing
        // is a build mistake, and it aborts.
        _ if stderr.contains("Assertion `") => Verdict::Crash("an assertion".to_string()),
        (Some(_), _) => Verdict::Ran,
        (None, Some(_)) if stderr.contains("hyperjit: the program was killed by ") => {
            match crashed_in_ours(&stderr) {
                Some(frame) => {
                    Verdict::Crash(format!("a crash in {frame} reported as the program's"))
                }
                None => Verdict::GuestFaultReported,
            }
        }
        (None, signal) => Verdict::Crash(format!("signal {signal:?}, not reported")),
    };
    (verdict, stderr)
}

/// The library a fault report's "  in FUNCTION+0x.. (LIBRARY)" line names,
/// if it is LLVM or hyperjit itself: their crash, not the program's (a
/// mutated program cannot call into either).
fn crashed_in_ours(stderr: &str) -> Option<&'static str> {
    let place = stderr.lines().find_map(|line| line.strip_prefix("  in "))?;
    let library = place
        .rsplit_once(" (")
        .map_or(place, |(_, library)| library);
    if library.contains("libLLVM") {
        Some("LLVM")
    } else if library.contains("hyperjit") {
        Some("hyperjit")
    } else {
        None
    }
}

#[test]
fn fault_reports_naming_llvm_or_hyperjit_are_findings() {
    let llvm = "hyperjit: the program was killed by SIGSEGV at address 0x8\n  \
                in _ZNK4llvm5Value10getContextEv+0x4 (/usr/lib/llvm-19/lib/libLLVM.so.19.1)\n";
    assert_eq!(crashed_in_ours(llvm), Some("LLVM"));
    let ours = "hyperjit: the program was killed by SIGSEGV at address 0x8\n  \
                in hj_rt_call+0x10 (/work/target/release/hyperjit)\n";
    assert_eq!(crashed_in_ours(ours), Some("hyperjit"));
    let guest = "hyperjit: the program was killed by SIGSEGV at address 0x0\n  in main+0x4\n";
    assert_eq!(crashed_in_ours(guest), None);
    let libc = "hyperjit: the program was killed by SIGSEGV at address 0x0\n  \
                in strlen+0x10 (/lib/x86_64-linux-gnu/libc.so.6)\n  called from main+0x8\n";
    assert_eq!(crashed_in_ours(libc), None);
}

#[test]
fn mutated_inputs_end_as_promised() {
    let work = tempfile::tempdir().unwrap();
    let seeds = seeds(work.path());
    let allowed = write(work.path(), "allowed.txt", ALLOWED.join("\n"));
    let out = std::env::var_os("HYPERJIT_FUZZ_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/fuzz-findings"));
    // The smoke repeats its mutations (a CI run fails on a change, not on
    // luck); a long run draws new ones unless told.
    let smoke = std::env::var_os("HYPERJIT_FUZZ_FOR").is_none();
    let seed: u64 = std::env::var("HYPERJIT_FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| if smoke { 20_261_125 } else { fastrand::u64(..) });
    let mut rng = fastrand::Rng::with_seed(seed);
    let budget = budget();
    let started = Instant::now();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut findings: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut executions = 0u64;
    // The default mode (tiered, cached) first.
    let modes: [&[&str]; 4] = [&[], &["--eager"], &["--lazy"], &["--tier"]];
    let more = |executions: u64| match budget {
        Budget::Executions(count) => executions < count,
        Budget::Time(limit) => started.elapsed() < limit,
    };
    while more(executions) {
        let seed_input = &seeds[rng.usize(..seeds.len())];
        let mut bytes = seed_input.bytes.clone();
        for _ in 0..rng.usize(1..4) {
            if seed_input.bitcode {
                mutate_bitcode(&mut rng, &mut bytes);
            } else {
                let mut text = String::from_utf8_lossy(&bytes).into_owned();
                mutate_ir(&mut rng, &mut text);
                bytes = text.into_bytes();
            }
        }
        let extension = if seed_input.bitcode { "bc" } else { "ll" };
        let input = write(work.path(), &format!("input.{extension}"), &bytes);
        let mode = modes[rng.usize(..modes.len())];
        let (verdict, stderr) = run_one(&input, mode, &allowed, HANG_LIMIT);
        executions += 1;
        let class = match &verdict {
            Verdict::Crash(what) => format!("Crash({what})"),
            other => format!("{other:?}"),
        };
        *counts.entry(class.clone()).or_default() += 1;
        // Crashes inside LLVM that hyperjit contained: kept too (a few), as
        // regression inputs.
        let contained = verdict == Verdict::LlvmCrashReported && counts[&class] <= 3;
        if contained {
            std::fs::create_dir_all(&out).unwrap();
            let kept = out.join(format!("contained-{seed}-{}.{extension}", counts[&class]));
            std::fs::write(&kept, &bytes).unwrap();
            std::fs::write(kept.with_extension("txt"), &stderr).unwrap();
        }
        if verdict.is_finding() {
            let first_line = stderr.lines().next().unwrap_or("").to_string();
            let key = format!("{class}: {first_line}");
            if !findings.contains_key(&key) {
                std::fs::create_dir_all(&out).unwrap();
                let number = findings.len() + 1;
                let kept = out.join(format!("finding-{seed}-{number}.{extension}"));
                std::fs::write(&kept, &bytes).unwrap();
                std::fs::write(
                    kept.with_extension("txt"),
                    format!(
                        "{key}\nfrom seed input {}\nhyperjit run {} --sandbox\n\n{stderr}",
                        seed_input.name,
                        mode.join(" ")
                    ),
                )
                .unwrap();
                findings.insert(key, kept);
            }
        }
    }
    println!(
        "fuzz seed {seed}: {executions} executions, {} seed inputs",
        seeds.len()
    );
    for (class, count) in &counts {
        println!("  {class:<40} {count}");
    }
    for (key, path) in &findings {
        println!("  finding: {key}\n    kept in {}", path.display());
    }
    assert!(executions > 0);
    assert!(
        findings.is_empty(),
        "{} findings (seed {seed}): {:#?}",
        findings.len(),
        findings
    );
}
