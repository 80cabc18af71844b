//! `me2b`: the me2b program.
//!
//! `me2b daemon` runs a node (libp2p, the encrypted store, the local API); every other command
//! but `init`, `demo` and `completions` is a thin client of the daemon's local API, found
//! through the data directory. `me2b demo` runs a small network and tells its story.

mod client;
mod daemon;
mod demo;

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
    /// Follow the node's events as they happen (Ctrl-C to stop).
    Events,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let result = match cli.command {
        Command::Init(args) => init(cli.data_dir, args),
        Command::Daemon(args) => daemon::run(cli.data_dir, args),
        Command::Demo { quiet } => demo::run(quiet),
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
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init(data_dir: Option<PathBuf>, args: InitArgs) -> anyhow::Result<()> {
    let dir = DataDir::locate(data_dir)?;
    let passphrase =
        if args.no_passphrase { None } else { Some(daemon::passphrase(args.passphrase_file.as_deref(), true)?) };
    let config = Config::new(args.role, args.name, passphrase.is_some());
    dir.init(&config)?;
    let passphrase = passphrase.as_deref().map(|p| p.as_slice());
    let secret = me2b_node::key_file::load_or_create(&dir.key_file(), passphrase)?;
    if args.role == RoleName::Person {
        // A new person's agent asks before sharing anything: see `me2b policy show`.
        let store = me2b_node::store::Store::open(&dir.store(), passphrase, true)?;
        let state = me2b_proto::engine::State { policy: Policy::ask_first(), ..Default::default() };
        store.apply_blocking(&state, &[me2b_proto::engine::Change::Settings])?;
    }
    let peer_id = me2b_node::net::libp2p_keypair(*secret)?.public().to_peer_id();
    println!("initialised {} as a {:?} node; peer id {peer_id}", dir.root().display(), args.role);
    println!("start it with: me2b --data-dir {} daemon", dir.root().display());
    Ok(())
}
