//! Checking the web domains businesses claim.
//!
//! A business's signed profile may name its website. If the website's host serves, at
//! `https://HOST/.well-known/me2b.json`, a statement signed by the business's key for that host
//! ([`me2b_proto::profile::DomainStatement`]), the person's node marks the business "verified
//! HOST": whoever runs that web server vouches for the key. Where the node has no internet, or
//! the statement is missing, malformed or names another key, the business stays "not verified",
//! with the reason. The engine has no I/O: this task fetches and hands the result over as
//! `Command::DomainChecked`.
//!
//! Fetches are bounded: one at a time, 10 s each, at most 16 KiB, no redirects, https only
//! (with the system's roots, plus the authorities in `domain_ca` for a private network), at
//! most [`PER_ROUND`] per round; a verified domain is checked again after a day, one that failed
//! after ten minutes.

use crate::NodeHandle;
use crate::clock::now;
use crate::handle::NodeEvent;
use me2b_proto::engine::{Command, Event};
use me2b_proto::identity::PublicKey;
use me2b_proto::profile::{DomainCheck, DomainStatement};
use me2b_proto::time::Timestamp;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Most domains checked per round.
pub const PER_ROUND: usize = 8;
/// The most a statement may weigh.
const MAX_STATEMENT_BYTES: usize = 16 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const RECHECK_VERIFIED: Duration = Duration::from_secs(24 * 3600);
const RECHECK_FAILED: Duration = Duration::from_secs(600);
/// How often the task looks for domains due, besides when a business is heard from.
const ROUND: Duration = Duration::from_secs(60);

/// Runs the checks for `node` until it stops. `ca_pem` adds certificate authorities to the
/// system's (a PEM bundle), read now so that a malformed one stops the daemon at start.
pub fn spawn(node: NodeHandle, ca_pem: Option<&[u8]>) -> Result<tokio::task::JoinHandle<()>, reqwest::Error> {
    let authorities = match ca_pem {
        Some(pem) => reqwest::Certificate::from_pem_bundle(pem)?,
        None => Vec::new(),
    };
    Ok(tokio::spawn(run(node, authorities)))
}

/// The HTTPS client the checks fetch with. Built at the first check, not at start: loading the
/// system's roots reads every file in `/etc/ssl/certs`, and a node may check no domain for long.
fn client(authorities: &[reqwest::Certificate]) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder =
        reqwest::Client::builder().timeout(FETCH_TIMEOUT).redirect(reqwest::redirect::Policy::none()).https_only(true);
    for authority in authorities {
        builder = builder.add_root_certificate(authority.clone());
    }
    builder.build()
}

async fn run(node: NodeHandle, authorities: Vec<reqwest::Certificate>) {
    let mut events = node.events();
    let mut round = tokio::time::interval(ROUND);
    let mut http = None;
    loop {
        tokio::select! {
            _ = round.tick() => {}
            event = events.recv() => match event {
                // A business was heard from: its profile may be new.
                Ok(NodeEvent::Engine(Event::RequestSeen { .. } | Event::TermsExchanged { sent: false, .. })) => {}
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        }
        let Ok(due) = node.read(|state| due(state, now())).await else { return };
        if due.is_empty() {
            continue;
        }
        if http.is_none() {
            match client(&authorities) {
                Ok(built) => http = Some(built),
                // Tried again next round.
                Err(error) => tracing::warn!(%error, "domain checks: no HTTPS client"),
            }
        }
        let Some(http) = &http else { continue };
        for (business, domain) in due {
            let check = check(http, &business, &domain).await;
            if node.command(Command::DomainChecked { business, check }).await.is_err() {
                return;
            }
        }
    }
}

/// The businesses whose website's domain is due a check, with the domain.
fn due(state: &me2b_proto::engine::State, now: Timestamp) -> Vec<(PublicKey, String)> {
    state
        .businesses
        .iter()
        .filter_map(|(key, known)| {
            let website = &known.profile.as_ref()?.website;
            let domain = domain_of(website)?;
            let fresh = known.domain.as_ref().is_some_and(|check| {
                let after = if check.verified { RECHECK_VERIFIED } else { RECHECK_FAILED };
                check.domain == domain && now < check.checked_at.saturating_add(after)
            });
            (!fresh).then_some((*key, domain))
        })
        .take(PER_ROUND)
        .collect()
}

/// The domain an https website names: its host, lower case, and `:port` if not 443.
pub fn domain_of(website: &str) -> Option<String> {
    let url = reqwest::Url::parse(website).ok()?;
    if url.scheme() != "https" {
        return None;
    }
    let host = url.host_str()?.to_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// Fetches and checks `domain`'s statement for `business`.
async fn check(client: &reqwest::Client, business: &PublicKey, domain: &str) -> DomainCheck {
    let outcome =
        fetch(client, domain).await.and_then(|statement| statement.verify(domain, business).map_err(String::from));
    DomainCheck {
        domain: domain.to_owned(),
        verified: outcome.is_ok(),
        checked_at: now(),
        note: outcome.err().unwrap_or_default(),
    }
}

async fn fetch(client: &reqwest::Client, domain: &str) -> Result<DomainStatement, String> {
    let url = format!("https://{domain}/.well-known/me2b.json");
    let mut response = client.get(&url).send().await.map_err(|e| format!("cannot fetch {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url} broke off: {e}"))? {
        if body.len() + chunk.len() > MAX_STATEMENT_BYTES {
            return Err(format!("{url} is larger than {MAX_STATEMENT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url} is not a me2b statement: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_is_the_https_host_with_a_port_other_than_443() {
        assert_eq!(domain_of("https://Stride.example/about").as_deref(), Some("stride.example"));
        assert_eq!(domain_of("https://127.0.0.1:8443/").as_deref(), Some("127.0.0.1:8443"));
        assert_eq!(domain_of("https://stride.example:443/").as_deref(), Some("stride.example"));
        assert_eq!(domain_of("http://stride.example/"), None);
        assert_eq!(domain_of("not a url"), None);
    }
}
