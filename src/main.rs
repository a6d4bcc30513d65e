//! The `sesame` binary: parse the command line, hand it to the library, map the outcome to an
//! exit code. Nothing else lives here, so every behaviour is reachable from tests.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = sesame::cli::Cli::parse();
    sesame::cli::main(cli)
}
