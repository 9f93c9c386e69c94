//! The container engines the container tests run on, podman and docker
//! (DGX OS runs docker; these development VMs run both): one test body per
//! behaviour, called once per engine. scripts/test.sh builds the images with
//! podman, loads them into docker (scripts/start-docker.sh) and sets
//! `STACKBENCH_REQUIRE_PODMAN` and `STACKBENCH_REQUIRE_DOCKER`, so under the
//! test command a missing engine or image fails the test; elsewhere the
//! test is ignored (tools.rs: an engine counts as here when it answers and
//! holds the images).

use std::process::{Command, Stdio};

/// The engine-args every local container stack passes: runc, ulimits within
/// the VM's hard limits (docs/containers.md) and an init that stops the
/// server on SIGTERM. Both engines take them.
pub const ENGINE_ARGS: &str = r#"["--init", "--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]"#;

/// A container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Podman,
    Docker,
}

impl Engine {
    /// Its program, and its name in a stack file (`engine = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Podman => "podman",
            Self::Docker => "docker",
        }
    }

    /// Fails the test unless the engine answers and holds the test
    /// images (see tools.rs).
    #[track_caller]
    pub fn require(self) {
        match self {
            Self::Podman => require_tool!(podman),
            Self::Docker => require_tool!(docker),
        };
    }

    /// The version of the engine that runs the containers: docker's
    /// daemon's, not its client's (they differ where a newer client drives
    /// Debian's 20.10 daemon).
    pub fn server_version(self) -> String {
        let out = Command::new(self.name())
            .args(["version", "-f", "{{.Server.Version}}"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} version: {}",
            self.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// IDs of the containers, running or not, labelled `label` (`KEY=VALUE`).
    pub fn containers(self, label: &str) -> Vec<String> {
        let out = Command::new(self.name())
            .args(["ps", "-a", "-q", "--filter", &format!("label={label}")])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} ps: {}",
            self.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}
