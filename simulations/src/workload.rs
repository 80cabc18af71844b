//! The workload a scenario and a seed fix: who the nodes are, their data and policies, the
//! topology and link latencies, and when everything happens. Drawn with ChaCha20, whose output
//! is stable across versions, so a recorded seed reproduces the workload after an upgrade.

use crate::scenario::{Dist, Scenario};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use serde::Serialize;
use std::time::Duration;

/// A random source for one purpose, derived from the seed and a label, so that adding draws
/// for one purpose does not shift another's.
pub fn rng(seed: u64, label: &str, index: u64) -> ChaCha20Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&index.to_le_bytes());
    for (i, byte) in label.bytes().enumerate().take(16) {
        key[16 + i] = byte;
    }
    ChaCha20Rng::from_seed(key)
}

fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    // 53 random bits in [0, 1).
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl Dist {
    /// One draw.
    pub fn sample(&self, rng: &mut ChaCha20Rng) -> f64 {
        match *self {
            Dist::Fixed { value } => value,
            Dist::Uniform { min, max } => min + (max - min) * uniform(rng),
            Dist::Normal { mean, sd } => mean + sd * standard_normal(rng),
            Dist::Lognormal { median, sigma } => median * (sigma * standard_normal(rng)).exp(),
            Dist::Exponential { mean } => -mean * (1.0 - uniform(rng)).ln(),
            Dist::Weibull { shape, scale } => scale * (-(1.0 - uniform(rng)).ln()).powf(1.0 / shape),
        }
    }
}

fn standard_normal(rng: &mut ChaCha20Rng) -> f64 {
    // Box-Muller.
    let u1 = uniform(rng).max(f64::MIN_POSITIVE);
    let u2 = uniform(rng);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The times (ms) of a Poisson process with `per_hour` events an hour, before `end_ms`.
fn poisson(rng: &mut ChaCha20Rng, per_hour: f64, end_ms: u64) -> Vec<u64> {
    let mut times = Vec::new();
    if per_hour <= 0.0 {
        return times;
    }
    let gap = Dist::Exponential { mean: 3_600_000.0 / per_hour };
    let mut at = gap.sample(rng);
    while (at as u64) < end_ms {
        times.push(at as u64);
        at += gap.sample(rng);
    }
    times
}

/// One person's draw.
#[derive(Debug, Clone, Serialize)]
pub struct PersonPlan {
    /// EU shoe size.
    pub shoe_size: f64,
    /// Kilometres run.
    pub running_km: f64,
    /// Has a health record.
    pub health_record: bool,
    /// Shares body data without asking.
    pub shares_without_asking: bool,
    /// Whether their node churns.
    pub churns: bool,
}

/// Something that happens at a time (scenario time, from the start of the workload).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// A business publishes campaign `campaign`.
    Campaign {
        /// The business (node index).
        business: usize,
        /// Index into the scenario's campaigns.
        campaign: usize,
    },
    /// A person publishes an intent.
    Intent {
        /// The person (node index).
        person: usize,
    },
    /// A person's device reports an activity.
    Activity {
        /// The person (node index).
        person: usize,
        /// Kilometres run.
        km: f64,
    },
    /// A node goes offline.
    Leave {
        /// The node.
        node: usize,
    },
    /// It comes back.
    Return {
        /// The node.
        node: usize,
    },
    /// A flooder publishes a request.
    Flood {
        /// The flooder (node index).
        node: usize,
    },
    /// A poisoner publishes a fake intent.
    FakeIntent {
        /// The poisoner (node index).
        node: usize,
    },
    /// A person looks a business's profile up in the DHT.
    LookUp {
        /// The person.
        person: usize,
        /// The business (node index).
        business: usize,
    },
    /// Covert Sybils stop forwarding, all at once.
    Flash,
    /// The partition starts.
    Partition,
    /// The partition heals.
    Heal,
}

/// A timed action.
#[derive(Debug, Clone, Serialize)]
pub struct Timed {
    /// When, in milliseconds of scenario time.
    pub at_ms: u64,
    /// What.
    #[serde(flatten)]
    pub action: Action,
}

/// Everything the seed fixes.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// The seed.
    pub seed: u64,
    /// People, by node index (0..people).
    pub people: Vec<PersonPlan>,
    /// The bootstrap topology: node `i` dials each `j` in `dials[i]`.
    pub dials: Vec<Vec<usize>>,
    /// The timeline, ordered by time.
    pub timeline: Vec<Timed>,
}

impl Workload {
    /// Draws the workload of `scenario` with `seed`.
    pub fn draw(scenario: &Scenario, seed: u64) -> anyhow::Result<Workload> {
        let people: Vec<PersonPlan> = (0..scenario.people.count)
            .map(|i| {
                let mut rng = rng(seed, "person", i as u64);
                let p = &scenario.people;
                PersonPlan {
                    shoe_size: p.shoe_size.sample(&mut rng).round().clamp(30.0, 50.0),
                    running_km: p.running_km.sample(&mut rng).max(0.0).round(),
                    health_record: uniform(&mut rng) < p.health_records,
                    shares_without_asking: uniform(&mut rng) < p.share_without_asking,
                    churns: uniform(&mut rng) < scenario.churn.fraction,
                }
            })
            .collect();
        let dials = (0..scenario.nodes()).map(|i| topology(scenario, seed, i)).collect();
        let timeline = timeline(scenario, seed, &people)?;
        Ok(Workload { seed, people, dials, timeline })
    }

    /// What the seed fixed, in a few numbers (for `summary.json`).
    pub fn summary(&self) -> serde_json::Value {
        let count = |f: &dyn Fn(&Action) -> bool| self.timeline.iter().filter(|t| f(&t.action)).count();
        serde_json::json!({
            "seed": self.seed,
            "people": self.people.len(),
            "nodes": self.dials.len(),
            "bootstrap_links": self.dials.iter().map(Vec::len).sum::<usize>(),
            "campaigns": count(&|a| matches!(a, Action::Campaign { .. })),
            "intents": count(&|a| matches!(a, Action::Intent { .. })),
            "activities": count(&|a| matches!(a, Action::Activity { .. })),
            "departures": count(&|a| matches!(a, Action::Leave { .. })),
            "flood_messages": count(&|a| matches!(a, Action::Flood { .. })),
            "fake_intents": count(&|a| matches!(a, Action::FakeIntent { .. })),
            "dht_lookups": count(&|a| matches!(a, Action::LookUp { .. })),
            "people_sharing_without_asking": self.people.iter().filter(|p| p.shares_without_asking).count(),
            "people_with_health_records": self.people.iter().filter(|p| p.health_record).count(),
            "people_churning": self.people.iter().filter(|p| p.churns).count(),
            "digest": self.digest(),
        })
    }

    /// A hash of the whole workload, to compare two runs at a glance.
    pub fn digest(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        me2b_proto::identity::Digest::of(text.as_bytes()).to_string()
    }
}

/// The one-way latency of the link between nodes `a` and `b` (the same both ways), drawn from
/// the seed, so any pair has one whether or not it is in the bootstrap topology.
pub fn link_latency(scenario: &Scenario, seed: u64, a: usize, b: usize) -> Duration {
    let (low, high) = (a.min(b) as u64, a.max(b) as u64);
    let mut rng = rng(seed, "link", low << 32 | high);
    Duration::from_secs_f64(scenario.network.latency_ms.sample(&mut rng).max(0.0) / 1000.0)
}

/// The peers node `i` dials at start: `degree` distinct earlier nodes, drawn from the seed.
fn topology(scenario: &Scenario, seed: u64, i: usize) -> Vec<usize> {
    let mut rng = rng(seed, "topology", i as u64);
    let mut chosen = Vec::new();
    let want = scenario.network.degree.min(i);
    while chosen.len() < want {
        let j = (rng.next_u64() % i as u64) as usize;
        if !chosen.contains(&j) {
            chosen.push(j);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Everything that happens, in time order: campaigns, intents and activities, churn, the
/// adversaries' actions.
fn timeline(scenario: &Scenario, seed: u64, people: &[PersonPlan]) -> anyhow::Result<Vec<Timed>> {
    let duration = scenario.duration()?;
    let end_ms = duration.as_millis() as u64;
    let mut timeline = Vec::new();
    for (index, campaign) in scenario.businesses.campaigns.iter().enumerate() {
        let at = me2b_proto::time::parse_duration(&campaign.at).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut turn = campaign.business;
        let every = match &campaign.every {
            Some(every) => Some(me2b_proto::time::parse_duration(every).map_err(|e| anyhow::anyhow!("{e}"))?),
            None => None,
        };
        let mut at_ms = at.as_millis() as u64;
        loop {
            let business = scenario.people.count + turn % scenario.businesses.count;
            timeline.push(Timed { at_ms, action: Action::Campaign { business, campaign: index } });
            turn += usize::from(campaign.rotate);
            match every {
                Some(every) if at_ms + (every.as_millis() as u64) < end_ms => at_ms += every.as_millis() as u64,
                _ => break,
            }
        }
    }
    for person in 0..scenario.people.count {
        let mut rng = rng(seed, "intents", person as u64);
        for at_ms in poisson(&mut rng, scenario.people.intents_per_hour, end_ms) {
            timeline.push(Timed { at_ms, action: Action::Intent { person } });
        }
        let mut rng = self::rng(seed, "activities", person as u64);
        for at_ms in poisson(&mut rng, scenario.people.activities_per_hour, end_ms) {
            let km = scenario.people.km_per_activity.sample(&mut rng).max(0.0).round();
            timeline.push(Timed { at_ms, action: Action::Activity { person, km } });
        }
    }
    for (person, plan) in people.iter().enumerate().filter(|(_, p)| p.churns) {
        let mut rng = rng(seed, "churn", person as u64);
        let mut at = scenario.churn.session_s.sample(&mut rng) * 1000.0;
        while (at as u64) < end_ms {
            timeline.push(Timed { at_ms: at as u64, action: Action::Leave { node: person } });
            at += scenario.churn.offline_s.sample(&mut rng).max(1.0) * 1000.0;
            timeline.push(Timed { at_ms: (at as u64).min(end_ms), action: Action::Return { node: person } });
            at += scenario.churn.session_s.sample(&mut rng).max(1.0) * 1000.0;
        }
        let _ = plan;
    }
    // Businesses that ignore revocations: they go silent halfway and never come back, so
    // revocations sent to them wait in outboxes and no receipt ever arrives.
    for k in 0..scenario.adversaries.ignore_revocations.min(scenario.businesses.count) {
        let node = scenario.people.count + scenario.businesses.count - 1 - k;
        timeline.push(Timed { at_ms: end_ms / 2, action: Action::Leave { node } });
    }
    if scenario.adversaries.flood_per_s > 0.0 {
        let gap_ms = 1000.0 / scenario.adversaries.flood_per_s;
        for k in 0..scenario.adversaries.flooders {
            let node = scenario.people.count + scenario.businesses.count + k;
            let mut at = 1000.0;
            while (at as u64) < end_ms {
                timeline.push(Timed { at_ms: at as u64, action: Action::Flood { node } });
                at += gap_ms;
            }
        }
    }
    if scenario.adversaries.fake_intents_per_s > 0.0 {
        let gap_ms = 1000.0 / scenario.adversaries.fake_intents_per_s;
        for k in 0..scenario.adversaries.poisoners {
            let node = scenario.first_poisoner() + k;
            let mut at = 1000.0 + gap_ms * k as f64 / scenario.adversaries.poisoners as f64;
            while (at as u64) < end_ms {
                timeline.push(Timed { at_ms: at as u64, action: Action::FakeIntent { node } });
                at += gap_ms;
            }
        }
    }
    if scenario.network.dht && scenario.network.lookups_per_s > 0.0 {
        let mut rng = rng(seed, "lookups", 0);
        let per_hour = scenario.network.lookups_per_s * 3600.0;
        for at_ms in poisson(&mut rng, per_hour, end_ms) {
            let person = (rng.next_u64() % scenario.people.count as u64) as usize;
            let business = scenario.people.count + (rng.next_u64() % scenario.businesses.count as u64) as usize;
            timeline.push(Timed { at_ms, action: Action::LookUp { person, business } });
        }
    }
    if scenario.adversaries.sybils > 0
        && let Some(at) = scenario.flash_at()?
    {
        timeline.push(Timed { at_ms: at.as_millis() as u64, action: Action::Flash });
    }
    if let Some((at, heal)) = scenario.partition_window()? {
        timeline.push(Timed { at_ms: at.as_millis() as u64, action: Action::Partition });
        timeline.push(Timed { at_ms: heal.as_millis() as u64, action: Action::Heal });
    }
    timeline
        .sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| format!("{:?}", a.action).cmp(&format!("{:?}", b.action))));
    Ok(timeline)
}
