//! The box's side of a preflight: the memory a stack needs
//! (`memory-need-gib`) is available now, and its port is free.

use stackbench_core::stack::StackConfig;

use super::Verdict;

/// `MemAvailable` now against `memory-need-gib`; nothing when the stack
/// states no need.
pub(super) fn memory_check(s: &StackConfig) -> Option<(&'static str, Verdict, String)> {
    let need = s.memory_need_gib?;
    let Some(available) = crate::memory_need::mem_available_now() else {
        let m = "no MemAvailable in /proc/meminfo".to_string();
        return Some(("memory", Verdict::Unchecked, m));
    };
    Some(match crate::memory_need::check_memory_need(s, available) {
        Ok(()) => (
            "memory",
            Verdict::Ok,
            format!("{available:.1} GiB available, {need} GiB needed at launch"),
        ),
        Err(short) => ("memory", Verdict::Problem, short.to_string()),
    })
}

/// Whether the stack's host port can be bound on loopback now.
pub(super) fn port_check(s: &StackConfig) -> Option<(&'static str, Verdict, String)> {
    let port = super::host_port(s)?;
    Some(match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => ("port", Verdict::Ok, format!("{port} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => (
            "port",
            Verdict::Problem,
            format!(
                "{port} is in use: another server listens there (a native one, or a stack \
                 left running); stop it or change the stack's port"
            ),
        ),
        Err(e) => ("port", Verdict::Unchecked, format!("{port}: {e}")),
    })
}
