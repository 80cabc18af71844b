//! `me2b`: the me2b program.
//!
//! Today it runs `me2b demo`, a walkthrough of the whole protocol (requests, counter-offers,
//! owner approval, intents, triggers, personal offers, revocation with deletion receipts and
//! ledger verification) between real protocol engines in virtual time. The daemon and the
//! client commands come with the node.

mod demo;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// me2b: a peer-to-peer network for personal data.
#[derive(Debug, Parser)]
#[command(name = "me2b", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Walk through the me2b flows between people and businesses, and tell who learned what.
    Demo {
        /// Print less: only the summary.
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { quiet } => demo::run(quiet),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
