//! The preamble every test of the real-server binary shares, written once
//! ([`real_test!`]): the test attribute (a two-thread tokio runtime for an
//! `async fn`), the build-time half of the tools rule (ignored unless the
//! build script found every tool it needs, or `STACKBENCH_REQUIRE_<TOOL>=1`
//! made them required: tools.rs) and the machine's turn
//! ([`SERIAL`](super::SERIAL), timed: turn.rs), so that no test can forget one of the three
//! and none carries its own copy.

/// `real_test!(tool, …; fn name() { … })` (or `async fn`): the test,
/// ignored unless every `tool` (`llama_server`, `vllm`, `ollama`, `podman`,
/// `docker`, `chromium`) is here, holding the machine's turn while it
/// runs. With no tool, `real_test!(fn name() { … })`. Attributes (doc
/// comments) go before the `fn`. The runtime half of the rule stays in the
/// body: `require_tool!(…)` for the tool's paths.
#[allow(unused_macros)]
macro_rules! real_test {
    ($(#[$meta:meta])* fn $($rest:tt)*) => {
        real_test!(; $(#[$meta])* fn $($rest)*);
    };
    ($(#[$meta:meta])* async fn $($rest:tt)*) => {
        real_test!(; $(#[$meta])* async fn $($rest)*);
    };
    ($($tool:ident),* ; $(#[$meta:meta])* async fn $name:ident() $body:block) => {
        real_test!(@needs [$($tool),*] [] []
            { $(#[$meta])* #[tokio::test(flavor = "multi_thread", worker_threads = 2)] }
            async fn $name() {
                let _turn = $crate::common::Turn::new(
                    $crate::common::SERIAL.lock().await,
                    concat!(module_path!(), "::", stringify!($name)),
                );
                $body
            }
        );
    };
    ($($tool:ident),* ; $(#[$meta:meta])* fn $name:ident() $body:block) => {
        real_test!(@needs [$($tool),*] [] []
            { $(#[$meta])* #[test] }
            fn $name() {
                let _turn = $crate::common::Turn::new(
                    $crate::common::serial(),
                    concat!(module_path!(), "::", stringify!($name)),
                );
                $body
            }
        );
    };
    // Each tool adds its cfg and its part of the reason.
    (@needs [llama_server $(, $t:ident)*] [$($cfg:ident)*] [$($why:literal)*] $($item:tt)*) => {
        real_test!(@needs [$($t),*] [$($cfg)* has_llama_server]
            [$($why)* "llama-server (STACKBENCH_REQUIRE_LLAMA_SERVER=1 makes its absence a failure)"] $($item)*);
    };
    (@needs [vllm $(, $t:ident)*] [$($cfg:ident)*] [$($why:literal)*] $($item:tt)*) => {
        real_test!(@needs [$($t),*] [$($cfg)* has_vllm]
            [$($why)* "vLLM (STACKBENCH_REQUIRE_VLLM=1 makes its absence a failure)"] $($item)*);
    };
    (@needs [ollama $(, $t:ident)*] [$($cfg:ident)*] [$($why:literal)*] $($item:tt)*) => {
        real_test!(@needs [$($t),*] [$($cfg)* has_ollama]
            [$($why)* "Ollama (STACKBENCH_REQUIRE_OLLAMA=1 makes its absence a failure)"] $($item)*);
    };
    (@needs [podman $(, $t:ident)*] [$($cfg:ident)*] [$($why:literal)*] $($item:tt)*) => {
        real_test!(@needs [$($t),*] [$($cfg)* has_podman]
            [$($why)* "podman (STACKBENCH_REQUIRE_PODMAN=1 makes its absence a failure)"] $($item)*);
    };
    (@needs [docker $(, $t:ident)*] [$($cfg:ident)*] [$($why:literal)*] $($item:tt)*) => {
        real_test!(@needs [$($t),*] [$($cfg)* has_docker]
            [$($why)* "docker (STACKBENCH_REQUIRE_DOCKER=1 makes its absence a failure)"] $($item)*);
    };
    (@needs [chromium $(, $t:ident)*] [$($cfg:ident)*] [$($why:literal)*] $($item:tt)*) => {
        real_test!(@needs [$($t),*] [$($cfg)* has_chromium]
            [$($why)* "chromium (STACKBENCH_REQUIRE_CHROMIUM=1 makes its absence a failure)"] $($item)*);
    };
    (@needs [] [$($cfg:ident)*] [$($why:literal)*] { $($attr:tt)* } $($item:tt)*) => {
        $($attr)*
        #[cfg_attr(not(all($($cfg),*)), ignore = concat!("needs" $(, " ", $why)*))]
        $($item)*
    };
}
