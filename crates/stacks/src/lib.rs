//! Stacks and suites: the TOML configs (`configs/stacks/*.toml`,
//! `configs/suites/*.toml`) with errors that name the file, line and key;
//! `--set` overrides; launching a stack as a container, a process or a
//! built-in simulated server, waiting until it is really ready and tearing
//! it down whatever happens; sweeping containers an earlier, killed suite
//! left behind; and running a whole suite through `stackbench-runner`.
#![warn(missing_docs)]

mod config;
mod container;
mod error;
mod expand;
mod fetch;
mod fetch_check;
mod hygiene;
mod known_answer;
mod launch;
mod memory_need;
pub mod preflight;
mod process;
mod secret;
mod suite;
mod suite_file;

pub use config::{
    load_suite, load_suite_from, shuffle_scenarios, BoxFacts, OnOff, Override, Reader, Scenario,
    StackEntry, Suite, SuiteConfig,
};
pub use container::{sweep_orphans, LABEL_MANAGED, LABEL_OWNER};
pub use error::{ConfigError, LaunchError};
pub use fetch::{fetch_command, FetchError, FetchRunError};
pub use fetch_check::{check_expected, ExpectError};
pub use launch::{launch_plan, LaunchPlan, Server};
pub use memory_need::{check_memory_need, MemoryShort};
pub use secret::{mark_secret_env, redact, redact_args};
pub use suite::{run_suite, SuiteObserver, SuiteOptions, SuiteOutcome};
pub use suite_file::{StackOutcome, StackStatus, SuiteFile, SUITE_SCHEMA_VERSION};
