//! At which level the engine compiles a unit of code, decided in one place
//! for every way code comes to be built: a batch, a body on its first call,
//! a recompile, a redefinition, a caller compiled again because it had
//! inlined a redefined function. Tiered compilation changes the answers:
//! new bodies go live at the baseline (-O0 code generation) and reach
//! their level from the tier thread. The table test below is the rule.

/// A unit of code the engine builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unit {
    /// A batch of inputs, compiled whole or split into a lazy skeleton.
    Batch,
    /// A function's body on its first call; `baseline_pays`: whether
    /// starting it at the baseline pays (`compile::starts_at_baseline`:
    /// large, or without loops).
    FirstCall { baseline_pays: bool },
    /// A body the host recompiles at `opt_level`.
    Recompile { opt_level: u8 },
    /// The body a redefinition gives a function.
    Redefinition,
    /// A caller that had inlined a redefined function, compiled again.
    InliningCaller,
}

/// How a unit is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Build {
    /// The code generator's level; `None`: the engine's.
    pub(super) level: Option<u8>,
    /// The code counts its calls and loop iterations, and the tier thread
    /// recompiles it at the engine's level once it is hot.
    pub(super) counted: bool,
    /// The tier thread is asked at once to recompile it at this level.
    pub(super) tier_up_to: Option<u8>,
}

/// How `unit` is compiled by an engine at `engine_level`, tiered or not.
pub(super) fn plan(unit: Unit, tiering: bool, engine_level: u8) -> Build {
    let at = |level: Option<u8>| Build {
        level,
        counted: false,
        tier_up_to: None,
    };
    match (unit, tiering) {
        (Unit::Batch, _) | (Unit::FirstCall { .. }, false) | (Unit::Redefinition, false) => {
            at(None)
        }
        (Unit::FirstCall { baseline_pays }, true) => Build {
            level: baseline_pays.then_some(0),
            counted: baseline_pays,
            tier_up_to: None,
        },
        (Unit::Recompile { opt_level }, false) => at(Some(opt_level)),
        (Unit::Recompile { opt_level }, true) => Build {
            tier_up_to: Some(opt_level),
            ..at(Some(0))
        },
        (Unit::Redefinition, true) => Build {
            tier_up_to: Some(engine_level),
            ..at(Some(0))
        },
        (Unit::InliningCaller, _) => at(Some(engine_level)),
    }
}

/// Every level an input's code may be generated at, by this rule, in an
/// engine at `engine_level`: what `hyperjit check` compiles it at, so that
/// what would crash LLVM later crashes the check instead. (A recompile's
/// level is the host's choice when it asks, and is not among them.)
pub(super) fn levels_an_input_reaches(tiering: bool, engine_level: u8) -> Vec<u8> {
    let units = [
        Unit::Batch,
        Unit::FirstCall {
            baseline_pays: true,
        },
        Unit::FirstCall {
            baseline_pays: false,
        },
        Unit::Redefinition,
        Unit::InliningCaller,
    ];
    let mut levels: Vec<u8> = units
        .into_iter()
        .flat_map(|unit| {
            let build = plan(unit, tiering, engine_level);
            [build.level.unwrap_or(engine_level)]
                .into_iter()
                .chain(build.tier_up_to)
                .chain(build.counted.then_some(engine_level))
        })
        .collect();
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    levels
}

#[cfg(test)]
mod tests {
    use super::{levels_an_input_reaches, plan, Build, Unit};

    /// The engine's level, and the baseline when tiered.
    #[test]
    fn an_input_is_checked_at_every_level_it_reaches() {
        assert_eq!(levels_an_input_reaches(false, 2), [2]);
        assert_eq!(levels_an_input_reaches(true, 2), [2, 0]);
        assert_eq!(levels_an_input_reaches(true, 0), [0]);
        assert_eq!(levels_an_input_reaches(false, 0), [0]);
    }

    #[test]
    fn each_unit_is_compiled_at_its_level() {
        let build = |level, counted, tier_up_to| Build {
            level,
            counted,
            tier_up_to,
        };
        let first_call = |baseline_pays| Unit::FirstCall { baseline_pays };
        let recompile = Unit::Recompile { opt_level: 1 };
        #[rustfmt::skip]
        let table = [
            // unit,               tiering, level,   counted, tier-up
            (Unit::Batch,          false, build(None,    false, None)),
            (Unit::Batch,          true,  build(None,    false, None)),
            (first_call(true),     false, build(None,    false, None)),
            (first_call(false),    false, build(None,    false, None)),
            (first_call(true),     true,  build(Some(0), true,  None)),
            (first_call(false),    true,  build(None,    false, None)),
            (recompile,            false, build(Some(1), false, None)),
            (recompile,            true,  build(Some(0), false, Some(1))),
            (Unit::Redefinition,   false, build(None,    false, None)),
            (Unit::Redefinition,   true,  build(Some(0), false, Some(3))),
            (Unit::InliningCaller, false, build(Some(3), false, None)),
            (Unit::InliningCaller, true,  build(Some(3), false, None)),
        ];
        for (unit, tiering, expected) in table {
            assert_eq!(
                plan(unit, tiering, 3),
                expected,
                "{unit:?}, tiering {tiering}"
            );
        }
    }
}
