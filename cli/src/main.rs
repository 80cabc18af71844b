//! `me2b`: the me2b program.
//!
//! `me2b daemon` runs a node (libp2p, the encrypted store, the local API); every other command
//! but `init`, `demo` and `completions` is a thin client of the daemon's local API, found
//! through the data directory. `me2b demo` runs a small network and tells its story.

mod client;
mod daemon;
mod demo;
mod doctor;
mod exit;

use clap::{Args, CommandFactory, Parser, Subcommand};
use me2b_node::config::{Config, DataDir, RoleName};
use me2b_proto::policy::Policy;
use std::path::PathBuf;
use std::process::ExitCode;

/// me2b: a peer-to-peer network for personal data. Your node holds your data and negotiates
/// for you; businesses ask, you decide, and every exchange is signed and revocable.
#[derive(Debug, Parser)]
#[command(name = "me2b", version, about, propagate_version = true)]
pub struct Cli {
    /// The data directory (default: the platform's data directory, e.g. ~/.local/share/me2b).
    #[arg(long, global = true, env = "ME2B_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: identity key, config, API token.
    Init(InitArgs),
    /// Run the node: libp2p networking, the encrypted store, and the local API.
    Daemon(daemon::DaemonArgs),
    /// Show the running node: peer id, addresses, API, role, counts.
    Status,
    /// Show this node's identity: peer id, public key, fingerprint and addresses to give others.
    Id,
    /// The peers connected now.
    Peers,
    /// Write an encrypted backup of everything the node holds (vault, policy, agreements,
    /// ledger) to FILE; only this node's recovery phrase opens it (`me2b restore`).
    Backup {
        /// Where to write it (readable by you only).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Show the 24 words that bring this node's identities back on a new machine (`me2b
    /// restore`). Write them on paper; whoever has them can act as you.
    RecoveryPhrase {
        /// Read the passphrase from this file (else ME2B_PASSPHRASE, else a prompt).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Make a new data directory from a recovery phrase, and restore a backup into it: every
    /// identity, agreement and ledger entry (and the vault) comes back.
    Restore(RestoreArgs),
    /// The businesses you met: name, your petname, fingerprint, whether you agreed with that
    /// key (pinned), and a warning for a key claiming a pinned business's name (person).
    Businesses,
    /// Print the statement to serve at https://DOMAIN/.well-known/me2b.json, so that people see
    /// this business as verified for DOMAIN; DOMAIN defaults to the configured website's host
    /// (business).
    DomainProof {
        /// The domain: host, and :port if not 443.
        domain: Option<String>,
    },
    /// Give a business your own name (an empty NAME forgets it) (person).
    Petname {
        /// The business's key (see `me2b businesses`).
        key: String,
        /// Your name for it.
        name: Option<String>,
    },
    /// Connect to a peer, e.g. /ip4/192.0.2.7/tcp/6428/p2p/12D3KooW...
    Connect {
        /// Its address, ending in /p2p/PEER_ID.
        address: String,
    },
    /// Read or change settings in config.toml (the daemon reads them at its next start).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the data directory, its files, the config, the ports and the daemon, and say
    /// what to fix.
    Doctor,
    /// Read and change your vault (person).
    #[command(subcommand)]
    Data(client::DataCommand),
    /// Show or replace your policy: a person's sharing rules, or a business's limits on counters.
    #[command(subcommand)]
    Policy(client::PolicyCommand),
    /// Follow categories: a person hears their data requests, a business their intents.
    Subscribe {
        /// E.g. apparel.shoes.
        #[arg(required = true)]
        categories: Vec<String>,
    },
    /// Stop following categories.
    Unsubscribe {
        /// E.g. apparel.shoes.
        #[arg(required = true)]
        categories: Vec<String>,
    },
    /// Publish an intent: what you want, and what you would share for it (person).
    #[command(subcommand)]
    Intent(client::IntentCommand),
    /// Data requests seen (person) or published (business).
    Requests,
    /// Negotiations waiting for your decision.
    Pending,
    /// Approve a pending negotiation.
    Approve {
        /// Its id, from `me2b pending`.
        id: String,
    },
    /// Decline a pending negotiation.
    Decline {
        /// Its id, from `me2b pending`.
        id: String,
    },
    /// Agreements and where they stand; `agreements show ID` for one.
    Agreements {
        #[command(subcommand)]
        show: Option<client::AgreementsCommand>,
    },
    /// Revoke an agreement: the business must delete your data and send a signed receipt.
    Revoke {
        /// Its id, from `me2b agreements`.
        id: String,
        /// Told to the business.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Personal offers received (person) or sent (business).
    Offers,
    /// Push a personal offer under an agreement that allows contact (business).
    #[command(subcommand)]
    Offer(client::OfferCommand),
    /// The signed, hash-chained ledger; `ledger verify` checks it.
    Ledger {
        #[command(subcommand)]
        verify: Option<client::LedgerCommand>,
    },
    /// Everything the node holds about and for you, as JSON.
    Export,
    /// Publish a data request (business).
    #[command(subcommand)]
    Campaign(client::CampaignCommand),
    /// Replace the catalog that answers people's intents (business).
    #[command(subcommand)]
    Catalog(client::CatalogCommand),
    /// What the business holds, per agreement, with values (business).
    Received,
    /// Intents seen, counted by category and spec (business).
    Demand,
    /// The webhook to the business's own systems: deliveries, deletions waiting for it, dead
    /// letters; `webhooks retry ID` sends a dead letter again (business).
    Webhooks {
        #[command(subcommand)]
        retry: Option<client::WebhooksCommand>,
    },
    /// Follow the node's events as they happen (Ctrl-C to stop); each line is one event as
    /// JSON, with its id.
    Events {
        /// Resume after this event id (events are numbered across restarts).
        #[arg(long, value_name = "ID")]
        after: Option<u64>,
    },
    /// Open the web console: prints a one-time login link and opens it in a browser.
    Open {
        /// Only print the link.
        #[arg(long)]
        no_browser: bool,
    },
    /// Walk through the me2b flows on a small local network, and tell who learned what.
    Demo {
        /// Print less: only the summary.
        #[arg(long)]
        quiet: bool,
    },
    /// Print shell completions, e.g. `me2b completions bash > /etc/bash_completion.d/me2b`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `me2b man > /usr/local/share/man/man1/me2b.1`.
    Man,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print one setting, or all of them.
    Get {
        /// name, listen, api, bootstrap, mdns, log_format, owner_window, intent_window, role or
        /// passphrase (`me2b config get` lists every setting).
        key: Option<String>,
    },
    /// Change one setting; lists (listen, bootstrap) are comma-separated.
    Set {
        /// name, listen, api, bootstrap, mdns, log_format, owner_window, intent_window, or any
        /// other setting `me2b config get` lists.
        key: String,
        /// The new value.
        value: String,
    },
}

#[derive(Debug, Args)]
struct InitArgs {
    /// `person` or `business`.
    #[arg(long)]
    role: RoleName,
    /// Your name, or the business's (shown in its requests).
    #[arg(long)]
    name: String,
    /// Read the passphrase from this file (else ME2B_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE", conflicts_with = "no_passphrase")]
    passphrase_file: Option<PathBuf>,
    /// Keep the key and store without a passphrase (tests and throw-away nodes only).
    #[arg(long)]
    no_passphrase: bool,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// A file holding the 24 words (`-` reads them from standard input).
    #[arg(long, value_name = "FILE")]
    phrase_file: PathBuf,
    /// A backup written by `me2b backup`; without one, the identities come back but not what
    /// they agreed to.
    #[arg(long, value_name = "FILE")]
    backup: Option<PathBuf>,
    /// `person` or `business`.
    #[arg(long, default_value = "person")]
    role: RoleName,
    /// Your name (or the business's).
    #[arg(long, default_value = "me")]
    name: String,
    /// Read the new passphrase from this file (else ME2B_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE", conflicts_with = "no_passphrase")]
    passphrase_file: Option<PathBuf>,
    /// Keep the key and store without a passphrase (tests and throw-away nodes only).
    #[arg(long)]
    no_passphrase: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let result = match cli.command {
        Command::Init(args) => init(cli.data_dir, args, json),
        Command::RecoveryPhrase { passphrase_file } => recovery_phrase(cli.data_dir, passphrase_file, json),
        Command::Restore(args) => restore(cli.data_dir, args, json),
        Command::Config(command) => config(cli.data_dir, command, json),
        Command::Doctor => doctor::run(cli.data_dir, json),
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map(|()| client::write_out(format_args!("{}", String::from_utf8_lossy(&out))))
                .map_err(anyhow::Error::from)
        }
        Command::Daemon(args) => daemon::run(cli.data_dir, args),
        Command::Demo { quiet } => demo::run(quiet, json),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "me2b", &mut std::io::stdout());
            Ok(())
        }
        Command::Ledger { verify: Some(client::LedgerCommand::Verify { file: Some(file) }) } => {
            client::verify_file(&file, json)
        }
        command => client::run(cli.data_dir, json, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => ExitCode::from(exit::report(&error, json)),
    }
}

/// `config get|set`: settings in `config.toml`, checked as the daemon checks them.
fn config(data_dir: Option<PathBuf>, command: ConfigCommand, json: bool) -> anyhow::Result<()> {
    let dir = DataDir::locate(data_dir)?;
    let mut config = dir.config().map_err(|e| exit::fail(exit::ExitKind::Data, e.to_string()))?;
    let usage = |e: me2b_node::config::ConfigError| exit::fail(exit::ExitKind::Usage, e.to_string());
    match command {
        ConfigCommand::Get { key: Some(key) } => {
            let value = config.get(&key).map_err(usage)?;
            if json {
                client::write_out(format_args!("{}\n", serde_json::json!({ key: value })));
            } else {
                client::write_out(format_args!("{value}\n"));
            }
        }
        ConfigCommand::Get { key: None } => {
            let keys = ["role", "passphrase"].into_iter().chain(Config::KEYS);
            let all: serde_json::Map<String, serde_json::Value> =
                keys.map(|key| (key.to_owned(), config.get(key).unwrap_or_default().into())).collect();
            if json {
                client::write_out(format_args!("{}\n", serde_json::Value::Object(all)));
            } else {
                for (key, value) in all {
                    client::write_out(format_args!("{key:<14}{}\n", value.as_str().unwrap_or_default()));
                }
            }
        }
        ConfigCommand::Set { key, value } => {
            config.set(&key, &value).map_err(usage)?;
            dir.write_config(&config)?;
            let now = config.get(&key).map_err(usage)?;
            if json {
                client::write_out(format_args!("{}\n", serde_json::json!({ key: now })));
            } else {
                client::write_out(format_args!("{key} = {now} (the daemon reads it at its next start)\n"));
            }
        }
    }
    Ok(())
}

/// `recovery-phrase`: the root secret as 24 words, read from the key file.
fn recovery_phrase(data_dir: Option<PathBuf>, passphrase_file: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let dir = DataDir::locate(data_dir)?;
    let config = dir.config()?;
    let passphrase =
        if config.passphrase { Some(daemon::passphrase(passphrase_file.as_deref(), false)?) } else { None };
    if !dir.key_file().exists() {
        anyhow::bail!("no key file in {}; run `me2b init` first", dir.root().display());
    }
    let secret = me2b_node::key_file::load_or_create(&dir.key_file(), passphrase.as_deref().map(|p| p.as_slice()))?;
    let words = me2b_node::recovery::phrase(&secret);
    if json {
        client::write_out(format_args!("{}\n", serde_json::json!({"words": words.as_str()})));
    } else {
        client::write_out(format_args!(
            "{}\n\nWrite these 24 words on paper and keep them safe: with them, `me2b restore` brings back\nevery identity of this node on a new machine, and opens its backups. Whoever has them can act as you.\n",
            words.as_str()
        ));
    }
    Ok(())
}

/// `restore`: a new data directory whose key comes from the phrase, with the backup's state.
fn restore(data_dir: Option<PathBuf>, args: RestoreArgs, json: bool) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let words = if args.phrase_file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read the phrase from standard input")?
    } else {
        std::fs::read_to_string(&args.phrase_file)
            .with_context(|| format!("cannot read {}", args.phrase_file.display()))?
    };
    let words = zeroize::Zeroizing::new(words);
    let secret = me2b_node::recovery::secret_from_phrase(&words)?;
    // Opened before anything is written: a wrong phrase or file leaves no half-made directory.
    let restored = match &args.backup {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(me2b_node::recovery::open_backup(&secret, &bytes)?)
        }
        None => None,
    };
    let (dir, _, passphrase) =
        new_data_dir(data_dir, args.role, args.name, args.passphrase_file.as_deref(), args.no_passphrase)?;
    let passphrase = passphrase.as_deref().map(|p| p.as_slice());
    me2b_node::key_file::create(&dir.key_file(), &secret, passphrase)?;
    let store = me2b_node::store::Store::open(&dir.store(), passphrase, true)?;
    let (agreements, entries) = match &restored {
        Some((state, ledger)) => {
            store.restore(state, ledger)?;
            (state.agreements.len(), ledger.len())
        }
        None if args.role == RoleName::Person => {
            ask_first(&store)?;
            (0, 0)
        }
        None => (0, 0),
    };
    drop(store);
    let peer_id = me2b_node::net::libp2p_keypair(*secret)?.public().to_peer_id();
    if json {
        let body = serde_json::json!({"data_dir": dir.root(), "peer_id": peer_id.to_string(),
                                      "agreements": agreements, "ledger_entries": entries});
        client::write_out(format_args!("{body}\n"));
    } else {
        client::write_out(format_args!(
            "restored {} (peer id {peer_id}): {agreements} agreements, {entries} ledger entries\nstart it with: me2b --data-dir {} daemon\n",
            dir.root().display(),
            dir.root().display()
        ));
    }
    Ok(())
}

/// A passphrase, wiped from memory when dropped.
type Passphrase = zeroize::Zeroizing<Vec<u8>>;

/// A new data directory for `role` and `name` (refused if one is there), and the passphrase
/// its key and store are sealed with (asked for, read from a file, or none by choice).
fn new_data_dir(
    data_dir: Option<PathBuf>,
    role: RoleName,
    name: String,
    passphrase_file: Option<&std::path::Path>,
    no_passphrase: bool,
) -> anyhow::Result<(DataDir, Config, Option<Passphrase>)> {
    let dir = DataDir::locate(data_dir)?;
    let passphrase = if no_passphrase { None } else { Some(daemon::passphrase(passphrase_file, true)?) };
    let config = Config::new(role, name, passphrase.is_some());
    dir.init(&config)?;
    Ok((dir, config, passphrase))
}

/// A new person's agent asks before sharing anything: see `me2b policy show`.
fn ask_first(store: &me2b_node::store::Store) -> anyhow::Result<()> {
    let state = me2b_proto::engine::State { policy: Policy::ask_first(), ..Default::default() };
    store.apply_blocking(&state, &[me2b_proto::engine::Change::Settings])?;
    Ok(())
}

fn init(data_dir: Option<PathBuf>, args: InitArgs, json: bool) -> anyhow::Result<()> {
    let (dir, config, passphrase) =
        new_data_dir(data_dir, args.role, args.name, args.passphrase_file.as_deref(), args.no_passphrase)?;
    let passphrase = passphrase.as_deref().map(|p| p.as_slice());
    let secret = me2b_node::key_file::load_or_create(&dir.key_file(), passphrase)?;
    if args.role == RoleName::Person {
        ask_first(&me2b_node::store::Store::open(&dir.store(), passphrase, true)?)?;
    }
    let peer_id = me2b_node::net::libp2p_keypair(*secret)?.public().to_peer_id();
    if json {
        let role = config.get("role").unwrap_or_default();
        let body = serde_json::json!({"data_dir": dir.root(), "role": role, "peer_id": peer_id.to_string()});
        client::write_out(format_args!("{body}\n"));
    } else {
        client::write_out(format_args!(
            "initialised {} as a {:?} node; peer id {peer_id}\nstart it with: me2b --data-dir {} daemon\n",
            dir.root().display(),
            args.role,
            dir.root().display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand builds and passes clap's own checks.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
