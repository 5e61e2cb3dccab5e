//! A rule pack loaded the one way every command and the service's hot reload
//! use: read the rule and lexicon files, build the engine, lint it, and run
//! the rules' own tests. A pack with an error or a failing test is refused
//! whole, so `kestrel rules check`, `kestrel scan`, `kestrel run` at start-up
//! and a reload all accept and refuse the same files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::{BuildError, Engine, EngineOptions};
use crate::rules::{self, Level, Problem};
use crate::ruletest::{self, Failure};

/// Whether [`RulePack::load`] runs the rules' tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleTests {
    /// Run them; a failing case refuses the pack (the contract for serving).
    Run,
    /// Do not run them (`rules check`, `explain`, `scan --skip-rule-tests`).
    Skip,
}

/// Why a rule pack was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The files have errors (file:line:col each); warnings come along.
    #[error("{errors} error(s) in the rules at {}", dir.display())]
    Rules {
        /// The rule directory.
        dir: PathBuf,
        /// Every error and warning found, in file order.
        problems: Vec<Problem>,
        /// How many of `problems` are errors.
        errors: usize,
    },
    /// The rules loaded but did not compile.
    #[error("compiling the rules in {}: {source}", dir.display())]
    Build {
        /// The rule directory.
        dir: PathBuf,
        /// What did not compile.
        #[source]
        source: BuildError,
    },
    /// A rule's own test failed.
    #[error("{} rule test(s) failed in {}", failures.len(), dir.display())]
    Tests {
        /// The rule directory.
        dir: PathBuf,
        /// Every failing case.
        failures: Vec<Failure>,
    },
}

impl PackError {
    /// One line per problem, with its place, for logs, the status page and
    /// stderr (no post text).
    pub fn lines(&self) -> Vec<String> {
        match self {
            PackError::Rules { problems, .. } => problems
                .iter()
                .filter(|p| p.level == Level::Error)
                .map(ToString::to_string)
                .collect(),
            PackError::Build { .. } => vec![self.to_string()],
            PackError::Tests { failures, .. } => failures.iter().map(Failure::line).collect(),
        }
    }
}

/// A loaded, compiled, linted (and, when asked, tested) rule pack.
pub struct RulePack {
    engine: Engine,
    warnings: Vec<Problem>,
}

impl std::fmt::Debug for RulePack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulePack")
            .field("rules", &self.engine.rule_set().rules.len())
            .field("warnings", &self.warnings.len())
            .finish()
    }
}

impl RulePack {
    /// Loads the pack under `dir`, within the limits of `options`.
    pub fn load(
        dir: &Path,
        options: &EngineOptions,
        tests: RuleTests,
    ) -> Result<RulePack, PackError> {
        let loaded = rules::load_dir_with(dir, &options.limits).map_err(|e| {
            let errors = e
                .problems
                .iter()
                .filter(|p| p.level == Level::Error)
                .count();
            PackError::Rules {
                dir: dir.to_path_buf(),
                problems: e.problems,
                errors,
            }
        })?;
        let engine =
            Engine::build(Arc::new(loaded.set), options).map_err(|source| PackError::Build {
                dir: dir.to_path_buf(),
                source,
            })?;
        let mut problems = loaded.warnings;
        problems.extend(crate::lint::lint(&engine));
        let errors = problems.iter().filter(|p| p.level == Level::Error).count();
        if errors > 0 {
            return Err(PackError::Rules {
                dir: dir.to_path_buf(),
                problems,
                errors,
            });
        }
        if tests == RuleTests::Run {
            let report = ruletest::run(&engine);
            if !report.passed() {
                return Err(PackError::Tests {
                    dir: dir.to_path_buf(),
                    failures: report.failures,
                });
            }
        }
        Ok(RulePack {
            engine,
            warnings: problems,
        })
    }

    /// The compiled engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Warnings that did not stop the pack (past review dates, lints).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// The engine and the warnings.
    pub fn into_parts(self) -> (Engine, Vec<Problem>) {
        (self.engine, self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, yaml: &str) {
        std::fs::write(dir.join("r.yaml"), yaml).unwrap();
    }

    const RULE: &str = "rules:\n  - id: t.join\n    title: t\n    category: recruitment\n    severity: high\n    status: active\n    terms:\n      join: {words: [join]}\n    condition: join\n";

    #[test]
    fn a_good_pack_loads_with_its_tests_run() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &format!("{RULE}    tests:\n      match: [\"join us\"]\n      no_match: [\"hello\"]\n"),
        );
        let pack = RulePack::load(d.path(), &EngineOptions::default(), RuleTests::Run).unwrap();
        assert_eq!(pack.engine().rule_set().rules.len(), 1);
    }

    #[test]
    fn a_failing_rule_test_refuses_the_pack_only_when_tests_run() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &format!("{RULE}    tests:\n      match: [\"hello\"]\n"),
        );
        let e = RulePack::load(d.path(), &EngineOptions::default(), RuleTests::Run).unwrap_err();
        let PackError::Tests { failures, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(failures.len(), 1);
        assert!(e.lines()[0].contains("r.yaml:"), "{:?}", e.lines());
        RulePack::load(d.path(), &EngineOptions::default(), RuleTests::Skip).unwrap();
    }

    #[test]
    fn a_lint_error_refuses_the_pack_as_a_load_error_does() {
        // A test post in a field scan never reads: the loader accepts it,
        // the lint (which knows the configured text fields) refuses it.
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &format!("{RULE}    tests:\n      match:\n        - {{\"title\": \"join us\"}}\n"),
        );
        let options = EngineOptions {
            text_fields: vec!["text".to_string()],
            ..EngineOptions::default()
        };
        rules::load_dir(d.path()).expect("the loader alone accepts it");
        let e = RulePack::load(d.path(), &options, RuleTests::Skip).unwrap_err();
        let PackError::Rules { errors, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(*errors, 1);
        assert!(e.lines()[0].contains("r.yaml:"), "{:?}", e.lines());
    }
}
