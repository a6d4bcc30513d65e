//! Renders a host's firewall rules and knockd files from the port_knocking role's `*.tera`
//! templates, with the serialized `KnockProfile` as the only context (`knock`). Reads the
//! template files; writes nothing, runs nothing.

use super::{Backend, KnockError, KnockMode, KnockProfile};
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use std::error::Error as _;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::memo::Memo;

/// Templates every mode needs, and the ones only knockd mode needs.
const COMMON: &[&str] = &[
    "rules.tera",
    "rules.v4.tera",
    "rules.v6.tera",
    "default-netfilter-persistent.tera",
    "netfilter-persistent-systemd-override.conf.tera",
    "knock.nft.tera",
    "sesame-knock.service.tera",
    "sesame-knock.init.tera",
];
/// The modes that keep state in xt_recent lists (iptables, single_port).
const RECENT: &[&str] = &["xt_recent.conf.tera"];
const KNOCKD: &[&str] = &[
    "knockd.conf.tera",
    "default-knockd.tera",
    "knockd-systemd-override.conf.tera",
];

/// One rendered file. Its `Debug` shows a digest, not the content (which names the knock ports).
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub content: String,
    /// Octal mode for the target file.
    pub mode: u32,
}

impl fmt::Debug for RenderedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = Sha256::digest(self.content.as_bytes());
        f.debug_struct("RenderedFile")
            .field("bytes", &self.content.len())
            .field("sha256", &hex::encode(&digest[..6]))
            .field("mode", &format_args!("{:04o}", self.mode))
            .finish()
    }
}

/// Rendered files keyed by their absolute target path on the host, in a fixed order.
pub type RenderedFiles = IndexMap<String, RenderedFile>;

pub const RULES_V4: &str = "/etc/iptables/rules.v4";
pub const RULES_V6: &str = "/etc/iptables/rules.v6";
/// netfilter-persistent's settings: load sesame's files without a flush, never save over them.
pub const NETFILTER_DEFAULT: &str = "/etc/default/netfilter-persistent";
pub const NETFILTER_OVERRIDE: &str =
    "/etc/systemd/system/netfilter-persistent.service.d/sesame.conf";
/// The nftables backend: sesame's table, and the unit and init script that load it at boot.
pub const KNOCK_NFT: &str = "/etc/sesame/knock.nft";
pub const KNOCK_NFT_UNIT: &str = "/etc/systemd/system/sesame-knock.service";
pub const KNOCK_NFT_INIT: &str = "/etc/init.d/sesame-knock";
pub const KNOCKD_CONF: &str = "/etc/knockd.conf";
pub const KNOCKD_DEFAULT: &str = "/etc/default/knockd";
pub const KNOCKD_OVERRIDE: &str = "/etc/systemd/system/knockd.service.d/sesame.conf";
pub const XT_RECENT_CONF: &str = "/etc/modprobe.d/sesame-xt_recent.conf";

/// Render every file the profile's mode needs, from `<role_dir>/templates/`. Rules files and
/// knockd.conf hold knock ports and are mode 0600; the others 0644. The xt_recent modes also
/// get a modprobe option that keeps their lists of knockers root-only.
pub fn render(profile: &KnockProfile, role_dir: &Path) -> Result<RenderedFiles, KnockError> {
    let knockd = profile.mode == KnockMode::Knockd;
    let tera = templates(role_dir, knockd).map_err(|e| match e {
        TemplatesError::Read(path, source) => KnockError::TemplateRead { path, source },
        TemplatesError::Parse(e) => template_error("(parse)", &profile.host, &e),
    })?;

    let mut ctx = tera::Context::new();
    ctx.insert("knock", profile);
    let one = |name: &str| -> Result<String, KnockError> {
        tera.render(name, &ctx)
            .map_err(|e| template_error(name, &profile.host, &e))
    };

    let mut files = RenderedFiles::new();
    if profile.backend == Backend::Nftables {
        for (target, name, mode) in [
            (KNOCK_NFT, "knock.nft.tera", 0o600),
            (KNOCK_NFT_UNIT, "sesame-knock.service.tera", 0o644),
            (KNOCK_NFT_INIT, "sesame-knock.init.tera", 0o755),
        ] {
            let content = one(name)?;
            files.insert(target.into(), RenderedFile { content, mode });
        }
    } else {
        iptables_files(&mut files, &one)?;
    }
    if knockd {
        files.insert(
            KNOCKD_CONF.into(),
            RenderedFile {
                content: one("knockd.conf.tera")?,
                mode: 0o600,
            },
        );
        files.insert(
            KNOCKD_DEFAULT.into(),
            RenderedFile {
                content: one("default-knockd.tera")?,
                mode: 0o644,
            },
        );
        files.insert(
            KNOCKD_OVERRIDE.into(),
            RenderedFile {
                content: one("knockd-systemd-override.conf.tera")?,
                mode: 0o644,
            },
        );
    }
    // xt_recent's module options: only the iptables backend's modes without knockd use it.
    if !knockd && profile.backend == Backend::Iptables {
        files.insert(
            XT_RECENT_CONF.into(),
            RenderedFile {
                content: one("xt_recent.conf.tera")?,
                mode: 0o644,
            },
        );
    }
    Ok(files)
}

/// The iptables backend's files: sesame's part of the filter table and netfilter-persistent's
/// settings.
fn iptables_files(
    files: &mut RenderedFiles,
    one: &dyn Fn(&str) -> Result<String, KnockError>,
) -> Result<(), KnockError> {
    files.insert(
        RULES_V4.into(),
        RenderedFile {
            content: one("rules.v4.tera")?,
            mode: 0o600,
        },
    );
    files.insert(
        RULES_V6.into(),
        RenderedFile {
            content: one("rules.v6.tera")?,
            mode: 0o600,
        },
    );
    files.insert(
        NETFILTER_DEFAULT.into(),
        RenderedFile {
            content: one("default-netfilter-persistent.tera")?,
            mode: 0o644,
        },
    );
    files.insert(
        NETFILTER_OVERRIDE.into(),
        RenderedFile {
            content: one("netfilter-persistent-systemd-override.conf.tera")?,
            mode: 0o644,
        },
    );
    Ok(())
}

enum TemplatesError {
    Read(std::path::PathBuf, std::io::Error),
    Parse(tera::Error),
}

/// The role's templates for a mode, read and parsed once per process and shared by every host
/// (a parsed set is ~40 KB: a hundred hosts would each hold their own copy while they render).
fn templates(role_dir: &Path, knockd: bool) -> Result<Arc<tera::Tera>, TemplatesError> {
    static SHARED: Memo<(std::path::PathBuf, bool), (), tera::Tera> = Memo::new();
    SHARED.get_or_try_build((role_dir.to_path_buf(), knockd), (), || {
        let dir = role_dir.join("templates");
        let mut tera = tera::Tera::default();
        // Nothing here is HTML.
        tera.autoescape_on(vec![]);
        let mut sources = Vec::new();
        for name in COMMON.iter().chain(if knockd { KNOCKD } else { RECENT }) {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| TemplatesError::Read(path, e))?;
            sources.push((*name, text));
        }
        tera.add_raw_templates(sources)
            .map_err(TemplatesError::Parse)?;
        Ok(tera)
    })
}

/// tera puts the useful part ("Variable `x` not found in context") in the source chain.
fn template_error(template: &str, host: &str, e: &tera::Error) -> KnockError {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    KnockError::Template {
        template: template.to_string(),
        host: host.to_string(),
        message,
    }
}
