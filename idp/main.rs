//! The `idp` binary: see `idp --help` and the README.

use std::process::ExitCode;

fn main() -> ExitCode {
    idp::cli::main()
}
