//! Which functions' optimized bodies hold another function's code: when
//! the engine's IR pipeline inlines `f` into `g`, a later redefinition of
//! `f` must also replace `g`'s body, or `g` keeps running the old `f` (as a
//! JVM deoptimizes the code that inlined a method it redefines). The
//! pipeline is left free to inline; what it did is read off the direct
//! calls before and after, and the IR from before is kept for the bodies
//! to be compiled again without the old code.

use crate::llvm::{Bitcode, CallingFunction};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the IR pipeline inlined in one module, and the module as it was.
#[derive(Clone)]
pub(crate) struct Inlining {
    /// The module before the pipeline ran.
    pub(crate) unoptimized: Bitcode,
    /// For each external function whose code may be in others' bodies,
    /// those functions (by their names in the module).
    pub(crate) dependents: BTreeMap<String, BTreeSet<String>>,
    /// The module's internal functions: linked under promoted names.
    pub(crate) internal: BTreeSet<String>,
}

impl Inlining {
    /// What changed between the direct calls `before` and `after` the
    /// pipeline; `None` if no external function's code moved into another.
    pub(crate) fn found(
        before: &[CallingFunction],
        after: &[CallingFunction],
        unoptimized: Bitcode,
    ) -> Option<Inlining> {
        let dependents = inlined(before, after);
        if dependents.is_empty() {
            return None;
        }
        let internal = before
            .iter()
            .filter(|function| function.internal)
            .map(|function| function.name.clone())
            .collect();
        Some(Inlining {
            unoptimized,
            dependents,
            internal,
        })
    }
}

/// For each external function, the functions whose body may hold its
/// code after the pipeline: `g` does if, of a callee `c` it called before,
/// fewer calls are left after, and `f` is `c` or reachable from `c`
/// (inlining `c` brought along what `c` had inlined, or calls). An
/// over-approximation (a call the optimizer deleted counts as inlined):
/// what it costs is a body compiled again that need not have been.
fn inlined(
    before: &[CallingFunction],
    after: &[CallingFunction],
) -> BTreeMap<String, BTreeSet<String>> {
    let index: HashMap<&str, usize> = before
        .iter()
        .enumerate()
        .map(|(i, function)| (function.name.as_str(), i))
        .collect();
    let callees: Vec<Vec<(usize, u32)>> = before
        .iter()
        .map(|function| {
            function
                .callees
                .iter()
                .filter_map(|(name, count)| Some((*index.get(name.as_str())?, *count)))
                .collect()
        })
        .collect();
    let mut reach: HashMap<usize, Vec<bool>> = HashMap::new();
    let mut dependents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for function in after {
        let Some(&caller) = index.get(function.name.as_str()) else {
            continue;
        };
        let left = |callee: usize| {
            let name = &before[callee].name;
            function
                .callees
                .iter()
                .find(|(other, _)| other == name)
                .map_or(0, |(_, count)| *count)
        };
        for &(callee, count) in &callees[caller] {
            if left(callee) >= count {
                continue;
            }
            let reached = reach
                .entry(callee)
                .or_insert_with(|| reachable(&callees, callee));
            for (inlined, _) in reached.iter().enumerate().filter(|(_, &r)| r) {
                let inlined = &before[inlined];
                if !inlined.internal && inlined.name != function.name {
                    dependents
                        .entry(inlined.name.clone())
                        .or_default()
                        .insert(function.name.clone());
                }
            }
        }
    }
    dependents
}

/// The functions reachable from `start` by direct calls, `start` too.
fn reachable(callees: &[Vec<(usize, u32)>], start: usize) -> Vec<bool> {
    let mut seen = vec![false; callees.len()];
    let mut pending = vec![start];
    seen[start] = true;
    while let Some(next) = pending.pop() {
        for &(callee, _) in &callees[next] {
            if !seen[callee] {
                seen[callee] = true;
                pending.push(callee);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::inlined;
    use crate::llvm::CallingFunction;

    fn function(name: &str, internal: bool, callees: &[(&str, u32)]) -> CallingFunction {
        CallingFunction {
            name: name.to_string(),
            internal,
            callees: callees.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
        }
    }

    #[test]
    fn a_call_that_disappeared_makes_its_callee_and_what_it_reaches_inlined() {
        let before = [
            function("main", false, &[("user", 1), ("helper", 1)]),
            function("user", false, &[("sq", 2)]),
            function("sq", false, &[]),
            function("helper", true, &[("leaf", 1)]),
            function("leaf", false, &[]),
            function("kept", false, &[("sq", 1)]),
        ];
        let after = [
            // main still calls user; helper (and with it leaf) was inlined.
            function("main", false, &[("user", 1)]),
            // One of two calls of sq inlined: still a dependent.
            function("user", false, &[("sq", 1)]),
            function("sq", false, &[]),
            function("leaf", false, &[]),
            function("kept", false, &[("sq", 1)]),
        ];
        let found = inlined(&before, &after);
        let names =
            |callee: &str| -> Vec<&str> { found[callee].iter().map(String::as_str).collect() };
        assert_eq!(names("sq"), ["user"]);
        assert_eq!(names("leaf"), ["main"]);
        // Internal functions are not redefined by name; nothing else moved.
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
