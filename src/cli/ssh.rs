//! `sesame ssh`: not built yet; says so instead of pretending.

/// Arguments of `sesame ssh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Everything else, accepted until the real flags land.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Run `sesame ssh`.
pub fn run(_args: Args) -> crate::Result<u8> {
    Err(crate::Error::NotImplemented("ssh"))
}
