//! `sesame man`: man pages generated from the clap definitions (clap_mangen): `sesame.1` on
//! stdout, or with `--dir DIR` one page per subcommand (`sesame-play.1`, ...) and `sesame.1`.

use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Arguments of `sesame man`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write sesame.1 and one sesame-SUBCOMMAND.1 per subcommand into this directory.
    #[arg(long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Run `sesame man`.
pub fn run(args: Args) -> crate::Result<u8> {
    let cmd = super::Cli::command();
    match &args.dir {
        None => {
            let mut out = Vec::new();
            render(&cmd, &mut out, Path::new("-"))?;
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(&out);
        }
        Some(dir) => {
            for path in write_all(&cmd, dir)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(0)
}

fn render(cmd: &clap::Command, out: &mut Vec<u8>, path: &Path) -> crate::Result<()> {
    clap_mangen::Man::new(cmd.clone())
        .render(out)
        .map_err(|e| crate::Error::Write {
            path: path.to_path_buf(),
            source: e,
        })
}

/// Write `sesame.1` and a page per (visible) subcommand into `dir`; the paths written.
pub fn write_all(cmd: &clap::Command, dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let io = |path: &Path, e| crate::Error::Write {
        path: path.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut cmd = cmd.clone();
    cmd.build();
    let mut written = Vec::new();
    let mut pages = vec![(String::from("sesame"), cmd.clone())];
    // `help` is clap's own and says nothing a page would not.
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("sesame-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        render(&page, &mut out, &path)?;
        std::fs::write(&path, out).map_err(|e| io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
