//! Ansible Vault: the secrets Ansible users keep in their inventories and vars files, read as
//! `ansible-vault` writes them (format 1.1 and 1.2 with a vault id, cipher AES256: PBKDF2-SHA256
//! with 10000 rounds gives the AES-256-CTR key, the HMAC-SHA256 key and the counter; the HMAC of
//! the ciphertext is checked before anything is decrypted). Whole encrypted files and `!vault`
//! values both decrypt. A decrypted `!vault` value is added to the words masked in all output
//! (values of a wholly encrypted file are not, as in Ansible; secrets sesame knows by name, such
//! as knock sequences and passwords, are masked wherever they come from).
//!
//! Passwords come from `--vault-password-file`/`--vault-id [label@]FILE` (an executable file is
//! run and its output used, as Ansible does), `--ask-vault-pass`, or `ANSIBLE_VAULT_PASSWORD_FILE`
//! / `ANSIBLE_VAULT_IDENTITY_LIST`. They are installed once per process before anything loads.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The envelope's first line starts with this.
pub const HEADER: &str = "$ANSIBLE_VAULT;";
/// How Ansible writes a still-encrypted value in JSON (`ansible-inventory --list`).
pub const JSON_KEY: &str = "__ansible_vault";
/// PBKDF2 rounds of VaultAES256.
const ROUNDS: u32 = 10_000;

/// Why a vault password could not be read or a vault not decrypted.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "it is vault-encrypted and no vault password was given (use --vault-password-file FILE, \
         --vault-id [label@]FILE or --ask-vault-pass)"
    )]
    NoSecrets,
    #[error("not a vault sesame can read: {0}")]
    Format(String),
    #[error("no vault password given decrypts it{} (tried {tried}: HMAC mismatch)", .label.as_ref().map(|l| format!(": it is for vault id `{l}`")).unwrap_or_default())]
    NoMatch {
        label: Option<String>,
        tried: String,
    },
    #[error("vault password file {path}: {reason}")]
    PasswordFile { path: PathBuf, reason: String },
}

/// One vault password and its optional vault id (`label@file`).
#[derive(Clone)]
pub struct Secret {
    pub id: Option<String>,
    password: Vec<u8>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("id", &self.id)
            .field("password", &"********")
            .finish()
    }
}

impl Secret {
    pub fn new(id: Option<String>, password: impl Into<Vec<u8>>) -> Self {
        Secret {
            id,
            password: password.into(),
        }
    }

    /// Read a password file as Ansible does: an executable is run and its stdout used; either
    /// way surrounding whitespace is stripped, and an empty password is an error.
    pub fn from_file(id: Option<String>, path: &Path) -> Result<Secret, VaultError> {
        use std::os::unix::fs::PermissionsExt;
        let bad = |reason: String| VaultError::PasswordFile {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        let raw = if meta.permissions().mode() & 0o111 != 0 && meta.is_file() {
            let out = std::process::Command::new(path)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| bad(format!("cannot run it: {e}")))?;
            if !out.status.success() {
                return Err(bad(format!("the script failed ({})", out.status)));
            }
            out.stdout
        } else {
            std::fs::read(path).map_err(|e| bad(e.to_string()))?
        };
        let password = raw.trim_ascii().to_vec();
        if password.is_empty() {
            return Err(bad("the password is empty".into()));
        }
        Ok(Secret::new(id, password))
    }
}

/// The vault passwords of this run.
#[derive(Debug, Clone, Default)]
pub struct Vault {
    secrets: Vec<Secret>,
}

impl Vault {
    pub fn new(secrets: Vec<Secret>) -> Self {
        Vault { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Decrypt one envelope (`$ANSIBLE_VAULT;1.1;AES256` + hex lines). A secret whose id
    /// matches the envelope's label is tried first, then the others.
    pub fn decrypt(&self, envelope: &str) -> Result<Vec<u8>, VaultError> {
        if self.secrets.is_empty() {
            return Err(VaultError::NoSecrets);
        }
        let parsed = Envelope::parse(envelope)?;
        // A secret whose id names the envelope's label first, then all the others.
        let (mut order, rest): (Vec<&Secret>, Vec<&Secret>) = self
            .secrets
            .iter()
            .partition(|s| parsed.label.is_some() && s.id == parsed.label);
        order.extend(rest);
        for s in &order {
            if let Some(plain) = parsed.open(&s.password)? {
                return Ok(plain);
            }
        }
        Err(VaultError::NoMatch {
            label: parsed.label.clone(),
            tried: order
                .iter()
                .map(|s| s.id.clone().unwrap_or_else(|| "default".into()))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// `decrypt` as UTF-8 text.
    pub fn decrypt_text(&self, envelope: &str) -> Result<String, VaultError> {
        let plain = self.decrypt(envelope)?;
        String::from_utf8(plain)
            .map_err(|_| VaultError::Format("the decrypted data is not UTF-8 text".into()))
    }

    /// Decrypt a `!vault` value: its text, remembered as a secret to mask in all output.
    pub fn decrypt_value(&self, envelope: &str) -> Result<String, VaultError> {
        let text = self.decrypt_text(envelope)?;
        remember_secret(&text);
        Ok(text)
    }
}

/// Whether a file's text is a whole vault-encrypted file.
pub fn is_vault(text: &str) -> bool {
    text.trim_start().starts_with(HEADER)
}

/// One parsed envelope.
struct Envelope {
    label: Option<String>,
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Envelope {
    fn parse(text: &str) -> Result<Envelope, VaultError> {
        let bad = |m: &str| VaultError::Format(m.to_string());
        let mut lines = text.trim().lines();
        let header = lines.next().ok_or_else(|| bad("empty"))?.trim();
        let fields: Vec<&str> = header.split(';').map(str::trim).collect();
        let (version, cipher, label) = match fields.as_slice() {
            ["$ANSIBLE_VAULT", v, c] => (*v, *c, None),
            ["$ANSIBLE_VAULT", v, c, l] => (*v, *c, Some(l.to_string())),
            _ => {
                return Err(bad(
                    "the first line is not $ANSIBLE_VAULT;VERSION;CIPHER[;ID]",
                ))
            }
        };
        if !matches!(version, "1.1" | "1.2") {
            return Err(VaultError::Format(format!(
                "format version {version} (1.1 and 1.2 are read)"
            )));
        }
        if cipher != "AES256" {
            return Err(VaultError::Format(format!(
                "cipher {cipher} (only AES256 is read)"
            )));
        }
        let body: String = lines.flat_map(|l| l.split_whitespace()).collect();
        let inner = hex::decode(&body).map_err(|_| bad("the body is not hex"))?;
        let inner = String::from_utf8(inner).map_err(|_| bad("the body is not salt/hmac/data"))?;
        let mut parts = inner.split('\n');
        let mut next = |what: &str| -> Result<Vec<u8>, VaultError> {
            let p = parts
                .next()
                .ok_or_else(|| VaultError::Format(format!("no {what}")))?;
            hex::decode(p.trim()).map_err(|_| VaultError::Format(format!("the {what} is not hex")))
        };
        let salt = next("salt")?;
        let hmac = next("hmac")?;
        let ciphertext = next("ciphertext")?;
        Ok(Envelope {
            label,
            salt,
            hmac,
            ciphertext,
        })
    }

    /// The plaintext if `password` opens it (`None` when the HMAC does not match).
    fn open(&self, password: &[u8]) -> Result<Option<Vec<u8>>, VaultError> {
        use aes::cipher::{KeyIvInit, StreamCipher};
        let mut keys = [0u8; 80];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, &self.salt, ROUNDS, &mut keys);
        let (aes_key, rest) = keys.split_at(32);
        let (hmac_key, iv) = rest.split_at(32);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(hmac_key)
            .map_err(|_| VaultError::Format("bad HMAC key".into()))?;
        mac.update(&self.ciphertext);
        if mac.verify_slice(&self.hmac).is_err() {
            return Ok(None);
        }
        let mut data = self.ciphertext.clone();
        let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new(aes_key.into(), iv.into());
        cipher.apply_keystream(&mut data);
        // PKCS#7 padding to the AES block size.
        let pad = usize::from(
            *data
                .last()
                .ok_or_else(|| VaultError::Format("no data".into()))?,
        );
        if pad == 0
            || pad > 16
            || pad > data.len()
            || !data[data.len() - pad..]
                .iter()
                .all(|b| usize::from(*b) == pad)
        {
            return Err(VaultError::Format("bad padding after decryption".into()));
        }
        data.truncate(data.len() - pad);
        Ok(Some(data))
    }
}

static INSTALLED: OnceLock<Vault> = OnceLock::new();
static DECRYPTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Install this run's vault passwords (once, before any file is loaded). A second call is
/// ignored.
pub fn install(vault: Vault) {
    let _ = INSTALLED.set(vault);
}

/// This run's vault passwords (empty when none were given).
pub fn installed() -> &'static Vault {
    static EMPTY: OnceLock<Vault> = OnceLock::new();
    INSTALLED
        .get()
        .unwrap_or_else(|| EMPTY.get_or_init(Vault::default))
}

/// Remember a decrypted `!vault` value as a secret: masked in all output from now on (values
/// shorter than 4 characters are not: masking every `on` or `22` would garble the output).
fn remember_secret(text: &str) {
    let t = text.trim();
    if t.chars().count() < 4 {
        return;
    }
    if let Ok(mut d) = DECRYPTED.lock() {
        if !d.iter().any(|w| w == t) {
            d.push(t.to_string());
        }
    }
}

/// Decrypt the still-encrypted values (`{"__ansible_vault": ...}`, as the inventory keeps
/// `!vault` values) inside a host's variables, in place. On failure: the variable and why.
pub fn decrypt_vars(
    vars: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), (String, VaultError)> {
    fn walk(v: &mut serde_json::Value) -> Result<(), VaultError> {
        match v {
            serde_json::Value::Object(o) => {
                if o.len() == 1 {
                    if let Some(serde_json::Value::String(envelope)) = o.get(JSON_KEY) {
                        *v = serde_json::Value::String(installed().decrypt_value(envelope)?);
                        return Ok(());
                    }
                }
                o.values_mut().try_for_each(walk)
            }
            serde_json::Value::Array(a) => a.iter_mut().try_for_each(walk),
            _ => Ok(()),
        }
    }
    for (k, v) in vars.iter_mut() {
        walk(v).map_err(|e| (k.clone(), e))?;
    }
    Ok(())
}

/// Every secret decrypted so far (for the output masker).
pub fn decrypted_secrets() -> Vec<String> {
    DECRYPTED.lock().map(|d| d.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by `ansible-vault encrypt_string --vault-password-file pw` (ansible-core 2.19),
    /// password `lab-vault-pw`.
    const INLINE_11: &str = "$ANSIBLE_VAULT;1.1;AES256
          30316639386263376230666566396537616530393037393636663934373261633138366233383130
          6139343463346635623434383430366664636434316265320a383634343566646663323934376462
          63656538303239663934306436353238323165393637386134613438303836613334313434656636
          6162326136363163330a346366376534306630343734643034393437306636653736383435353631
          37303961383239643537643838363137616564666339303263636435663566633132";

    /// `ansible-vault encrypt_string --vault-id prod@pw2 'prod-secret'`, password `other-pw`.
    const INLINE_12: &str = "$ANSIBLE_VAULT;1.2;AES256;prod
          36373566633135373939343064316130346133396339643631346163353831356437363338643965
          3230343734633235333165386532643464373964663162390a663466363239363638386530646631
          31343636343065353138666234336134306337306338343162393762383534396639393064643036
          3232373237393136390a383366316339393461613862633061333561656536623538326332613738
          3266";

    #[test]
    fn decrypts_what_ansible_vault_wrote() {
        let v = Vault::new(vec![Secret::new(None, "lab-vault-pw")]);
        assert_eq!(
            v.decrypt(INLINE_11).unwrap(),
            b"[7101, 7202, 7101, 7303]".to_vec()
        );
        let v = Vault::new(vec![
            Secret::new(None, "lab-vault-pw"),
            Secret::new(Some("prod".into()), "other-pw"),
        ]);
        assert_eq!(v.decrypt_value(INLINE_12).unwrap(), "prod-secret");
        assert!(decrypted_secrets().contains(&"prod-secret".to_string()));
    }

    #[test]
    fn wrong_or_missing_password_and_bad_envelopes_are_errors() {
        let e = Vault::default().decrypt(INLINE_11).unwrap_err();
        assert!(matches!(e, VaultError::NoSecrets), "{e}");
        let v = Vault::new(vec![Secret::new(Some("dev".into()), "nope")]);
        let e = v.decrypt(INLINE_11).unwrap_err();
        assert!(
            matches!(e, VaultError::NoMatch { .. }) && e.to_string().contains("dev"),
            "{e}"
        );
        // One flipped ciphertext digit: the HMAC refuses it before any decryption.
        let mut tampered = INLINE_11.to_string();
        let at = tampered.len() - 3;
        let c = if &tampered[at..at + 1] == "3" {
            "4"
        } else {
            "3"
        };
        tampered.replace_range(at..at + 1, c);
        let v = Vault::new(vec![Secret::new(None, "lab-vault-pw")]);
        assert!(v.decrypt(&tampered).is_err());
        for bad in [
            "$ANSIBLE_VAULT;1.1;AES\n3031",
            "$ANSIBLE_VAULT;2.0;AES256\n3031",
            "$ANSIBLE_VAULT;1.1;AES256\nzz",
            "not a vault",
        ] {
            assert!(
                matches!(v.decrypt(bad), Err(VaultError::Format(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn password_files_plain_and_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("pw");
        std::fs::write(&plain, "  lab-vault-pw\n\n").unwrap();
        let s = Secret::from_file(None, &plain).unwrap();
        assert_eq!(s.password, b"lab-vault-pw");
        let script = dir.path().join("pw.sh");
        std::fs::write(&script, "#!/bin/sh\necho lab-vault-pw\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        let s = Secret::from_file(Some("x".into()), &script).unwrap();
        assert_eq!(s.password, b"lab-vault-pw");
        assert!(
            !format!("{s:?}").contains("lab-vault-pw"),
            "Debug shows the password"
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(Secret::from_file(None, &empty).is_err());
        assert!(Secret::from_file(None, &dir.path().join("missing")).is_err());
    }
}
