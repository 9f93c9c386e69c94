//! The client watches its own load: a run whose client was starved of CPU
//! is flagged `saturated` (run.json, summary, tables), a normal run is
//! not, and `--threads` spreads the workers over several runtime threads
//! that all count.
//!
//! The starved client is made for real: it runs at the lowest priority
//! (`nice 19`) pinned to one CPU (`taskset`) that a busy loop at normal
//! priority also holds, so the scheduler gives it about 1.5 % of that CPU:
//! measured, it waits for the CPU 41–44 % of the run (limit 25 %) and
//! answers wake-ups 15–24 ms late at p99 (limit 5 ms). The normal run is
//! light (a few hundred tokens per second): measured beside `stress-ng
//! --cpu 2`, it waits ≤ 1.3 % and answers within 3 ms at p99, since the
//! scheduler runs a thread that mostly sleeps soon after it wakes. The
//! tests in this file take turns with every other test of their binary
//! (`real_test!` takes the machine's turn: the busy loop must not starve
//! another test's client).

use crate::common;
use crate::common::stackbench;

use std::process::{Child, Command, Stdio};

use crate::common::{read_run_json, spawn_sim};

/// A busy loop pinned to `cpu`, killed when dropped.
struct Hog(Child);

impl Hog {
    fn on(cpu: &str) -> Self {
        let child = Command::new("taskset")
            .args(["-c", cpu, "sh", "-c", "while :; do :; done"])
            .stdout(Stdio::null())
            .spawn()
            .expect("taskset (util-linux) runs a busy loop");
        Self(child)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn light_sim() -> common::SimProc {
    spawn_sim(&["--flavor", "vllm", "--ttft-ms", "5", "--decode-tps", "200"])
}

const LIGHT_RUN: &[&str] = &[
    "-c",
    "4",
    "-n",
    "24",
    "--output-tokens",
    "40",
    "--prompt-tokens",
    "16",
    "--warmup-requests",
    "0",
    "--no-metrics",
];

real_test!(
    fn a_normal_run_records_its_load_and_is_not_saturated() {
        let sim = light_sim();
        let dir = tempfile::tempdir().unwrap();
        let out = common::run_bin(&sim.url, dir.path(), LIGHT_RUN);
        out.assert_success();
        let run = read_run_json(dir.path());
        let c = &run["summary"]["client"];
        assert_eq!(c["threads"], 1, "{c}");
        assert_eq!(run["load"]["threads"], 1);
        assert_eq!(c["saturated"], false, "{c}");
        // Probed every 5 ms over a run of about a second.
        assert!(c["wake_lag_ms"]["count"].as_u64().unwrap() >= 20, "{c}");
        if cfg!(target_os = "linux") {
            let per_token = c["cpu_us_per_token"].as_f64().unwrap();
            assert!(per_token > 0.0, "{c}");
            let busy = c["runtime_busy_pct"].as_f64().unwrap();
            assert!((0.0..50.0).contains(&busy), "{c}");
        }
    }
);

real_test!(
    fn a_starved_client_is_flagged_everywhere() {
        let sim = light_sim();
        let _hog = Hog::on("0");
        let dir = tempfile::tempdir().unwrap();
        let out = stackbench(["run", "--base-url", &sim.url, "--out"])
            .arg(dir.path())
            .args(LIGHT_RUN)
            .via(["taskset", "-c", "0", "nice", "-n", "19"])
            .success();
        let run = read_run_json(dir.path());
        let c = &run["summary"]["client"];
        assert_eq!(c["saturated"], true, "{c}");
        let reasons = c["reasons"].to_string();
        assert!(
            reasons.contains("late at p99") || reasons.contains("waited for a CPU"),
            "{reasons}"
        );
        if cfg!(target_os = "linux") {
            // It was ready to run far more than it ran.
            let waiting = c["runtime_waiting_pct"].as_f64().unwrap();
            let busy = c["runtime_busy_pct"].as_f64().unwrap();
            assert!(waiting > 5.0 * busy, "{c}");
        }
        let summary = &out.stdout;
        assert!(
            summary.contains("warning: the client was saturated"),
            "{summary}"
        );

        // The tables mark the run; compare flags it.
        let table = stackbench(["table"]).arg(dir.path()).run();
        let table = &table.stdout;
        assert!(
            table.contains(" †") && table.contains("the client was saturated"),
            "{table}"
        );
        let (_, report, _) = common::compare_bin(dir.path(), dir.path(), &[]);
        assert!(
            report.contains("the client was saturated in the candidate run"),
            "{report}"
        );
    }
);

real_test!(
    fn threads_spread_the_workers_and_every_thread_is_watched() {
        let sim = light_sim();
        let dir = tempfile::tempdir().unwrap();
        let mut args = LIGHT_RUN.to_vec();
        args.extend(["--threads", "3"]);
        let out = common::run_bin(&sim.url, dir.path(), &args);
        out.assert_success();
        let run = read_run_json(dir.path());
        assert_eq!(run["load"]["threads"], 3);
        let s = &run["summary"];
        assert_eq!(s["client"]["threads"], 3, "{}", s["client"]);
        assert_eq!(s["requests"]["ok"], 24);
        assert_eq!(s["output_tokens"], 24 * 40);
        // Every record counted exactly, whichever thread ran it.
        for r in common::measured_records(dir.path()) {
            assert_eq!(r["output_tokens"], 40, "{r}");
            assert_eq!(r["count"]["reconciled"], true, "{r}");
        }
    }
);

real_test!(
    fn threads_out_of_range_are_refused() {
        let out = stackbench(["run", "--base-url", "http://127.0.0.1:9", "--threads", "0"]).run();
        out.assert_code(2);
        let err = &out.stderr;
        assert!(err.contains("--threads"), "{err}");
    }
);
