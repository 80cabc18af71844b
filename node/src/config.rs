//! The data directory and the settings of a node run as a daemon.
//!
//! One data directory holds everything (like Syncthing's or Kubo's):
//!
//! ```text
//! config.toml     settings written by `me2b init` (role, name, listen, API, bootstrap, mDNS)
//! identity.key    the node's ed25519 key, wrapped by the passphrase (or explicitly not)
//! api-token       the bearer token of the local API, owner-only
//! api.json        the running daemon's API address and process id (stale after a crash)
//! store/          the sled store
//! ```
//!
//! Settings stack: defaults < `config.toml` < `ME2B_*` environment < flags. Only `init` writes
//! the file.

use crate::at_rest::random;
use crate::key_file::write_private;
use me2b_proto::engine::Role;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the data directory or its settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The directory has no `config.toml`.
    #[error("{0} is not a me2b data directory (no config.toml); create one with `me2b init --role person --name NAME`")]
    NotInitialised(String),
    /// `init` found a directory that is already set up.
    #[error("{0} is already a me2b data directory; use another --data-dir, or remove it first")]
    AlreadyInitialised(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `config.toml` is not valid.
    #[error("{path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A setting has a bad value.
    #[error("{name}: {reason}")]
    Setting {
        /// Which setting.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// No data directory was given and the platform has no default.
    #[error("no default data directory on this system; pass --data-dir or set ME2B_DATA_DIR")]
    NoDefault,
}

/// The settings kept in `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `person` or `business`.
    pub role: RoleName,
    /// The display name (a business's name appears in its requests).
    pub name: String,
    /// Whether the key and store are protected by a passphrase.
    pub passphrase: bool,
    /// libp2p listen addresses.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// Where the local API listens.
    #[serde(default = "default_api")]
    pub api: SocketAddr,
    /// Peers to connect to at start, each ending in `/p2p/<peer id>`.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// LAN discovery: announces the node's peer id and addresses to everyone on the LAN, so
    /// off for a person unless turned on, on for a business (see [`Config::mdns`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdns: Option<bool>,
    /// `human` or `json` logs.
    #[serde(default)]
    pub log_format: LogFormat,
    /// How long the owner has to decide on a request the agent asks about, e.g. `3d`: until
    /// the request expires, at most this (at most `7d`).
    #[serde(default = "default_owner_window")]
    pub owner_window: String,
    /// How long a person's agent collects businesses' answers to an intent before it takes
    /// the best, e.g. `10s` (1 s to 1 h).
    #[serde(default = "default_intent_window")]
    pub intent_window: String,
    /// A business's webhook: where its node posts what it receives, revocations, expiries
    /// and deletions due, signed with the data directory's `webhook-secret` (HMAC-SHA256).
    /// With one set, a deletion receipt waits until the webhook acknowledged the deletion.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Attempts per webhook delivery (1 s, 2 s, 4 s ... apart, at most a minute) before it goes
    /// to the dead letters.
    #[serde(default = "default_webhook_attempts")]
    pub webhook_attempts: u32,
    /// A PEM file of certificate authorities to trust for an `https://` webhook besides the
    /// system's (a business's internal CA).
    #[serde(default)]
    pub webhook_ca: Option<String>,
    /// A business's legal name, for its signed profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// How a person reaches a human at the business (an email address or URL), for its profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// The business's website (`https://...`), for its profile; its host may prove the
    /// business's key with `/.well-known/me2b.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// The business's privacy policy's URL, for its profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_policy: Option<String>,
    /// A PEM file of certificate authorities to trust, besides the system's, when a person's
    /// node checks a business's domain (`/.well-known/me2b.json`) on a private network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_ca: Option<String>,
}

/// A role as written in the config file and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// A person's node.
    Person,
    /// A business's node.
    Business,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Role {
        match role {
            RoleName::Person => Role::Person,
            RoleName::Business => Role::Business,
        }
    }
}

impl std::str::FromStr for RoleName {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "person" => Ok(RoleName::Person),
            "business" => Ok(RoleName::Business),
            other => Err(format!("unknown role `{other}`; use `person` or `business`")),
        }
    }
}

/// How the daemon logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format `{other}`; use `human` or `json`")),
        }
    }
}

/// The default port for peers (TCP and QUIC). Neither it nor [`DEFAULT_API_PORT`] is in the
/// IANA registry (checked against nmap's copy of it), nor used by Kubo (4001, 5001, 8080),
/// Syncthing (8384, 21027, 22000), lnd (9735, 10009, 8080) or bitcoind (8332, 8333).
pub const DEFAULT_PEER_PORT: u16 = 6428;
/// The default port of the local API and console, on 127.0.0.1.
pub const DEFAULT_API_PORT: u16 = 6429;

fn default_listen() -> Vec<String> {
    vec![format!("/ip4/0.0.0.0/tcp/{DEFAULT_PEER_PORT}"), format!("/ip4/0.0.0.0/udp/{DEFAULT_PEER_PORT}/quic-v1")]
}

fn default_api() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], DEFAULT_API_PORT))
}

fn default_webhook_attempts() -> u32 {
    8
}

fn default_owner_window() -> String {
    "7d".into()
}

fn default_intent_window() -> String {
    "10s".into()
}

impl Config {
    /// The settings `me2b init` writes.
    pub fn new(role: RoleName, name: String, passphrase: bool) -> Self {
        Config {
            role,
            name,
            passphrase,
            listen: default_listen(),
            api: default_api(),
            bootstrap: Vec::new(),
            mdns: None,
            log_format: LogFormat::Human,
            owner_window: default_owner_window(),
            intent_window: default_intent_window(),
            webhook_url: None,
            webhook_attempts: default_webhook_attempts(),
            webhook_ca: None,
            legal_name: None,
            contact: None,
            website: None,
            privacy_policy: None,
            domain_ca: None,
        }
    }

    /// Overrides settings from `ME2B_*` variables, read through `var` (the process
    /// environment in the daemon): `ME2B_LISTEN` and `ME2B_BOOTSTRAP` (comma-separated),
    /// `ME2B_API`, `ME2B_MDNS` (`true`/`false`), `ME2B_LOG_FORMAT`, `ME2B_OWNER_WINDOW`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let list = |text: String| text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        let bad = |name: &str, reason: String| ConfigError::Setting { name: name.into(), reason };
        if let Some(listen) = var("ME2B_LISTEN") {
            self.listen = list(listen);
        }
        if let Some(bootstrap) = var("ME2B_BOOTSTRAP") {
            self.bootstrap = list(bootstrap);
        }
        if let Some(api) = var("ME2B_API") {
            self.api = api.parse().map_err(|e| bad("ME2B_API", format!("`{api}` is not IP:PORT ({e})")))?;
        }
        if let Some(mdns) = var("ME2B_MDNS") {
            let on = mdns.parse().map_err(|_| bad("ME2B_MDNS", format!("`{mdns}` is not true or false")))?;
            self.mdns = Some(on);
        }
        if let Some(format) = var("ME2B_LOG_FORMAT") {
            self.log_format = format.parse().map_err(|e| bad("ME2B_LOG_FORMAT", e))?;
        }
        if let Some(window) = var("ME2B_OWNER_WINDOW") {
            self.owner_window = window;
        }
        if let Some(window) = var("ME2B_INTENT_WINDOW") {
            self.intent_window = window;
        }
        if let Some(url) = var("ME2B_WEBHOOK_URL") {
            self.webhook_url = if url.trim().is_empty() {
                None
            } else {
                Some(webhook_url(&url).map_err(|reason| bad("ME2B_WEBHOOK_URL", reason))?)
            };
        }
        if let Some(ca) = var("ME2B_WEBHOOK_CA") {
            self.webhook_ca = if ca.trim().is_empty() { None } else { Some(ca) };
        }
        if let Some(attempts) = var("ME2B_WEBHOOK_ATTEMPTS") {
            self.webhook_attempts =
                attempts.parse().ok().filter(|n| (1..=20).contains(n)).ok_or_else(|| {
                    bad("ME2B_WEBHOOK_ATTEMPTS", format!("`{attempts}` is not a number from 1 to 20"))
                })?;
        }
        self.owner_window().map_err(|reason| bad("owner_window", reason))?;
        self.intent_window().map_err(|reason| bad("intent_window", reason))?;
        Ok(())
    }

    /// The settings `me2b config get|set` reads and writes (`role` and `passphrase` are fixed
    /// at init).
    pub const KEYS: [&'static str; 16] = [
        "name",
        "listen",
        "api",
        "bootstrap",
        "mdns",
        "log_format",
        "owner_window",
        "intent_window",
        "webhook_url",
        "webhook_attempts",
        "webhook_ca",
        "legal_name",
        "contact",
        "website",
        "privacy_policy",
        "domain_ca",
    ];

    /// The value of setting `key` as text (lists comma-separated).
    pub fn get(&self, key: &str) -> Result<String, ConfigError> {
        Ok(match key {
            "role" => if self.role == RoleName::Person { "person" } else { "business" }.to_owned(),
            "passphrase" => self.passphrase.to_string(),
            "name" => self.name.clone(),
            "listen" => self.listen.join(","),
            "api" => self.api.to_string(),
            "bootstrap" => self.bootstrap.join(","),
            "mdns" => self.mdns().to_string(),
            "log_format" => if self.log_format == LogFormat::Json { "json" } else { "human" }.to_owned(),
            "owner_window" => self.owner_window.clone(),
            "intent_window" => self.intent_window.clone(),
            "webhook_url" => self.webhook_url.clone().unwrap_or_default(),
            "webhook_attempts" => self.webhook_attempts.to_string(),
            "webhook_ca" => self.webhook_ca.clone().unwrap_or_default(),
            "legal_name" => self.legal_name.clone().unwrap_or_default(),
            "contact" => self.contact.clone().unwrap_or_default(),
            "website" => self.website.clone().unwrap_or_default(),
            "privacy_policy" => self.privacy_policy.clone().unwrap_or_default(),
            "domain_ca" => self.domain_ca.clone().unwrap_or_default(),
            other => return Err(unknown_key(other)),
        })
    }

    /// Sets `key` from text, checked the way the environment's `ME2B_*` values are.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let mut changed = self.clone();
        let variable = match key {
            "name" => {
                if value.trim().is_empty() {
                    return Err(ConfigError::Setting { name: key.into(), reason: "a name cannot be empty".into() });
                }
                changed.name = value.to_owned();
                None
            }
            "listen" => Some("ME2B_LISTEN"),
            "api" => Some("ME2B_API"),
            "bootstrap" => Some("ME2B_BOOTSTRAP"),
            "mdns" => Some("ME2B_MDNS"),
            "log_format" => Some("ME2B_LOG_FORMAT"),
            "owner_window" => Some("ME2B_OWNER_WINDOW"),
            "intent_window" => Some("ME2B_INTENT_WINDOW"),
            "webhook_url" => Some("ME2B_WEBHOOK_URL"),
            "webhook_attempts" => Some("ME2B_WEBHOOK_ATTEMPTS"),
            "webhook_ca" => Some("ME2B_WEBHOOK_CA"),
            "domain_ca" => {
                changed.domain_ca = (!value.trim().is_empty()).then(|| value.trim().to_owned());
                None
            }
            "legal_name" | "contact" | "website" | "privacy_policy" => {
                let text = profile_text(key, value)?;
                let field = match key {
                    "legal_name" => &mut changed.legal_name,
                    "contact" => &mut changed.contact,
                    "website" => &mut changed.website,
                    _ => &mut changed.privacy_policy,
                };
                *field = text;
                None
            }
            "role" | "passphrase" => {
                return Err(ConfigError::Setting {
                    name: key.into(),
                    reason: "fixed when the data directory was made (`me2b init`)".into(),
                });
            }
            other => return Err(unknown_key(other)),
        };
        if let Some(variable) = variable {
            changed.apply_env(|name| (name == variable).then(|| value.to_owned())).map_err(|error| match error {
                ConfigError::Setting { reason, .. } => ConfigError::Setting { name: key.into(), reason },
                other => other,
            })?;
        }
        *self = changed;
        Ok(())
    }

    /// The business's profile as configured (its addresses and key are the node's).
    pub fn profile(&self) -> me2b_proto::profile::BusinessProfile {
        me2b_proto::profile::BusinessProfile {
            name: self.name.clone(),
            legal_name: self.legal_name.clone().unwrap_or_default(),
            contact: self.contact.clone().unwrap_or_default(),
            website: self.website.clone().unwrap_or_default(),
            privacy_policy: self.privacy_policy.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Whether to discover peers on the LAN: as set, or by default only for a business (a
    /// person's node would announce itself to everyone on the network it is on).
    pub fn mdns(&self) -> bool {
        self.mdns.unwrap_or(matches!(self.role, RoleName::Business))
    }

    /// The owner window as a duration: a `30m`-style duration of at most 7 days.
    pub fn owner_window(&self) -> Result<std::time::Duration, String> {
        let window = me2b_proto::time::parse_duration(&self.owner_window).map_err(|e| e.to_string())?;
        let max = std::time::Duration::from_millis(me2b_proto::limits::MAX_OWNER_WINDOW_MS);
        if window > max || window.is_zero() {
            return Err(format!("`{}` is not between 1s and 7d", self.owner_window));
        }
        Ok(window)
    }

    /// The intent window as a duration: from 1 s to 1 h.
    pub fn intent_window(&self) -> Result<std::time::Duration, String> {
        let window = me2b_proto::time::parse_duration(&self.intent_window).map_err(|e| e.to_string())?;
        if window > std::time::Duration::from_secs(3600) || window < std::time::Duration::from_secs(1) {
            return Err(format!("`{}` is not between 1s and 1h", self.intent_window));
        }
        Ok(window)
    }
}

/// A profile text: printable, at most 256 bytes; a website must be `https://`. Empty clears it.
fn profile_text(key: &str, value: &str) -> Result<Option<String>, ConfigError> {
    let bad = |reason: &str| ConfigError::Setting { name: key.into(), reason: reason.into() };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 256 || value.chars().any(char::is_control) {
        return Err(bad("at most 256 printable characters"));
    }
    if key == "website" && !value.starts_with("https://") {
        return Err(bad("a website is an https:// URL"));
    }
    Ok(Some(value.to_owned()))
}

/// A webhook URL: `https://`, or `http://` for a receiver on the business's own host or
/// network (the body carries personal data).
fn webhook_url(text: &str) -> Result<String, String> {
    let url: reqwest::Url = text.trim().parse().map_err(|e| format!("`{text}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(format!("`{text}` is not an https:// or http:// URL with a host"));
    }
    Ok(url.to_string())
}

fn unknown_key(key: &str) -> ConfigError {
    ConfigError::Setting {
        name: key.into(),
        reason: format!("no such setting; the settings are role, passphrase, {}", Config::KEYS.join(", ")),
    }
}

/// Where the running daemon's API is, written by the daemon and read by client commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiAddress {
    /// The API's socket address.
    pub address: SocketAddr,
    /// The daemon's process id, to detect a stale file.
    pub pid: u32,
    /// The node's protocol key (hex): a client sends its token only to an API that proves it
    /// holds this key (`GET /v1/identity`), never to whatever listens on a stale address.
    pub public_key: String,
}

/// The files of one data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The directory at `root`, or the platform's default (e.g. `~/.local/share/me2b`).
    pub fn locate(root: Option<PathBuf>) -> Result<DataDir, ConfigError> {
        let root = match root {
            Some(root) => root,
            None => directories::ProjectDirs::from("org", "me2b", "me2b")
                .ok_or(ConfigError::NoDefault)?
                .data_dir()
                .to_path_buf(),
        };
        Ok(DataDir { root })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The encrypted identity key.
    pub fn key_file(&self) -> PathBuf {
        self.root.join("identity.key")
    }

    /// The API token.
    pub fn token_file(&self) -> PathBuf {
        self.root.join("api-token")
    }

    /// The running daemon's API address.
    pub fn api_file(&self) -> PathBuf {
        self.root.join("api.json")
    }

    /// The secret that signs webhooks (hex), made by the daemon when a webhook is set.
    pub fn webhook_secret_file(&self) -> PathBuf {
        self.root.join("webhook-secret")
    }

    /// The webhook secret, made (32 random bytes, owner-only) if there is none yet.
    pub fn webhook_secret(&self) -> Result<Vec<u8>, ConfigError> {
        let path = self.webhook_secret_file();
        let io = |source| ConfigError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => me2b_proto::identity::unhex(text.trim()).filter(|s| s.len() >= 16).ok_or_else(|| {
                ConfigError::Invalid { path: path.display().to_string(), reason: "not a hex secret".into() }
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                crate::at_rest::random(&mut secret)
                    .map_err(|e| ConfigError::Invalid { path: path.display().to_string(), reason: e.to_string() })?;
                write_private(&path, me2b_proto::identity::hex(&secret).as_bytes()).map_err(io)?;
                Ok(secret.to_vec())
            }
            Err(error) => Err(io(error)),
        }
    }

    /// The store.
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Creates the directory (owner-only), its config and a fresh API token. The key is created
    /// by the caller, which holds the passphrase.
    pub fn init(&self, config: &Config) -> Result<(), ConfigError> {
        if self.config_file().exists() {
            return Err(ConfigError::AlreadyInitialised(self.root.display().to_string()));
        }
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| ConfigError::Io { path, source }
        };
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700)).map_err(io(&self.root))?;
        }
        let mut token = [0u8; 32];
        random(&mut token).map_err(|e| ConfigError::Io {
            path: self.token_file().display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        write_private(&self.token_file(), me2b_proto::identity::hex(&token).as_bytes())
            .map_err(io(&self.token_file()))?;
        let text = toml::to_string_pretty(config).map_err(|e| ConfigError::Invalid {
            path: self.config_file().display().to_string(),
            reason: e.to_string(),
        })?;
        // Written last: its presence marks a complete data directory.
        write_private(&self.config_file(), text.as_bytes()).map_err(io(&self.config_file()))
    }

    /// Reads `config.toml`.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let path = self.config_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotInitialised(self.root.display().to_string()));
            }
            Err(source) => return Err(ConfigError::Io { path: path.display().to_string(), source }),
        };
        toml::from_str(&text)
            .map_err(|e| ConfigError::Invalid { path: path.display().to_string(), reason: e.to_string() })
    }

    /// Replaces `config.toml` (`me2b config set`; the running daemon reads it at its next start).
    pub fn write_config(&self, config: &Config) -> Result<(), ConfigError> {
        let path = self.config_file();
        let text = toml::to_string_pretty(config)
            .map_err(|e| ConfigError::Invalid { path: path.display().to_string(), reason: e.to_string() })?;
        let temporary = self.root.join("config.toml.tmp");
        write_private(&temporary, text.as_bytes())
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })
    }

    /// Reads the API token.
    pub fn token(&self) -> Result<String, ConfigError> {
        let path = self.token_file();
        match std::fs::read_to_string(&path) {
            Ok(token) => Ok(token.trim().to_owned()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(ConfigError::NotInitialised(self.root.display().to_string()))
            }
            Err(source) => Err(ConfigError::Io { path: path.display().to_string(), source }),
        }
    }

    /// Records where the running daemon's API listens.
    pub fn write_api_address(&self, address: &ApiAddress) -> Result<(), ConfigError> {
        let path = self.api_file();
        let text = serde_json::to_vec(address)
            .map_err(|e| ConfigError::Invalid { path: path.display().to_string(), reason: e.to_string() })?;
        write_private(&path, &text).map_err(|source| ConfigError::Io { path: path.display().to_string(), source })
    }

    /// Where the running daemon's API listens, if a daemon wrote it; `None` if there is no
    /// file. Whether the daemon is still alive is for the caller to find out (a crash leaves
    /// the file behind).
    pub fn api_address(&self) -> Result<Option<ApiAddress>, ConfigError> {
        let path = self.api_file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ConfigError::Invalid { path: path.display().to_string(), reason: e.to_string() }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Io { path: path.display().to_string(), source }),
        }
    }

    /// Removes the API address file (clean shutdown).
    pub fn clear_api_address(&self) {
        let _ = std::fs::remove_file(self.api_file());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_and_write_as_text_and_bad_values_are_refused() {
        let mut config = Config::new(RoleName::Person, "Ada".into(), false);
        assert_eq!(config.get("api").unwrap(), "127.0.0.1:6429");
        config.set("api", "127.0.0.1:7000").unwrap();
        config.set("bootstrap", "/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2").unwrap();
        config.set("mdns", "false").unwrap();
        assert_eq!(config.get("bootstrap").unwrap(), "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2");
        assert!(!config.mdns());
        let before = config.clone();
        for (key, value) in [("api", "nowhere"), ("mdns", "maybe"), ("owner_window", "9d"), ("role", "business")] {
            assert!(config.set(key, value).is_err(), "{key}={value}");
        }
        let unknown = config.set("colour", "red").unwrap_err().to_string();
        assert!(unknown.contains("owner_window"), "names the valid keys: {unknown}");
        assert_eq!(config, before, "a refused value changes nothing");
    }

    #[test]
    fn init_writes_a_config_that_reads_back_and_refuses_a_second_init() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::locate(Some(dir.path().join("ada"))).unwrap();
        assert!(matches!(data.config(), Err(ConfigError::NotInitialised(_))));
        let config = Config::new(RoleName::Person, "Ada".into(), false);
        data.init(&config).unwrap();
        assert_eq!(data.config().unwrap(), config);
        assert_eq!(data.token().unwrap().len(), 64);
        assert!(matches!(data.init(&config), Err(ConfigError::AlreadyInitialised(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.token_file()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn lan_discovery_is_off_for_a_person_unless_turned_on_and_on_for_a_business() {
        let mut person = Config::new(RoleName::Person, "Ada".into(), true);
        assert!(!person.mdns());
        person.set("mdns", "true").unwrap();
        assert!(person.mdns());
        assert!(Config::new(RoleName::Business, "Stride".into(), true).mdns());
        // Written without the setting, read back with the role's default.
        let text = toml::to_string(&Config::new(RoleName::Person, "Ada".into(), true)).unwrap();
        assert!(!text.contains("mdns"), "{text}");
    }

    #[test]
    fn the_environment_overrides_the_file_and_bad_values_are_named() {
        let mut config = Config::new(RoleName::Business, "Stride".into(), true);
        let env = |name: &str| match name {
            "ME2B_API" => Some("127.0.0.3:7003".to_string()),
            "ME2B_BOOTSTRAP" => Some("/ip4/127.0.0.2/tcp/4002/p2p/x, /dns/y".to_string()),
            "ME2B_MDNS" => Some("false".to_string()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!(config.api, "127.0.0.3:7003".parse().unwrap());
        assert_eq!(config.bootstrap.len(), 2);
        assert!(!config.mdns());
        let error = config.apply_env(|name| (name == "ME2B_MDNS").then(|| "maybe".to_string())).unwrap_err();
        assert!(error.to_string().contains("ME2B_MDNS"));
    }
}
