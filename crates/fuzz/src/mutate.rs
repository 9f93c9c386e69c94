//! The mutator: stacks 1–8 random edits on a corpus input (bit flips,
//! interesting bytes, dictionary tokens, deletions, duplications, splices
//! with another input, truncation). No coverage feedback: the seeds are
//! real captures and configs, so the edits stay close to what a broken
//! server or a mistyped file produces.

use rand::rngs::SmallRng;
use rand::Rng;

/// Bytes that change how a parser reads what follows.
const INTERESTING: &[u8] = b"\x00\xff\x80\n\r:\"{}[],\\ ";

/// Mutates `base` into `out`, drawing from `rng`; `other` is a second
/// corpus input for splicing, `dict` the target's tokens; the result is at
/// most `max_len` bytes.
pub fn mutate(
    rng: &mut SmallRng,
    base: &[u8],
    other: &[u8],
    dict: &[&[u8]],
    max_len: usize,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(base);
    let edits = rng.gen_range(1..=8);
    for _ in 0..edits {
        edit(rng, other, dict, out);
    }
    out.truncate(max_len);
}

fn edit(rng: &mut SmallRng, other: &[u8], dict: &[&[u8]], out: &mut Vec<u8>) {
    let len = out.len();
    let at = |rng: &mut SmallRng, n: usize| if n == 0 { 0 } else { rng.gen_range(0..=n) };
    match rng.gen_range(0..9) {
        0 if len > 0 => {
            let i = rng.gen_range(0..len);
            out[i] ^= 1 << rng.gen_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.gen_range(0..len);
            out[i] = INTERESTING[rng.gen_range(0..INTERESTING.len())];
        }
        2 if !dict.is_empty() => {
            let token = dict[rng.gen_range(0..dict.len())];
            let i = at(rng, len);
            out.splice(i..i, token.iter().copied());
        }
        3 if len > 0 => {
            let i = rng.gen_range(0..len);
            let n = rng.gen_range(1..=(len - i).min(64));
            out.drain(i..i + n);
        }
        4 if len > 0 => {
            let i = rng.gen_range(0..len);
            let n = rng.gen_range(1..=(len - i).min(256));
            let copy: Vec<u8> = out[i..i + n].to_vec();
            let j = at(rng, len);
            out.splice(j..j, copy);
        }
        5 if !other.is_empty() => {
            // Splice: our head, the other input's tail.
            let i = at(rng, len);
            let j = rng.gen_range(0..other.len());
            out.truncate(i);
            out.extend_from_slice(&other[j..]);
        }
        6 => {
            let i = at(rng, len);
            out.truncate(i);
        }
        7 => {
            let i = at(rng, len);
            let n = rng.gen_range(1..=16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            out.splice(i..i, bytes);
        }
        _ => {
            // A digit run: numbers at and past every integer bound.
            let i = at(rng, len);
            let digits = [
                "0",
                "-1",
                "1e309",
                "18446744073709551616",
                "4294967296",
                "NaN",
            ];
            let d = digits[rng.gen_range(0..digits.len())];
            out.splice(i..i, d.bytes());
        }
    }
}
