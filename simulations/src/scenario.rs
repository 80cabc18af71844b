//! Scenario files (TOML). Every field is documented here; `simulations/scenarios/*.toml` are
//! examples. Durations are written `30s`, `5m`, `2h`; times are scenario time (before the
//! time scale is applied).

use anyhow::{Context as _, Result, bail};
use me2b_proto::document::TermsDoc;
use me2b_proto::time::parse_duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name, used in reports.
    pub name: String,
    /// The default seed (`--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// How long the workload runs, in scenario time, e.g. `60s`.
    pub duration: String,
    /// How long to let in-flight work finish after the workload, e.g. `20s` (default).
    #[serde(default)]
    pub drain: Option<String>,
    /// Wall-clock seconds per scenario second (default 1). Above 1, link latencies and the
    /// protocol's intervals are dilated together, and results are reported in scenario time.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// The links between nodes.
    #[serde(default)]
    pub network: Network,
    /// The people.
    pub people: People,
    /// The businesses.
    pub businesses: Businesses,
    /// Nodes leaving and returning.
    #[serde(default)]
    pub churn: Churn,
    /// Misbehaving nodes.
    #[serde(default)]
    pub adversaries: Adversaries,
}

fn one() -> f64 {
    1.0
}

/// A distribution of numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Dist {
    /// Always `value`.
    Fixed {
        /// The value.
        value: f64,
    },
    /// Uniform in `[min, max)`.
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Normal with `mean` and standard deviation `sd`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
    /// Log-normal with the given `median` and log-space `sigma`.
    Lognormal {
        /// Median.
        median: f64,
        /// Spread in log space.
        sigma: f64,
    },
    /// Exponential with `mean`.
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Weibull with `shape` (k) and `scale` (lambda); heavy-tailed for shape < 1.
    Weibull {
        /// Shape k.
        shape: f64,
        /// Scale lambda.
        scale: f64,
    },
}

/// The links.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// One-way latency of each link in milliseconds, drawn once per pair of nodes.
    pub latency_ms: Dist,
    /// Probability that a chunk on a link is lost (and retransmitted).
    #[serde(default)]
    pub loss: f64,
    /// Bandwidth of each link in kilobytes per second (0: unlimited).
    #[serde(default)]
    pub bandwidth_kbps: u64,
    /// Gossip messages handled from one peer per 10 s before the rest are dropped (default
    /// 1000, the node's default).
    #[serde(default = "gossip_limit")]
    pub gossip_per_peer: u32,
    /// Whether nodes run the Kademlia DHT, which connects them to more peers than the
    /// bootstrap topology (default true). Its bootstrap walks make every node contact many
    /// others: at hundreds of nodes in one process, turn it off to keep the drawn topology.
    /// Without it, peer routing is an address book the simulator fills: people know where the
    /// businesses are.
    #[serde(default = "yes")]
    pub dht: bool,
    /// How many earlier nodes each node dials at start (the bootstrap topology; the DHT adds
    /// more connections).
    #[serde(default = "four")]
    pub degree: usize,
    /// A partition, if any.
    #[serde(default)]
    pub partition: Option<Partition>,
    /// Which nodes serve the DHT: `businesses` (the node's default: people only ask it) or
    /// `everyone` (every node a Kademlia server, to study that DHT).
    #[serde(default)]
    pub dht_servers: DhtServers,
    /// Profile lookups in the DHT per second (scenario time), in all: each by a person drawn
    /// from the seed, of a business drawn from the seed (with `dht`; the figures are in
    /// `summary.json`'s `dht` section).
    #[serde(default)]
    pub lookups_per_s: f64,
    /// How long a connection nothing uses stays open, in scenario time, e.g. `10s`
    /// (default: the node's own, 30 s). Gossip mesh connections stay regardless.
    #[serde(default)]
    pub idle_timeout: Option<String>,
    /// A person node's connection budget (default: the node's own, 512).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// How much of a person's budget only its own dials may use (default: the node's own,
    /// 128; a quarter of `max_connections` when that is set). 0 turns the reserve off.
    #[serde(default)]
    pub outbound_reserve: Option<u32>,
}

fn yes() -> bool {
    true
}

fn gossip_limit() -> u32 {
    1000
}

fn four() -> usize {
    4
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency_ms: Dist::Fixed { value: 20.0 },
            loss: 0.0,
            bandwidth_kbps: 0,
            gossip_per_peer: 1000,
            dht: true,
            degree: 4,
            partition: None,
            dht_servers: DhtServers::default(),
            lookups_per_s: 0.0,
            idle_timeout: None,
            max_connections: None,
            outbound_reserve: None,
        }
    }
}

/// The people and how their data and policies are drawn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct People {
    /// How many.
    pub count: usize,
    /// Categories everyone follows.
    pub follow: Vec<String>,
    /// EU shoe size.
    #[serde(default = "shoe_sizes")]
    pub shoe_size: Dist,
    /// Kilometres run this season.
    #[serde(default = "running")]
    pub running_km: Dist,
    /// Fraction who have a health record (`health.acquired.asthma`).
    #[serde(default)]
    pub health_records: f64,
    /// Fraction whose policy shares body data and running facts for personalised offers
    /// without asking; the others are asked about everything.
    #[serde(default)]
    pub share_without_asking: f64,
    /// Probability that a person asked approves.
    #[serde(default)]
    pub approve: f64,
    /// How long a person takes to answer a question (scenario time).
    #[serde(default = "think")]
    pub think_time_s: Dist,
    /// Intents each person publishes per hour (Poisson).
    #[serde(default)]
    pub intents_per_hour: f64,
    /// The intent's category and spec keys (values are drawn from the person's data).
    #[serde(default)]
    pub intent_category: Option<String>,
    /// Activities (runs) each person's devices report per hour (Poisson); each adds to
    /// `activity.running_km`, which drives subscriptions and triggers.
    #[serde(default)]
    pub activities_per_hour: f64,
    /// Kilometres per activity.
    #[serde(default = "run_length")]
    pub km_per_activity: Dist,
    /// Probability that a person revokes an agreement, some time after it.
    #[serde(default)]
    pub revoke: f64,
    /// When, after the agreement (scenario time).
    #[serde(default = "think")]
    pub revoke_after_s: Dist,
}

fn shoe_sizes() -> Dist {
    Dist::Normal { mean: 42.0, sd: 2.0 }
}
fn running() -> Dist {
    Dist::Lognormal { median: 300.0, sigma: 0.7 }
}
fn run_length() -> Dist {
    Dist::Lognormal { median: 8.0, sigma: 0.4 }
}
fn think() -> Dist {
    Dist::Uniform { min: 1.0, max: 10.0 }
}

/// The businesses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Businesses {
    /// How many.
    pub count: usize,
    /// Categories every business follows (for intents).
    #[serde(default)]
    pub follow: Vec<String>,
    /// Data requests, each published by every `every`-th business (round robin).
    #[serde(default)]
    pub campaigns: Vec<Campaign>,
    /// What every business offers in answer to intents.
    #[serde(default)]
    pub catalog: Vec<CatalogEntry>,
}

/// A data request published at a time.
#[derive(Debug, Clone, Deserialize)]
pub struct Campaign {
    /// When (scenario time), e.g. `5s`.
    pub at: String,
    /// The category.
    pub category: String,
    /// Which business publishes it (index, modulo the count; default 0).
    #[serde(default)]
    pub business: usize,
    /// Published again this often until the workload ends, e.g. `5s` (default: once). Each
    /// publication is a new request with the same terms.
    #[serde(default)]
    pub every: Option<String>,
    /// With `every`: each publication by the next business in turn, from `business` on.
    #[serde(default)]
    pub rotate: bool,
    /// What it asks for: fields, purpose, retention, use, compensation, contact.
    #[serde(flatten)]
    pub terms: TermsDoc,
}

/// A product in every business's catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogEntry {
    /// The category.
    pub category: String,
    /// Spec values it fits, e.g. `{ size_eu = ["40", "41"] }`.
    #[serde(default)]
    pub spec: BTreeMap<String, Vec<String>>,
    /// The price in euro.
    pub price_eur: u64,
    /// The terms wanted with it.
    #[serde(flatten)]
    pub terms: TermsDoc,
}

/// Nodes leaving and returning.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    /// Fraction of people whose nodes come and go.
    pub fraction: f64,
    /// Session length in seconds (scenario time), e.g. Weibull with shape < 1.
    pub session_s: Dist,
    /// Time offline in seconds.
    pub offline_s: Dist,
}

impl Default for Churn {
    fn default() -> Self {
        Churn { fraction: 0.0, session_s: Dist::Fixed { value: 1e9 }, offline_s: Dist::Fixed { value: 0.0 } }
    }
}

/// Misbehaving nodes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adversaries {
    /// Businesses that flood gossip with requests for a field nobody shares (marketing use
    /// of `finance.income` on `apparel.shoes`), which agents verify, evaluate and refuse.
    #[serde(default)]
    pub flooders: usize,
    /// Requests per second each flooder publishes (scenario time).
    #[serde(default)]
    pub flood_per_s: f64,
    /// Bare libp2p peers that send malformed gossip and direct messages.
    #[serde(default)]
    pub malformed: usize,
    /// Businesses that go silent after their agreements and never answer revocations.
    #[serde(default)]
    pub ignore_revocations: usize,
    /// Sybils: bare libp2p peers with the node's own network stack and fresh identities, which
    /// join every gossip topic they see and then forward nothing (they never validate what
    /// they receive, so gossipsub neither forwards nor advertises it). They start with the
    /// network (a cold boot: they are among everyone's first peers).
    #[serde(default)]
    pub sybils: usize,
    /// What the Sybils do (default `black-hole`).
    #[serde(default)]
    pub sybil_attack: SybilAttack,
    /// How many honest nodes each Sybil dials (default 4; for `eclipse`, they all dial the
    /// target).
    #[serde(default = "four")]
    pub sybil_degree: usize,
    /// `covert-flash`: when the Sybils stop forwarding (scenario time); before, they forward
    /// like honest peers, earning their place in the meshes.
    #[serde(default)]
    pub flash_at: Option<String>,
    /// `eclipse`: the node every Sybil dials (default: the middle person).
    #[serde(default)]
    pub eclipse_target: Option<usize>,
    /// Demand poisoning: person nodes that publish fake intents in `people.intent_category`
    /// (real nodes, real signatures, each intent from a fresh one-time key, as honest intents
    /// are), inflating the demand businesses count.
    #[serde(default)]
    pub poisoners: usize,
    /// Fake intents each poisoner publishes per second (scenario time).
    #[serde(default)]
    pub fake_intents_per_s: f64,
}

/// Which nodes serve the DHT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DhtServers {
    /// Businesses serve, people ask (the node's default).
    #[default]
    Businesses,
    /// Every node serves.
    Everyone,
}

/// What Sybils do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SybilAttack {
    /// Forward nothing from the start.
    #[default]
    BlackHole,
    /// Forward honestly until `flash_at`, then nothing, all at once.
    CovertFlash,
    /// All dial one node (`eclipse_target`) and forward nothing to it.
    Eclipse,
}

/// A network partition: for a while, the nodes on one side cannot reach the other. Bytes on
/// connections across it are held (as a real partition holds TCP segments) and delivered when
/// it heals; new connections across it wait too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// When it starts (scenario time), e.g. `15s`.
    pub at: String,
    /// When it heals.
    pub heal: String,
    /// The fraction of people cut off from everyone else (the first ones by index; the
    /// businesses stay with the others).
    pub fraction: f64,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        Ok(Scenario::load_with(path, &[])?.0)
    }

    /// Reads a scenario file, applies `overrides` (each `KEY=VALUE`, see [`set`]) in order and
    /// checks the result. Also returns the document after the overrides, which is what a run
    /// records in its manifest and what `replay` runs again.
    pub fn load_with(path: &Path, overrides: &[String]) -> Result<(Scenario, toml::Table)> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut document: toml::Table =
            toml::from_str(&text).with_context(|| format!("{} is not a valid scenario", path.display()))?;
        for assignment in overrides {
            set(&mut document, assignment)?;
        }
        let scenario = Scenario::from_document(&document).with_context(|| {
            if overrides.is_empty() {
                format!("{} is not a valid scenario", path.display())
            } else {
                format!("{} with {} is not a valid scenario", path.display(), overrides.join(" "))
            }
        })?;
        Ok((scenario, document))
    }

    /// A scenario from its document (a file's table after overrides), checked.
    pub fn from_document(document: &toml::Table) -> Result<Scenario> {
        let scenario: Scenario = toml::Value::Table(document.clone()).try_into()?;
        scenario.check()?;
        Ok(scenario)
    }

    fn check(&self) -> Result<()> {
        if !(self.time_scale >= 1.0 && self.time_scale <= 1000.0) {
            bail!("time_scale must be between 1 and 1000");
        }
        if self.people.count == 0 || self.businesses.count == 0 {
            bail!("a scenario needs at least one person and one business");
        }
        if !(0.0..=0.5).contains(&self.network.loss) {
            bail!("network.loss must be between 0 and 0.5");
        }
        self.duration()?;
        self.drain()?;
        for campaign in &self.businesses.campaigns {
            parse_duration(&campaign.at).map_err(|e| anyhow::anyhow!("campaign at: {e}"))?;
            if let Some(every) = &campaign.every {
                let every = parse_duration(every).map_err(|e| anyhow::anyhow!("campaign every: {e}"))?;
                if every < Duration::from_millis(100) {
                    bail!("campaign every: at least 100ms");
                }
            }
        }
        self.idle_timeout()?;
        if let Some(partition) = &self.network.partition {
            let (at, heal) = self.partition_window().context("network.partition")?.unwrap_or_default();
            if heal <= at || !(0.0..=1.0).contains(&partition.fraction) {
                bail!("network.partition: heal must come after at, and fraction be between 0 and 1");
            }
        }
        let adversaries = &self.adversaries;
        if adversaries.sybil_attack == SybilAttack::CovertFlash && adversaries.sybils > 0 {
            self.flash_at()?.context("adversaries.flash_at is needed for a covert flash")?;
        }
        if adversaries.eclipse_target.is_some_and(|t| t >= self.people.count) {
            bail!("adversaries.eclipse_target must be a person's index (below people.count)");
        }
        if adversaries.poisoners > 0 && self.people.intent_category.is_none() {
            bail!("adversaries.poisoners need people.intent_category: the category of their fake intents");
        }
        Ok(())
    }

    /// When the partition starts and heals (scenario time), if there is one.
    pub fn partition_window(&self) -> Result<Option<(Duration, Duration)>> {
        let Some(partition) = &self.network.partition else { return Ok(None) };
        let at = parse_duration(&partition.at).map_err(|e| anyhow::anyhow!("at: {e}"))?;
        let heal = parse_duration(&partition.heal).map_err(|e| anyhow::anyhow!("heal: {e}"))?;
        Ok(Some((at, heal)))
    }

    /// The scenario's idle timeout for connections, if it sets one.
    pub fn idle_timeout(&self) -> Result<Option<Duration>> {
        match &self.network.idle_timeout {
            Some(text) => Ok(Some(parse_duration(text).map_err(|e| anyhow::anyhow!("network.idle_timeout: {e}"))?)),
            None => Ok(None),
        }
    }

    /// When covert Sybils stop forwarding (scenario time).
    pub fn flash_at(&self) -> Result<Option<Duration>> {
        match &self.adversaries.flash_at {
            Some(text) => Ok(Some(parse_duration(text).map_err(|e| anyhow::anyhow!("adversaries.flash_at: {e}"))?)),
            None => Ok(None),
        }
    }

    /// The person the eclipse aims at.
    pub fn eclipse_target(&self) -> usize {
        self.adversaries.eclipse_target.unwrap_or(self.people.count / 2)
    }

    /// How many people are cut off by the partition (the first ones by index).
    pub fn cut_off(&self) -> usize {
        self.network.partition.as_ref().map_or(0, |p| (p.fraction * self.people.count as f64).round() as usize)
    }

    /// The workload's length in scenario time.
    pub fn duration(&self) -> Result<Duration> {
        parse_duration(&self.duration).map_err(|e| anyhow::anyhow!("duration: {e}"))
    }

    /// The drain's length in scenario time.
    pub fn drain(&self) -> Result<Duration> {
        match &self.drain {
            Some(text) => parse_duration(text).map_err(|e| anyhow::anyhow!("drain: {e}")),
            None => Ok(Duration::from_secs(20)),
        }
    }

    /// How many nodes: people first, then businesses, then the adversaries that run real
    /// nodes (flooders, a business's; then poisoners, a person's). Sybils are not nodes.
    pub fn nodes(&self) -> usize {
        self.people.count + self.businesses.count + self.adversaries.flooders + self.adversaries.poisoners
    }

    /// The index of the first poisoner.
    pub fn first_poisoner(&self) -> usize {
        self.people.count + self.businesses.count + self.adversaries.flooders
    }
}

/// Applies one override, `KEY=VALUE`, to a scenario document. `KEY` is a dotted path into the
/// file's tables (`people.count`, `network.latency_ms.median`); a number selects an element of
/// an array (`businesses.campaigns.0.at`). `VALUE` is read as a TOML value (`2000`, `0.1`,
/// `true`, `"30s"`, `["a", "b"]`, `{ kind = "fixed", value = 20 }`), or taken as a string when
/// it is not one (`--set duration=90s`). Tables on the way are created when missing (for the
/// sections with defaults, like `churn`); whether the key exists is then checked by the
/// scenario's own reader, which names the valid keys.
pub fn set(document: &mut toml::Table, assignment: &str) -> Result<()> {
    let Some((key, text)) = assignment.split_once('=') else {
        bail!("--set {assignment}: expected KEY=VALUE, e.g. people.count=2000");
    };
    let (key, text) = (key.trim(), text.trim());
    let value = match toml::from_str::<toml::Table>(&format!("value = {text}")) {
        Ok(mut table) => table.remove("value").unwrap_or_else(|| toml::Value::String(text.to_owned())),
        Err(_) => toml::Value::String(text.to_owned()),
    };
    let path: Vec<&str> = key.split('.').collect();
    if path.iter().any(|segment| segment.is_empty()) {
        bail!("--set {assignment}: the key has an empty part");
    }
    let mut root = toml::Value::Table(std::mem::take(document));
    let result = set_path(&mut root, &path, 0, value).with_context(|| format!("--set {assignment}"));
    if let toml::Value::Table(table) = root {
        *document = table;
    }
    result
}

/// Sets `path[at..]` inside `here` to `value`.
fn set_path(here: &mut toml::Value, path: &[&str], at: usize, value: toml::Value) -> Result<()> {
    let Some(segment) = path.get(at) else {
        *here = value;
        return Ok(());
    };
    let walked = path[..at].join(".");
    match here {
        toml::Value::Table(table) => {
            let next = if at + 1 == path.len() {
                table.entry(segment.to_string()).or_insert(toml::Value::Boolean(false))
            } else {
                table.entry(segment.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()))
            };
            set_path(next, path, at + 1, value)
        }
        toml::Value::Array(items) => {
            let len = items.len();
            let index: usize =
                segment.parse().with_context(|| format!("{walked} is a list: the next part must be an index"))?;
            let item =
                items.get_mut(index).with_context(|| format!("{walked} has {len} elements, there is no {index}"))?;
            set_path(item, path, at + 1, value)
        }
        _ => bail!("{walked} is a value, not a section"),
    }
}
