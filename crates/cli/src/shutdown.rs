//! Ctrl-C and SIGTERM. The first asks the work in hand to stop gracefully
//! (records and `run.json` finished, launched servers torn down); a second
//! abandons the work in hand but still tears down. Nothing here exits the
//! process: `Drop`s and teardown always run on the way out.

use tokio_util::sync::CancellationToken;

/// The two stop levels.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// First signal: stop starting new work, finish what is recorded.
    pub soft: CancellationToken,
    /// Second signal: abandon the work in hand now.
    pub hard: CancellationToken,
}

impl Shutdown {
    /// Listens for SIGINT and SIGTERM from now on.
    pub fn listen() -> Self {
        let s = Self::default();
        let (soft, hard) = (s.soft.clone(), s.hard.clone());
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        tracing::warn!("cannot listen for SIGTERM: {e}");
                        None
                    }
                };
            let why = next_signal(&mut term).await;
            eprintln!("\n{why}: finishing the records and run.json, then tearing down (again to abandon the work in hand)");
            soft.cancel();
            let why = next_signal(&mut term).await;
            eprintln!("\n{why} again: abandoning the work in hand; tearing down");
            hard.cancel();
        });
        s
    }

    /// True once any stop was asked for.
    pub fn stopping(&self) -> bool {
        self.soft.is_cancelled()
    }
}

/// Waits for SIGINT or (when it could be listened for) SIGTERM.
async fn next_signal(term: &mut Option<tokio::signal::unix::Signal>) -> &'static str {
    match term.as_mut() {
        Some(t) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted",
            _ = t.recv() => "terminated",
        },
        None => {
            let _ = tokio::signal::ctrl_c().await;
            "interrupted"
        }
    }
}
