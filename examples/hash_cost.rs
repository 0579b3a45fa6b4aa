//! The cost of one argon2id password check at idp's parameters, for `scripts/bench.sh`:
//! verifies a password `ROUNDS` times on one thread and prints the median in microseconds,
//! as one JSON line. Run it on an otherwise idle machine (the benchmark does, between loads).
//!
//!   cargo run --release --example hash_cost

use std::time::Instant;

use idp::crypto::password;
use secrecy::SecretString;

const ROUNDS: usize = 41;

fn main() -> Result<(), password::HashError> {
    let secret = SecretString::from("correct horse battery staple");
    let phc = password::hash(&secret)?;
    let mut micros: Vec<u128> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let matches = password::verify(&secret, &phc);
            let took = start.elapsed().as_micros();
            if !matches {
                eprintln!("hash_cost: the password did not verify");
                std::process::exit(1);
            }
            took
        })
        .collect();
    micros.sort_unstable();
    println!(
        "{{\"rounds\":{ROUNDS},\"median_us\":{},\"min_us\":{},\"memory_kib\":{},\"iterations\":{},\"parallelism\":{}}}",
        micros[ROUNDS / 2],
        micros[0],
        password::MEMORY_KIB,
        password::ITERATIONS,
        password::PARALLELISM
    );
    Ok(())
}
