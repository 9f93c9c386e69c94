//! Decides, for the integration tests, which real programs are here: a
//! test that needs one is compiled with `#[ignore]` when it is missing and
//! not required, so `cargo test` lists it as ignored instead of passing it
//! without running it. The rule and the lookup live in
//! tests/common/tools.rs, which the tests use at run time too; this script
//! only turns them into `cfg(has_<tool>)`. It does not touch the binary.

#[path = "tests/common/tools.rs"]
#[allow(dead_code)]
mod tools;

use tools::Tool;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=tests/common/tools.rs");
    for tool in Tool::ALL {
        println!("cargo:rustc-check-cfg=cfg({})", tool.cfg());
        println!("cargo:rerun-if-env-changed={}", tool.require_var());
        for var in tool.inputs() {
            println!("cargo:rerun-if-env-changed={var}");
        }
        let required = match tool.required() {
            Ok(r) => r,
            Err(e) => {
                println!("cargo:warning={e}");
                false
            }
        };
        let found = tool.find();
        // Only paths that exist: a missing one would rerun this script,
        // and rebuild the crate, on every build.
        for path in found.iter().flatten() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        if found.is_ok() || required {
            println!("cargo:rustc-cfg={}", tool.cfg());
        }
    }
}
