//! The order a suite's scenarios run in: as written, or shuffled by a
//! seed (`shuffle = SEED`, `--shuffle SEED`), so that a box's heat and
//! drift over a long suite do not line up with depth or load (the Spark
//! Arena runs its depth × concurrency cells in a seeded random order for
//! the same reason). The same seed gives the same order on every machine:
//! the shuffle uses its own small generator (SplitMix64), not a library
//! whose stream could change between versions.

use crate::config::types::SuiteConfig;

/// SplitMix64: the next number from `state`.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Puts `config`'s scenarios in the order its `shuffle` seed gives (a
/// Fisher–Yates shuffle); without a seed, leaves them as written.
pub fn shuffle_scenarios(config: &mut SuiteConfig) {
    let Some(seed) = config.shuffle else {
        return;
    };
    let mut state = seed;
    let s = &mut config.scenarios;
    for i in (1..s.len()).rev() {
        let j = (next(&mut state) % (i as u64 + 1)) as usize;
        s.swap(i, j);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(n: usize, shuffle: Option<u64>) -> SuiteConfig {
        let mut text = String::from("name = \"t\"\nstacks = []\n");
        for i in 0..n {
            text += &format!("[[scenario]]\nname = \"s{i}\"\nconcurrency = 1\nrequests = 1\n");
        }
        let mut c: SuiteConfig = toml::from_str(&text).unwrap();
        c.shuffle = shuffle;
        c
    }

    fn names(c: &SuiteConfig) -> Vec<String> {
        c.scenarios.iter().map(|s| s.name.clone()).collect()
    }

    #[test]
    fn a_seed_gives_one_order_of_every_scenario_and_no_seed_keeps_it() {
        let mut kept = config(28, None);
        shuffle_scenarios(&mut kept);
        let written = names(&kept);
        let mut a = config(28, Some(42));
        let mut b = config(28, Some(42));
        let mut other = config(28, Some(7));
        for c in [&mut a, &mut b, &mut other] {
            shuffle_scenarios(c);
        }
        assert_eq!(names(&a), names(&b), "the same seed, the same order");
        assert_ne!(names(&a), written, "shuffled");
        assert_ne!(names(&a), names(&other), "another seed, another order");
        let mut sorted = names(&a);
        sorted.sort();
        let mut all = written.clone();
        all.sort();
        assert_eq!(sorted, all, "every scenario once");
    }
}
