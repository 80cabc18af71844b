//! The phases of a run, as `Runner` methods: creating the nodes, setting them up and
//! connecting them, playing the workload's timeline, and collecting the results.

use super::*;

/// What the workload published.
pub(super) struct Played {
    pub(super) published: Vec<(RequestId, usize, Duration, Option<usize>)>,
    pub(super) intents: Vec<(me2b_proto::identity::IntentId, usize, Duration)>,
    pub(super) fake_intents: Vec<me2b_proto::identity::IntentId>,
}

impl Runner {
    pub(super) fn new(
        scenario: Arc<Scenario>,
        workload: Workload,
        seed: u64,
        root: PathBuf,
        events: mpsc::Sender<(Instant, usize, Heard)>,
    ) -> Runner {
        let total = scenario.nodes();
        let running_km = workload.people.iter().map(|p| p.running_km).collect();
        let nodes = (0..total)
            .map(|index| {
                let person = index < scenario.people.count || index >= scenario.first_poisoner();
                let role = if person { Role::Person } else { Role::Business };
                let mut secret = [0u8; 32];
                rng(seed, "identity", index as u64).fill_bytes(&mut secret);
                let key = me2b_proto::identity::Keypair::from_secret_bytes(&secret).public();
                let store = root.join(format!("node-{index}"));
                SimNode { role, secret, store, handle: None, key, address: None, tally: Tally::default() }
            })
            .collect();
        let registry = Registry::new(total, scenario.cut_off());
        Runner { scenario, workload, registry, nodes, events, seed, running_km, sybils: SybilSwitches::default() }
    }

    /// Starts and sets up every node, lets the Sybils connect (a cold boot: before the honest
    /// topology), connects the topology, starts the malformed peers and warms up the gossip
    /// mesh. The Sybils' switch (in `self.sybils`) also stops the malformed peers.
    pub(super) async fn set_up_all(&mut self, progress: &mut dyn Progress) -> Result<()> {
        let total = self.nodes.len();
        progress.phase(&format!("starting {total} nodes"));
        for index in 0..total {
            self.start(index).await?;
            self.set_up(index).await?;
            if index % 100 == 99 {
                progress.advance(0.0, &format!("{} nodes started", index + 1));
            }
        }
        if self.scenario.network.dht {
            for index in 0..total {
                self.dht_bootstrap(index).await;
            }
        } else {
            self.address_book().await;
        }
        self.start_sybils(progress).await;
        progress.phase("connecting the bootstrap topology");
        for index in 0..total {
            self.dial_topology(index).await;
        }
        let stop = self.sybils.stop.clone();
        for k in 0..self.scenario.adversaries.malformed {
            let targets: Vec<Multiaddr> = {
                let mut pick = rng(self.seed, "malformed", k as u64);
                (0..3).filter_map(|_| self.nodes[(pick.next_u64() % total as u64) as usize].address.clone()).collect()
            };
            let mut secret = [0u8; 32];
            rng(self.seed, "malformed-identity", k as u64).fill_bytes(&mut secret);
            tokio::spawn(malformed_peer(secret, targets, stop.clone()));
        }
        progress.phase("warming up the gossip mesh");
        tokio::time::sleep(WARM_UP.mul_f64(self.scenario.time_scale)).await;
        Ok(())
    }

    /// Starts the Sybils, each dialling `sybil_degree` honest people drawn from the seed (or
    /// all the eclipse's target), and waits until their connections are up (at most 10 s of
    /// scenario time), so that they are everyone's first peers.
    async fn start_sybils(&mut self, progress: &mut dyn Progress) {
        let adversaries = &self.scenario.adversaries;
        if adversaries.sybils == 0 {
            return;
        }
        progress.phase(&format!("starting {} Sybils", adversaries.sybils));
        let covert = adversaries.sybil_attack == SybilAttack::CovertFlash;
        self.sybils.forwarding.store(covert, std::sync::atomic::Ordering::Relaxed);
        let people = self.scenario.people.count;
        let target = self.scenario.eclipse_target();
        let mut expected = 0u64;
        for k in 0..adversaries.sybils {
            let targets: Vec<Multiaddr> = if adversaries.sybil_attack == SybilAttack::Eclipse {
                self.nodes[target].address.clone().into_iter().collect()
            } else {
                let mut pick = rng(self.seed, "sybil", k as u64);
                let mut chosen = std::collections::BTreeSet::new();
                while chosen.len() < adversaries.sybil_degree.min(people) {
                    chosen.insert((pick.next_u64() % people as u64) as usize);
                }
                chosen.into_iter().filter_map(|i| self.nodes[i].address.clone()).collect()
            };
            expected += targets.len() as u64;
            let mut secret = [0u8; 32];
            rng(self.seed, "sybil-identity", k as u64).fill_bytes(&mut secret);
            tokio::spawn(sybil(secret, targets, self.sybils.clone()));
        }
        let deadline = Instant::now() + Duration::from_secs(10).mul_f64(self.scenario.time_scale);
        while self.sybils.stats.connections.load(std::sync::atomic::Ordering::Relaxed) < expected {
            let woken = tokio::time::timeout_at(deadline.into(), self.sybils.connected.notified()).await;
            if woken.is_err() {
                break;
            }
        }
    }

    /// Plays the workload's timeline from `started`, passing owners' decisions on as they come.
    pub(super) async fn play(
        &mut self,
        started: Instant,
        decisions: &mpsc::Sender<(usize, Command)>,
        decided: &mut mpsc::Receiver<(usize, Command)>,
        progress: &mut dyn Progress,
    ) -> Result<Played> {
        let scale = self.scenario.time_scale;
        let duration = self.scenario.duration()?;
        let expires = (duration + self.scenario.drain()?).mul_f64(scale) + Duration::from_secs(3600);
        let mut played = Played { published: Vec::new(), intents: Vec::new(), fake_intents: Vec::new() };
        let workload = self.workload.clone();
        let mut timeline = workload.timeline.iter().peekable();
        let end = started + duration.mul_f64(scale);
        let mut last_progress = Instant::now();
        loop {
            let next_at = timeline.peek().map(|t| started + Duration::from_millis(t.at_ms).mul_f64(scale));
            let wake = next_at.map(|at| at.min(end)).unwrap_or(end);
            tokio::select! {
                Some((index, command)) = decided.recv() => {
                    self.command(index, command).await;
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    if Instant::now() >= end && next_at.is_none_or(|at| at >= end) {
                        break;
                    }
                    let Some(timed) = timeline.next() else { continue };
                    self.act(&timed.action, started, expires, decisions, &mut played).await?;
                }
            }
            if last_progress.elapsed() > Duration::from_millis(500) {
                last_progress = Instant::now();
                let fraction = started.elapsed().as_secs_f64() / (end - started).as_secs_f64();
                let line = format!("{} requests, {} intents published", played.published.len(), played.intents.len());
                progress.advance(fraction.min(1.0), &line);
            }
        }
        Ok(played)
    }

    /// Carries out one action of the workload.
    pub(super) async fn act(
        &mut self,
        action: &Action,
        started: Instant,
        expires: Duration,
        decisions: &mpsc::Sender<(usize, Command)>,
        played: &mut Played,
    ) -> Result<()> {
        match action {
            Action::Campaign { business, campaign } => {
                if let Some(id) = self.publish_campaign(*business, *campaign, expires).await {
                    played.published.push((id, *business, started.elapsed(), Some(*campaign)));
                }
            }
            Action::Intent { person } => {
                let Some(category) = &self.scenario.people.intent_category else { return Ok(()) };
                let size = self.workload.people[*person].shoe_size;
                let command = Command::PublishIntent {
                    category: category.parse()?,
                    spec: BTreeMap::from([("size_eu".to_string(), format!("{size}"))]),
                    max_price: Some(Money::new(12_000, "EUR")?),
                    shares: vec![],
                    expires_at: now().saturating_add(expires),
                };
                if let Some(Handled::Intent(id)) = self.command(*person, command).await {
                    played.intents.push((id, *person, started.elapsed()));
                }
            }
            Action::Activity { person, km } => self.activity(*person, *km).await?,
            Action::Leave { node } => {
                let leaving = &mut self.nodes[*node];
                if let Some(handle) = leaving.handle.take() {
                    if let Ok(info) = handle.info().await {
                        leaving.tally.add(&info);
                    }
                    handle.shutdown().await;
                }
            }
            Action::Return { node } => {
                if self.nodes[*node].handle.is_none() {
                    self.start(*node).await?;
                    self.dial_topology(*node).await;
                    if self.scenario.network.dht {
                        self.dht_bootstrap(*node).await;
                    } else {
                        self.address_book().await;
                    }
                    spawn_owner(self, *node, decisions.clone());
                }
            }
            Action::FakeIntent { node } => {
                let Some(category) = &self.scenario.people.intent_category else { return Ok(()) };
                let command = Command::PublishIntent {
                    category: category.parse()?,
                    spec: BTreeMap::from([("size_eu".to_string(), "44".to_string())]),
                    max_price: Some(Money::new(12_000, "EUR")?),
                    shares: vec![],
                    expires_at: now().saturating_add(expires),
                };
                if let Some(Handled::Intent(id)) = self.command(*node, command).await {
                    played.fake_intents.push(id);
                }
            }
            Action::LookUp { person, business } => {
                if let Some(handle) = &self.nodes[*person].handle {
                    let _ = handle.look_up_profile(self.nodes[*business].key).await;
                }
            }
            Action::Flash => self.sybils.forwarding.store(false, std::sync::atomic::Ordering::Relaxed),
            Action::Partition => self.registry.partitioned.store(true, std::sync::atomic::Ordering::Relaxed),
            Action::Heal => self.registry.partitioned.store(false, std::sync::atomic::Ordering::Relaxed),
            Action::Flood { node } => {
                // Fire and forget: a flooder does not wait for its own store.
                if let (Some(handle), Some(command)) = (self.nodes[*node].handle.clone(), spam(expires)) {
                    tokio::spawn(async move { handle.command(command).await });
                }
            }
        }
        Ok(())
    }

    /// The final states and counters of the nodes running at the end, which are then stopped.
    pub(super) async fn collect(&mut self) -> Result<(BTreeMap<usize, State>, Vec<Tally>, Vec<u64>)> {
        let mut states = BTreeMap::new();
        for (index, node) in self.nodes.iter_mut().enumerate() {
            if let Some(handle) = &node.handle {
                states.insert(index, handle.state().await?);
                let info = handle.info().await?;
                node.tally.connected_at_end = info.connected_peers;
                node.tally.add(&info);
            }
        }
        let tallies = self.nodes.iter().map(|n| n.tally).collect();
        let wire_bytes =
            self.registry.wire_bytes.iter().map(|c| c.load(std::sync::atomic::Ordering::Relaxed)).collect();
        for node in &mut self.nodes {
            if let Some(handle) = node.handle.take() {
                handle.shutdown().await;
            }
        }
        Ok((states, tallies, wire_bytes))
    }
}
