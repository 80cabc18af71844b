//! The chapters of the demo's story, in the order `story` tells them: each sets up what it
//! needs, waits on the nodes' events (never on a clock), and says what happened.

use super::*;

/// The chapters of the story, in order.
impl Story {
    /// People fill their stores, set their limits, follow categories; everyone connects.
    pub(super) async fn fill_stores(&mut self, cast: Cast) -> Result<()> {
        let Cast { ada, ben, stride, pace, clinic } = cast;
        self.chapter("People fill their personal data stores and set their limits");
        let ada_policy = Policy {
            rules: vec![
                rule("body", Share::Raw, &[Purpose::PersonalisedOffers])?,
                rule("activity", Share::DerivedOnly, &[Purpose::PersonalisedOffers])?,
                rule("profile.birthdate", Share::DerivedOnly, &[Purpose::Research])?,
                rule("health", Share::Raw, &[Purpose::Research])?,
            ],
            max_retention: 90 * DAY,
            max_contact: Some(ContactPermission { max_messages: 2, per_period: 30 * DAY }),
            ..Policy::default()
        };
        let ben_policy = Policy {
            rules: vec![
                rule("body", Share::Raw, &[Purpose::PersonalisedOffers])?,
                rule("health", Share::Raw, &[Purpose::Research])?,
            ],
            max_retention: 30 * DAY,
            min_compensation: Compensation::Discount { percent: 15 },
            ..Policy::default()
        };
        for (who, policy, size, km, birth) in
            [(ada, ada_policy, 44.0, 450.0, (1990, 5, 17)), (ben, ben_policy, 42.0, 120.0, (1985, 2, 3))]
        {
            self.command(who, Command::SetPolicy(policy)).await?;
            self.set(who, "body.shoe_size_eu", Value::Number(size)).await?;
            self.set(who, "activity.running_km", runs(km)).await?;
            let (y, m, d) = birth;
            self.set(who, "profile.birthdate", Value::Date(Date::new(y, m, d).context("date")?)).await?;
            self.set(who, "health.acquired.asthma", Value::Boolean(who == ada)).await?;
            self.set(who, "profile.email", Value::Text("private@example.org".into())).await?;
            for category in ["apparel.shoes", "health.research"] {
                self.command(who, Command::Subscribe(category.parse()?)).await?;
            }
        }
        self.say("Ada: shoe size, running log, birth date, a health record, e-mail. Shares body data for offers,");
        self.say("     running only as derived facts, health only for research (always asking her first).");
        self.say("Ben: similar, but keeps data 30 days at most and wants at least 15% off.");
        for business in [stride, pace] {
            self.command(business, Command::Subscribe("apparel.shoes".parse()?)).await?;
        }
        self.command(clinic, Command::Subscribe("health.research".parse()?)).await?;
        self.command(stride, Command::SetBusinessPolicy(BusinessPolicy::default())).await?;

        // Everyone connects to everyone (on a LAN, mDNS would do this; on the Internet, the DHT).
        let keys: Vec<PublicKey> = self.members.keys().copied().collect();
        for (i, from) in keys.iter().enumerate() {
            for to in &keys[i + 1..] {
                let target = address(&self.member(to).node).await?;
                self.member(from).node.dial(target).await?;
            }
        }
        self.wait_subscribed(stride, "me2b/v1/requests/apparel.shoes", &[ada, ben]).await?;
        self.wait_subscribed(clinic, "me2b/v1/requests/health.research", &[ada, ben]).await?;
        self.say("five nodes connected; the people follow apparel.shoes and health.research");
        Ok(())
    }

    /// A business asks (B2One): Stride's request, Ada's counter-offer; returns their agreement.
    pub(super) async fn b2one(&mut self, cast: Cast) -> Result<AgreementId> {
        let Cast { ada, ben, stride, .. } = cast;
        self.chapter("Stride Shoes broadcasts a data request (B2One) and the agents negotiate");
        let request = Terms {
            fields: vec![
                FieldRequest::raw(path("body.shoe_size_eu")?),
                FieldRequest::derived(path("activity.running_km")?, running_km_at_least(600.0)).optional(),
                FieldRequest::raw(path("profile.email")?).optional(),
            ],
            purpose: Purpose::PersonalisedOffers,
            retention: 365 * DAY,
            usage: Use::OneTime,
            onward_sharing: true,
            compensation: Compensation::Discount { percent: 15 },
            contact: Some(ContactPermission { max_messages: 1, per_period: 30 * DAY }),
            jurisdiction: "EU".into(),
            expires_at: now().saturating_add(7 * DAY),
        };
        self.say(
            "asks: shoe size, running >= 600 km this season (derived), e-mail (optional); keep 1 year; may share on",
        );
        let marks = self.mark(&[ada, ben, stride]);
        self.publish(stride, "apparel.shoes", "Shoes fitted to how you run", request).await?;
        let (ada_at_stride, ben_at_stride) = (self.persona(ada, stride), self.persona(ben, stride));
        self.settle("Stride's request", |states| {
            [ada, ben].iter().all(|p| !states[p].requests.is_empty())
                && agreement_between(&states[&stride], ada_at_stride).is_some()
        })
        .await?;
        self.narrate(&marks);
        let stride_state = self.state(stride).await?;
        let ada_stride = agreement_between(&stride_state, ada_at_stride).context("Ada and Stride did not agree")?;
        let agreed = &stride_state.agreements[&ada_stride].agreement.terms;
        self.say(format!(
            "Ada's counter-offer was signed: {} days retention (asked 365), onward sharing {}, fields: {}",
            agreed.retention.as_secs() / 86_400,
            if agreed.onward_sharing { "allowed" } else { "refused" },
            paths(&agreed.fields.iter().map(|f| f.path.clone()).collect::<Vec<_>>())
        ));
        self.say(format!("Stride learned from Ada: {}", holdings(&stride_state, &ada_stride).join("; ")));
        if let Some(ben_stride) = agreement_between(&stride_state, ben_at_stride) {
            self.say(format!("Stride learned from Ben: {}", holdings(&stride_state, &ben_stride).join("; ")));
        }
        Ok(ada_stride)
    }

    /// Sensitive data asks the owner: Ada approves, Ben declines.
    pub(super) async fn health(&mut self, cast: Cast) -> Result<()> {
        let Cast { ada, ben, clinic, .. } = cast;
        self.chapter("Northwind Health asks for health data for research: the owners decide");
        let health = Terms {
            fields: vec![
                FieldRequest::raw(path("health.acquired.asthma")?),
                FieldRequest::derived(path("profile.birthdate")?, Predicate::AgeAtLeast { years: 18 }).optional(),
            ],
            purpose: Purpose::Research,
            retention: 30 * DAY,
            usage: Use::OneTime,
            onward_sharing: false,
            compensation: Compensation::Money(eur(20)?),
            contact: None,
            jurisdiction: "EU".into(),
            expires_at: now().saturating_add(7 * DAY),
        };
        let marks = self.mark(&[ada, ben, clinic]);
        self.publish(clinic, "health.research", "Asthma in adult runners", health).await?;
        let awaiting = |state: &State| state.negotiations.awaiting_owner().next().is_some();
        self.settle("Northwind's request", |states| awaiting(&states[&ada]) && awaiting(&states[&ben])).await?;
        self.narrate(&marks);
        let marks = self.mark(&[clinic]);
        for (who, approve) in [(ada, true), (ben, false)] {
            let state = self.state(who).await?;
            let pending: Vec<_> = state.negotiations.awaiting_owner().map(|n| n.id).collect();
            for id in pending {
                self.say(format!("{} {}", self.name(&who), if approve { "approves" } else { "declines" }));
                self.command(who, if approve { Command::Approve(id) } else { Command::Decline(id) }).await?;
            }
        }
        let (ada_at_clinic, ben_at_clinic) = (self.persona(ada, clinic), self.persona(ben, clinic));
        self.settle("the owners' decisions", |states| agreement_between(&states[&clinic], ada_at_clinic).is_some())
            .await?;
        self.narrate(&marks);
        let clinic_state = self.state(clinic).await?;
        let ada_clinic =
            agreement_between(&clinic_state, ada_at_clinic).context("Ada's approval did not lead to an agreement")?;
        self.say(format!("Northwind learned from Ada: {}", holdings(&clinic_state, &ada_clinic).join("; ")));
        ensure!(agreement_between(&clinic_state, ben_at_clinic).is_none(), "Ben declined, yet an agreement exists");
        self.say("Northwind learned nothing about Ben: his agent never contacted it.");
        Ok(())
    }

    /// A person asks (C2B): Ada's intent, two competing offers, aggregate demand.
    pub(super) async fn intent(&mut self, cast: Cast) -> Result<()> {
        let Cast { ada, stride, pace, .. } = cast;
        self.chapter("Ada broadcasts an intent (C2B): running shoes, EU 44, at most 120 EUR");
        let catalog = |price: u64, percent: u8| -> Result<Vec<CatalogItem>> {
            Ok(vec![CatalogItem {
                category: "apparel.shoes".parse()?,
                spec: BTreeMap::from([("size_eu".to_string(), (38..=46).map(|s| s.to_string()).collect())]),
                description: "Trail runner".into(),
                price: eur(price)?,
                terms: Terms {
                    fields: vec![FieldRequest::raw(path("body.shoe_size_eu")?)],
                    purpose: Purpose::PersonalisedOffers,
                    retention: 30 * DAY,
                    usage: Use::OneTime,
                    onward_sharing: false,
                    compensation: Compensation::Discount { percent },
                    contact: None,
                    jurisdiction: "EU".into(),
                    expires_at: Timestamp::EPOCH,
                },
            }])
        };
        self.command(stride, Command::SetCatalog(catalog(110, 10)?)).await?;
        self.command(pace, Command::SetCatalog(catalog(105, 20)?)).await?;
        self.wait_subscribed(ada, "me2b/v1/intents/apparel.shoes", &[stride, pace]).await?;
        let marks = self.mark(&[stride, pace, ada]);
        let before = self.state(ada).await?.agreements.len();
        let published = self
            .command(
                ada,
                Command::PublishIntent {
                    category: "apparel.shoes".parse()?,
                    spec: BTreeMap::from([("size_eu".into(), "44".into()), ("kind".into(), "running".into())]),
                    max_price: Some(eur(120)?),
                    shares: vec![],
                    expires_at: now().saturating_add(14 * DAY),
                },
            )
            .await?;
        self.intent_published(ada, published);
        self.say("Ada's agent collects answers for two seconds, then takes the best one");
        self.settle("Ada's intent", |states| states[&ada].agreements.len() > before).await?;
        self.narrate(&marks);
        let demand = self.state(stride).await?.demand;
        let lines: Vec<String> = demand
            .iter()
            .map(|((category, spec), n)| format!("{category} {}: {n}", if spec.is_empty() { "(all)" } else { spec }))
            .collect();
        self.say(format!("Stride's view of aggregate demand: {}", lines.join(", ")));
        Ok(())
    }

    /// A trigger agreement that tells Stride only "replacement due"; returns it.
    pub(super) async fn trigger(&mut self, cast: Cast) -> Result<AgreementId> {
        let Cast { ada, stride, .. } = cast;
        self.chapter("A trigger: Stride may learn only \"replacement due\" when Ada passes 600 km");
        let trigger = Terms {
            fields: vec![FieldRequest::raw(path("body.shoe_size_eu")?)],
            purpose: Purpose::PersonalisedOffers,
            retention: 60 * DAY,
            usage: Use::Trigger {
                path: path("activity.running_km")?,
                predicate: running_km_at_least(600.0),
                event: "replacement-due".into(),
                rearm: None,
            },
            onward_sharing: false,
            compensation: Compensation::Discount { percent: 20 },
            contact: Some(ContactPermission { max_messages: 1, per_period: 30 * DAY }),
            jurisdiction: "EU".into(),
            expires_at: now().saturating_add(7 * DAY),
        };
        self.publish(stride, "apparel.shoes", "We tell you when your shoes are worn out", trigger).await?;
        let ada_at_stride = self.persona(ada, stride);
        let trigger_of = |state: &State| {
            state
                .agreements
                .values()
                .find(|a| a.agreement.person == ada_at_stride && matches!(a.agreement.terms.usage, Use::Trigger { .. }))
                .map(|a| a.id)
        };
        self.settle("the trigger request", |states| trigger_of(&states[&stride]).is_some()).await?;
        let trigger_agreement = trigger_of(&self.state(stride).await?).context("no trigger agreement")?;
        self.say(format!("agreed; Stride holds: {:?}", holdings(&self.state(stride).await?, &trigger_agreement)));
        for km in [520.0, 610.0, 680.0] {
            self.set(ada, "activity.running_km", runs(km)).await?;
            let fires = km >= 600.0;
            self.settle("Ada's running log", |states| {
                !fires || states[&stride].received.get(&trigger_agreement).is_some_and(|held| !held.is_empty())
            })
            .await?;
            self.say(format!(
                "Ada's running log reaches {km} km -> Stride holds: {:?}",
                holdings(&self.state(stride).await?, &trigger_agreement)
            ));
        }
        Ok(trigger_agreement)
    }

    /// A personal offer under the trigger agreement, and the contact cap.
    pub(super) async fn offer(&mut self, cast: Cast, trigger_agreement: AgreementId) -> Result<()> {
        let Cast { ada, stride, .. } = cast;
        self.chapter("Stride pushes a personal offer, within the agreed contact cap");
        let offer = ProductOffer {
            description: "Trail runner EU 44, 20% off".into(),
            price: eur(88)?,
            valid_until: now().saturating_add(14 * DAY),
        };
        let marks = self.mark(&[ada]);
        self.command(stride, Command::SendOffer { agreement_id: trigger_agreement, offer: offer.clone() }).await?;
        self.settle("the offer", |states| {
            states[&ada].agreements.get(&trigger_agreement).is_some_and(|a| !a.offers.is_empty())
        })
        .await?;
        self.narrate(&marks);
        match self.member(&stride).node.command(Command::SendOffer { agreement_id: trigger_agreement, offer }).await {
            Err(error) => self.say(format!("a second offer the same month is refused: {error}")),
            Ok(_) => bail!("the contact cap did not hold"),
        }
        Ok(())
    }

    /// Ada revokes while Stride is offline; the receipt arrives when it returns.
    pub(super) async fn revoke_offline(&mut self, cast: Cast, ada_stride: AgreementId) -> Result<()> {
        let Cast { ada, stride, .. } = cast;
        self.chapter("Ada revokes Stride's first agreement while Stride is offline");
        self.member(&stride).node.shutdown().await;
        self.command(ada, Command::Revoke { agreement_id: ada_stride, reason: "no longer interested".into() }).await?;
        let outbox = self.state(ada).await?.outbox.len();
        self.say(format!("Stride's node is down; the revocation waits in Ada's outbox ({outbox} message(s))"));
        let member = self.members.get_mut(&stride).context("Stride")?;
        member.node = start_node(member.name, member.role, member.secret, &member.dir).await?;
        member.subscribed.clear();
        let held = holdings(&member.node.state().await?, &ada_stride);
        self.listen(stride, &self.member(&stride).node);
        self.say(format!("Stride comes back from its store, still holding: {}", held.join("; ")));
        let marks = self.mark(&[stride, ada]);
        let ada_address = address(&self.member(&ada).node).await?;
        self.member(&stride).node.dial(ada_address).await?;
        self.settle("the revocation", |states| {
            matches!(states[&ada].agreements[&ada_stride].lifecycle, Lifecycle::Deleted { .. })
        })
        .await?;
        self.narrate(&marks);
        let stride_state = self.state(stride).await?;
        ensure!(holdings(&stride_state, &ada_stride).is_empty(), "Stride still holds revoked data");
        self.say(format!(
            "agreement {} is {} on both sides; Stride holds nothing under it",
            short(&ada_stride),
            stride_state.agreements[&ada_stride].lifecycle.name()
        ));
        Ok(())
    }

    /// Every ledger verifies.
    pub(super) async fn verify_ledgers(&mut self) -> Result<()> {
        self.chapter("Every ledger is verified");
        for (key, member) in &self.members {
            let (entries, head) = member.node.query(|engine, store| (store.ledger(), engine.state().ledger)).await?;
            let entries = me2b_proto::ledger::verify(&entries?, key, Some(&head))
                .with_context(|| format!("{}'s ledger does not verify", member.name))?;
            self.say(format!("{}: {} entries, chain and signatures intact", member.name, entries.len()));
        }
        Ok(())
    }

    /// Prints what each business holds from whom (with `--json`, as one JSON array of
    /// `{business, person, state, holds}`).
    pub(super) async fn who_learned_what(&mut self, cast: Cast) -> Result<()> {
        let Cast { stride, pace, clinic, .. } = cast;
        if self.json {
            let mut rows = Vec::new();
            for business in [stride, pace, clinic] {
                let state = self.state(business).await?;
                for record in state.agreements.values() {
                    rows.push(serde_json::json!({
                        "business": self.name(&business),
                        "person": self.name(&record.agreement.person),
                        "state": record.lifecycle.name(),
                        "holds": holdings(&state, &record.id),
                    }));
                }
            }
            crate::client::write_out(format_args!("{}\n", serde_json::to_string_pretty(&rows)?));
            return Ok(());
        }
        println!("\nWho learned what:");
        for business in [stride, pace, clinic] {
            let state = self.state(business).await?;
            for record in state.agreements.values() {
                let person = self.name(&record.agreement.person);
                let held = holdings(&state, &record.id);
                println!(
                    "  {:<16} from {:<4} (known as {}) [{}] {}",
                    self.name(&business),
                    person,
                    record.agreement.person.short(),
                    record.lifecycle.name(),
                    if held.is_empty() { "holds nothing".to_owned() } else { held.join("; ") }
                );
            }
        }
        println!("Each business knows a person under a key of its own (an intent's for Pace): they cannot link her.");
        println!("Nothing else left the people's nodes. Demo complete.");
        Ok(())
    }
}
