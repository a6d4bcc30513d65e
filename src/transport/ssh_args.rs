//! `SshArgs`: the ssh client options sesame understands, gathered from the inventory's
//! `ansible_ssh_common_args`/`ansible_ssh_extra_args` (ssh's command-line syntax) and from the
//! ssh_config settings below them. Parsing only: `spec` turns them into a `ConnSpec`.

use std::path::PathBuf;

use super::conn_error::ConnSpecError;
use super::proxy::Proxy;
use super::ssh_config::Setting;
use super::ssh_text::{expand_config_tokens, known_hosts_files, split_words};

/// The options sesame understands from `ansible_ssh_common_args`/`ansible_ssh_extra_args`.
/// For `-o` options the first value wins, as in OpenSSH; `-i` accumulates.
#[derive(Debug, Default)]
pub(super) struct SshArgs {
    /// (variable, value) pairs keep where a value came from for error messages.
    pub port: Option<(String, String)>,
    pub user: Option<String>,
    pub identity_files: Vec<String>,
    pub known_hosts: Option<Vec<PathBuf>>,
    pub global_known_hosts: Option<Vec<PathBuf>>,
    pub strict: Option<(String, String)>,
    pub connect_timeout: Option<(String, String)>,
    pub server_alive: Option<(String, String)>,
    pub identity_agent: Option<String>,
    pub identities_only: bool,
    pub host_key_alias: Option<String>,
    pub password_auth: Option<bool>,
    /// `HostName` from the ssh client configuration.
    pub host_name: Option<String>,
    /// The first ProxyJump/-J/ProxyCommand given (`Some(None)`: explicitly none).
    pub proxy: Option<Option<Proxy>>,
    /// `-F`: the last one wins, as ssh sets it directly.
    pub config_file: Option<String>,
}

/// ssh's flags that take an argument (`ssh(1)` synopsis).
const FLAGS_WITH_ARG: &str = "BbcDEeFIiJLlmOoPpQRSWw";

impl SshArgs {
    pub(super) fn parse(&mut self, host: &str, var: &str, text: &str) -> Result<(), ConnSpecError> {
        let words = split_words(text).ok_or_else(|| ConnSpecError::BadValue {
            host: host.into(),
            variable: var.into(),
            value: text.into(),
            reason: "unclosed quote".into(),
        })?;
        let missing = |flag: char| ConnSpecError::BadValue {
            host: host.into(),
            variable: var.into(),
            value: text.into(),
            reason: format!("-{flag} needs an argument"),
        };
        let mut it = words.into_iter();
        while let Some(w) = it.next() {
            let Some(flags) = w.strip_prefix('-').filter(|f| !f.is_empty()) else {
                tracing::debug!(host, variable = var, word = %w, "ignoring ssh argument");
                continue;
            };
            // Flags may be bundled (`-vC`); the first one taking an argument ends the bundle.
            for (i, flag) in flags.char_indices() {
                if !FLAGS_WITH_ARG.contains(flag) {
                    continue;
                }
                let rest = &flags[i + flag.len_utf8()..];
                let arg = if rest.is_empty() {
                    it.next().ok_or_else(|| missing(flag))?
                } else {
                    rest.to_string()
                };
                self.flag(host, var, flag, arg)?;
                break;
            }
        }
        Ok(())
    }

    fn flag(
        &mut self,
        host: &str,
        var: &str,
        flag: char,
        arg: String,
    ) -> Result<(), ConnSpecError> {
        match flag {
            'o' => self.option(host, var, &arg),
            // `-p` and `-l` are set directly by ssh: the last one wins.
            'p' => {
                self.port = Some((var.into(), arg));
                Ok(())
            }
            'l' => {
                self.user = Some(arg);
                Ok(())
            }
            'i' => {
                self.identity_files.push(arg);
                Ok(())
            }
            'F' => {
                self.config_file = Some(arg);
                Ok(())
            }
            'J' => self.set_proxy(host, var, "-J", Proxy::jump(&arg)),
            _ => {
                tracing::debug!(host, variable = var, flag = %flag, "ignoring ssh flag");
                Ok(())
            }
        }
    }

    fn option(&mut self, host: &str, var: &str, opt: &str) -> Result<(), ConnSpecError> {
        let opt = opt.trim();
        let split = opt
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(opt.len());
        let key = opt[..split].to_ascii_lowercase();
        let value = opt[split..]
            .trim_start_matches(|c: char| c.is_whitespace())
            .trim_start_matches('=')
            .trim()
            .to_string();
        let src = || (var.to_string(), value.clone());
        match key.as_str() {
            "port" => {
                self.port.get_or_insert_with(src);
            }
            "user" => {
                self.user.get_or_insert_with(|| value.clone());
            }
            "identityfile" => self.identity_files.push(value.clone()),
            "userknownhostsfile" => {
                self.known_hosts
                    .get_or_insert_with(|| known_hosts_files(&value));
            }
            "globalknownhostsfile" => {
                self.global_known_hosts
                    .get_or_insert_with(|| known_hosts_files(&value));
            }
            "stricthostkeychecking" => {
                self.strict.get_or_insert_with(src);
            }
            "connecttimeout" => {
                self.connect_timeout.get_or_insert_with(src);
            }
            "serveraliveinterval" => {
                self.server_alive.get_or_insert_with(src);
            }
            "identityagent" => {
                self.identity_agent.get_or_insert_with(|| value.clone());
            }
            "identitiesonly" => {
                self.identities_only = crate::vars::str_bool(&value).unwrap_or(false)
            }
            "hostkeyalias" => {
                // The alias is written as the name of a known_hosts line: whitespace would
                // split the line, a comma or wildcard would make it match other hosts.
                if let Some(bad) = super::known_hosts::bad_host_name(&value) {
                    return Err(ConnSpecError::BadValue {
                        host: host.into(),
                        variable: var.into(),
                        value: format!("HostKeyAlias={value}"),
                        reason: format!("a known_hosts name cannot hold {bad}"),
                    });
                }
                self.host_key_alias.get_or_insert_with(|| value.clone());
            }
            "passwordauthentication" => {
                if self.password_auth.is_none() {
                    self.password_auth = Some(crate::vars::str_bool(&value).unwrap_or(true));
                }
            }
            "proxycommand" => {
                return self.set_proxy(host, var, "-o ProxyCommand", Proxy::command(&value))
            }
            "proxyjump" => return self.set_proxy(host, var, "-o ProxyJump", Proxy::jump(&value)),
            _ => tracing::debug!(host, variable = var, option = %key, "ignoring ssh option"),
        }
        Ok(())
    }
}

impl SshArgs {
    /// One setting of the ssh client configuration, below everything the inventory set.
    pub(super) fn apply_config_setting(
        &mut self,
        host: &str,
        destination: &str,
        s: &Setting,
    ) -> Result<(), ConnSpecError> {
        match s.key.as_str() {
            "hostname" => {
                self.host_name.get_or_insert_with(|| s.value.clone());
                Ok(())
            }
            "identityfile" | "userknownhostsfile" | "globalknownhostsfile" | "identityagent" => {
                let value = expand_config_tokens(&s.value, destination);
                self.option(host, &s.origin, &format!("{}={value}", s.key))
            }
            _ => self.option(host, &s.origin, &format!("{}={}", s.key, s.value)),
        }
    }

    /// The first proxy setting wins, as in OpenSSH; a malformed one is an error naming it.
    fn set_proxy(
        &mut self,
        host: &str,
        var: &str,
        option: &str,
        parsed: Result<Option<Proxy>, String>,
    ) -> Result<(), ConnSpecError> {
        let proxy = parsed.map_err(|reason| ConnSpecError::BadValue {
            host: host.into(),
            variable: var.into(),
            value: option.into(),
            reason,
        })?;
        self.proxy.get_or_insert(proxy);
        Ok(())
    }
}
