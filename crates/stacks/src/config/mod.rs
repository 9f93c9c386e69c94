//! Suite and stack files: read, checked with the file, line and key of any
//! mistake, and overridden from the command line (`--set`).
//!
//! A suite names its stacks by path (relative to the suite file); each
//! stack file is one [`StackConfig`]. `--set stack.NAME.KEY=VALUE` and
//! `--set suite.KEY=VALUE` change any key after reading (VALUE is a TOML
//! value, or a plain string when it does not parse as one), so the same
//! suite can run against another image: `--set
//! stack.llama-server.launch.image=localhost/llama:new`. Under `launch`,
//! the kind's table may be left out (`launch.image` means
//! `launch.container.image`).

mod check;
mod diagnostics;
mod load;
mod order;
mod overrides;
mod settings;
mod types;

pub use load::{load_suite, load_suite_from, Reader};
pub use order::shuffle_scenarios;
pub use overrides::Override;
pub(crate) use settings::stack_scenario_settings;
pub use types::{BoxFacts, OnOff, Scenario, StackEntry, Suite, SuiteConfig};
