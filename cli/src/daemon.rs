//! `me2b daemon`: runs the node and serves the local API until SIGINT or SIGTERM.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use libp2p::Multiaddr;
use me2b_node::api::{Api, ApiSettings};
use me2b_node::config::{ApiAddress, Config, DataDir, LogFormat};
use me2b_node::{Node, NodeConfig, Transport};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tracing::info;
use zeroize::Zeroizing;

/// Flags of `me2b daemon`; each overrides the environment and the config file.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// A libp2p listen address, e.g. /ip4/127.0.0.3/tcp/4003 (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<String>,
    /// Where the local API listens, e.g. 127.0.0.3:7003 (port 0 picks a free one).
    #[arg(long, value_name = "IP:PORT")]
    api: Option<SocketAddr>,
    /// Serve the API and console on a non-loopback address. Anyone who can reach it can try
    /// the token and log-in links, so put TLS and a firewall in front of it.
    #[arg(long)]
    allow_remote_api: bool,
    /// A peer to connect to at start, ending in /p2p/PEER_ID (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// Do not discover peers on the LAN.
    #[arg(long)]
    no_mdns: bool,
    /// `human` or `json` logs on stderr.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// How long you have to decide on a request your agent asks you about, e.g. 3d (until the
    /// request expires, at most 7d).
    #[arg(long, value_name = "DURATION")]
    owner_window: Option<String>,
    /// Read the passphrase from this file (else ME2B_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// The passphrase: from `file`, else `ME2B_PASSPHRASE`, else a prompt on the terminal
/// (asked twice when `new`).
pub fn passphrase(file: Option<&Path>, new: bool) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(file) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the passphrase file {}", file.display()))?,
        );
        return non_empty(text.trim_end_matches(['\n', '\r']).as_bytes().to_vec());
    }
    if let Ok(text) = std::env::var("ME2B_PASSPHRASE") {
        return non_empty(text.into_bytes());
    }
    let first = Zeroizing::new(rpassword::prompt_password("passphrase: ").context(
        "cannot prompt for a passphrase; pass --passphrase-file FILE, set ME2B_PASSPHRASE, or use --no-passphrase at init",
    )?);
    if new {
        let again = Zeroizing::new(rpassword::prompt_password("passphrase again: ")?);
        if *first != *again {
            bail!("the two passphrases differ; try again");
        }
    }
    non_empty(first.as_bytes().to_vec())
}

fn non_empty(bytes: Vec<u8>) -> Result<Zeroizing<Vec<u8>>> {
    if bytes.is_empty() {
        bail!("the passphrase is empty; choose one, or use --no-passphrase at init for a throw-away node");
    }
    Ok(Zeroizing::new(bytes))
}

/// The settings after the stack defaults < file < environment < flags.
fn settings(dir: &DataDir, args: &DaemonArgs) -> Result<Config> {
    let mut config = dir.config()?;
    config.apply_env(|name| std::env::var(name).ok())?;
    if !args.listen.is_empty() {
        config.listen = args.listen.clone();
    }
    if let Some(api) = args.api {
        config.api = api;
    }
    if !args.bootstrap.is_empty() {
        config.bootstrap = args.bootstrap.clone();
    }
    if args.no_mdns {
        config.mdns = Some(false);
    }
    if let Some(format) = args.log_format {
        config.log_format = format;
    }
    if let Some(window) = &args.owner_window {
        config.owner_window = window.clone();
    }
    config.owner_window().map_err(|reason| anyhow::anyhow!("--owner-window: {reason}"))?;
    Ok(config)
}

fn addresses(what: &str, texts: &[String]) -> Result<Vec<Multiaddr>> {
    texts
        .iter()
        .map(|text| {
            text.parse::<Multiaddr>().with_context(|| {
                format!("{what} `{text}` is not a multiaddr; write e.g. /ip4/192.0.2.7/tcp/6428/p2p/12D3KooW...")
            })
        })
        .collect()
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ME2B_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,libp2p=warn,libp2p_gossipsub=error"));
    use std::io::IsTerminal as _;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colour).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).init(),
    }
}

/// Runs the daemon.
pub fn run(data_dir: Option<PathBuf>, args: DaemonArgs) -> Result<()> {
    let dir = DataDir::locate(data_dir)?;
    let config = settings(&dir, &args)?;
    init_logs(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(dir, config, args))
}

async fn serve(dir: DataDir, config: Config, args: DaemonArgs) -> Result<()> {
    if let Some(running) = dir.api_address()?
        && crate::client::answers(running.address).await
    {
        bail!(
            "a daemon (pid {}) already runs on {} with its API at {}",
            running.pid,
            dir.root().display(),
            running.address
        );
    }
    let passphrase = if config.passphrase { Some(passphrase(args.passphrase_file.as_deref(), false)?) } else { None };
    let secret = me2b_node::key_file::load_or_create(&dir.key_file(), passphrase.as_deref().map(|p| p.as_slice()))?;
    let token = dir.token()?;

    let mut node_config = NodeConfig::new(config.role.into(), dir.store());
    node_config.passphrase = passphrase.as_ref().map(|p| p.to_vec());
    node_config.listen = addresses("listen address", &config.listen)?;
    node_config.bootstrap = addresses("bootstrap address", &config.bootstrap)?;
    node_config.transport = Transport::Network;
    node_config.net.mdns = config.mdns();
    if config.role == me2b_node::config::RoleName::Business {
        node_config.profile = Some(config.profile());
    }
    node_config.owner_window = config.owner_window().map_err(|reason| anyhow::anyhow!("owner_window: {reason}"))?;
    node_config.intent_window = config.intent_window().map_err(|reason| anyhow::anyhow!("intent_window: {reason}"))?;
    let webhook = match (&config.webhook_url, config.role) {
        (None, _) => None,
        (Some(_), me2b_node::config::RoleName::Person) => {
            bail!("webhook_url is for business nodes; remove it with `me2b config set webhook_url \"\"`")
        }
        (Some(url), me2b_node::config::RoleName::Business) => Some(me2b_node::api::webhooks::WebhookSettings {
            url: url.clone(),
            secret: dir.webhook_secret()?,
            attempts: config.webhook_attempts,
            dir: dir.root().join("events"),
            ca_pem: config
                .webhook_ca
                .as_deref()
                .map(|path| std::fs::read(path).with_context(|| format!("webhook_ca: cannot read {path}")))
                .transpose()?,
        }),
    };
    if let Some(webhook) = &webhook {
        // A CA file that does not parse is said now, not at the first delivery.
        me2b_node::api::webhooks::client(webhook).context("webhook_ca")?;
    }
    node_config.confirm_deletions_downstream = webhook.is_some();
    let node = Node::start(*secret, node_config)
        .await
        .with_context(|| format!("cannot start the node in {}", dir.root().display()))?;
    // At once: the node may already handle a peer's message (a revocation waiting for it).
    let events = node.events();
    if config.role == me2b_node::config::RoleName::Person {
        // Checks the domains businesses claim, where this machine reaches them.
        let ca = config
            .domain_ca
            .as_deref()
            .map(|path| std::fs::read(path).with_context(|| format!("domain_ca: cannot read {path}")))
            .transpose()?;
        me2b_node::domains::spawn(node.clone(), ca.as_deref()).context("domain_ca")?;
    }

    if !config.api.ip().is_loopback() {
        if !args.allow_remote_api {
            bail!(
                "refusing to serve the API and console on {}, which is not a loopback address: anyone who reaches \
                 it can try to log in. Use 127.0.0.1:PORT, or pass --allow-remote-api if you mean it",
                config.api
            );
        }
        eprintln!(
            "warning: the API and console listen on {} (not loopback); they are plain HTTP: put TLS and a \
             firewall in front",
            config.api
        );
        tracing::warn!(api = %config.api, "the API listens on a non-loopback address");
    }
    let listener = tokio::net::TcpListener::bind(config.api)
        .await
        .with_context(|| format!("cannot serve the API on {}; choose another with --api IP:PORT", config.api))?;
    let api_address = listener.local_addr()?;
    let identity = me2b_proto::identity::Keypair::from_secret_bytes(&secret);
    let public_key = identity.public().to_string();
    let settings = ApiSettings {
        token,
        name: config.name.clone(),
        role: config.role.into(),
        address: api_address,
        identity,
        events_dir: Some(dir.root().join("events")),
        webhook,
        events,
    };
    let api = Api::new(node.clone(), settings).await?;
    let stop = stop_signal().context("cannot listen for SIGTERM")?;
    dir.write_api_address(&ApiAddress { address: api_address, pid: std::process::id(), public_key })?;

    let info = node.info().await?;
    let listen: Vec<String> = info.listen_addrs.iter().map(ToString::to_string).collect();
    println!("me2b daemon ready: peer {} listening on {} API http://{api_address}", info.peer_id, listen.join(","));
    info!(peer = %info.peer_id, api = %api_address, "ready");

    let served = axum::serve(listener, api.router()).with_graceful_shutdown(stop).await;
    info!("stopping");
    node.shutdown().await;
    api.close();
    dir.clear_api_address();
    served.context("the API server failed")?;
    info!("stopped");
    Ok(())
}

/// SIGTERM or SIGINT (Ctrl-C), listened for from the call on: made before the daemon says it
/// is ready, so that a stop sent at once after the ready line is a graceful one too (not the
/// signal's default, which ends the process with its API address left behind).
#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
