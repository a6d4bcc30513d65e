//! `sesame play`: not built yet; says so instead of pretending.

/// Arguments of `sesame play`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Everything else, accepted until the real flags land.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Run `sesame play`.
pub fn run(_args: Args) -> crate::Result<u8> {
    Err(crate::Error::NotImplemented("play"))
}
