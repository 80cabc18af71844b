//! The businesses a person's node meets: their signed profiles (newest kept), the key pinned at
//! the first agreement (trust on first use), the person's petnames, and impersonation: a key
//! that claims the name of a pinned business is flagged, and the agent agrees to nothing with it
//! on its own ([`super::State::guarded`]).

use super::{Change, CommandError, Engine, Event, Rejection, Result, Role};
use crate::identity::PublicKey;
use crate::limits::MAX_KNOWN_BUSINESSES;
use crate::policy::{AskReason, Decision};
use crate::profile::{DomainCheck, KnownBusiness, MAX_PETNAME_BYTES, SignedProfile, normalised};
use crate::terms::Terms;
use crate::time::Timestamp;
use crate::wire;

impl Engine {
    /// A business spoke to this person (a request, an answer to an intent), calling itself
    /// `claimed`, maybe with its signed `profile`: the node remembers it (the newest profile
    /// wins) and says so loudly if it claims the name of a business pinned under another key.
    /// A profile that is not the sender's own, or does not verify, refuses the message.
    pub(super) fn meet_business(
        &mut self,
        key: PublicKey,
        claimed: &str,
        profile: Option<wire::SignedProfile>,
        now: Timestamp,
    ) -> Result<(), Rejection> {
        if self.config.role != Role::Person {
            return Ok(());
        }
        let profile = match profile {
            Some(signed) => Some(
                SignedProfile::try_from(signed)?
                    .open(&key)
                    .map_err(|_| Rejection::Protocol("the business profile is not its sender's"))?,
            ),
            None => None,
        };
        let name = profile.as_ref().map_or(claimed, |profile| profile.name.as_str()).to_owned();
        if !self.state.businesses.contains_key(&key) {
            self.make_room_for_a_business();
        }
        let Some(known) = self.state.businesses.get_mut(&key) else {
            let known = KnownBusiness { profile, name, seen_at: now, ..KnownBusiness::default() };
            self.state.businesses.insert(key, known);
            self.persist(Change::Business(key));
            self.flag_impersonation(key);
            return Ok(());
        };
        let newer = match (&known.profile, &profile) {
            (Some(old), Some(new)) => new.issued_at > old.issued_at,
            (None, Some(_)) => true,
            _ => false,
        };
        if newer {
            known.profile = profile;
        }
        if !name.trim().is_empty() {
            known.name = name;
        }
        known.seen_at = now;
        self.persist(Change::Business(key));
        self.flag_impersonation(key);
        Ok(())
    }

    fn flag_impersonation(&mut self, key: PublicKey) {
        if let Some((name, pinned)) = self.state.impersonated(&key) {
            self.event(Event::Impersonation { name, claimed_by: key, pinned });
        }
    }

    /// At most [`MAX_KNOWN_BUSINESSES`]: the one heard from least recently that is not
    /// pinned makes room (pinned ones are the person's relationships and stay).
    fn make_room_for_a_business(&mut self) {
        while self.state.businesses.len() >= MAX_KNOWN_BUSINESSES {
            let oldest = self
                .state
                .businesses
                .iter()
                .filter(|(_, known)| !known.pinned)
                .min_by_key(|(_, known)| known.seen_at)
                .map(|(key, _)| *key);
            let Some(oldest) = oldest else { break };
            self.state.businesses.remove(&oldest);
            self.persist(Change::Business(oldest));
        }
    }

    /// The person agreed with `business`: its key is pinned to its name from now on.
    pub(super) fn pin_business(&mut self, business: PublicKey, now: Timestamp) {
        if self.config.role != Role::Person {
            return;
        }
        if !self.state.businesses.contains_key(&business) {
            self.make_room_for_a_business();
        }
        let known = self
            .state
            .businesses
            .entry(business)
            .or_insert_with(|| KnownBusiness { seen_at: now, ..KnownBusiness::default() });
        if !known.pinned {
            known.pinned = true;
            self.persist(Change::Business(business));
        }
    }

    pub(super) fn set_petname(&mut self, business: PublicKey, petname: Option<String>) -> Result<()> {
        self.require(Role::Person)?;
        let petname = match petname {
            Some(name) if name.len() > MAX_PETNAME_BYTES => {
                return Err(CommandError::Invalid(format!("a petname is at most {MAX_PETNAME_BYTES} bytes")).into());
            }
            Some(name) => {
                Some(crate::decode::text("petname", name).map_err(|error| CommandError::Invalid(error.to_string()))?)
            }
            None => None,
        };
        let known = self
            .state
            .businesses
            .get_mut(&business)
            .ok_or_else(|| CommandError::Invalid(format!("no business {business} was met")))?;
        known.petname = petname.filter(|name| !name.trim().is_empty());
        self.persist(Change::Business(business));
        Ok(())
    }
}

impl Engine {
    pub(super) fn domain_checked(&mut self, business: PublicKey, check: DomainCheck) -> Result<()> {
        self.require(Role::Person)?;
        let note = crate::text::printable(&check.note, crate::limits::MAX_ANSWER_REASON_BYTES);
        let domain = crate::text::printable(&check.domain, MAX_PETNAME_BYTES * 4);
        let Some(known) = self.state.businesses.get_mut(&business) else {
            return Err(CommandError::Invalid(format!("no business {business} was met")).into());
        };
        let verified = check.verified;
        known.domain = Some(DomainCheck { domain: domain.clone(), note, ..check });
        self.persist(Change::Business(business));
        self.event(Event::DomainChecked { business, domain, verified });
        Ok(())
    }
}

impl super::State {
    /// If `key` claims the name of a business pinned under another key: that name and the
    /// pinned key.
    pub fn impersonated(&self, key: &PublicKey) -> Option<(String, PublicKey)> {
        let known = self.businesses.get(key)?;
        if known.pinned || known.name.trim().is_empty() {
            return None;
        }
        let claimed = normalised(&known.name);
        self.businesses
            .iter()
            .find(|(other, pinned)| *other != key && pinned.pinned && normalised(&pinned.name) == claimed)
            .map(|(other, pinned)| (pinned.name.clone(), *other))
    }

    /// `decision` on `terms` from `business`, unless the business may be an impersonator: then
    /// the owner decides, told why first.
    pub fn guarded(&self, business: &PublicKey, terms: &Terms, decision: Decision) -> Decision {
        let Some((name, pinned)) = self.impersonated(business) else {
            return decision;
        };
        let warning = AskReason::Impersonation { name, pinned };
        match decision {
            Decision::Accept => Decision::AskOwner { terms: terms.clone(), reasons: vec![warning] },
            Decision::Counter(terms) => Decision::AskOwner { terms, reasons: vec![warning] },
            Decision::AskOwner { terms, mut reasons } => {
                reasons.insert(0, warning);
                Decision::AskOwner { terms, reasons }
            }
            reject @ Decision::Reject(_) => reject,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::{Config, Engine, Role, State};
    use crate::identity::Keypair;
    use crate::limits::MAX_KNOWN_BUSINESSES;
    use crate::time::Timestamp;

    fn key(n: u32) -> crate::identity::PublicKey {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&n.to_le_bytes());
        secret[31] = 7;
        Keypair::from_secret_bytes(&secret).public()
    }

    #[test]
    fn the_businesses_met_are_bounded_and_pinned_ones_stay() {
        let start = Timestamp::from_millis(1_790_000_000_000);
        let person = Keypair::from_secret_bytes(&[1; 32]);
        let mut engine = Engine::new(person, Config::new(Role::Person, [1; 32]), State::default(), start);
        engine.meet_business(key(0), "Stride", None, start).unwrap();
        engine.pin_business(key(0), start);
        for n in 1..=MAX_KNOWN_BUSINESSES as u32 + 10 {
            let at = Timestamp::from_millis(start.as_millis() + u64::from(n));
            engine.meet_business(key(n), "Somebody", None, at).unwrap();
        }
        let met = &engine.state().businesses;
        assert_eq!(met.len(), MAX_KNOWN_BUSINESSES);
        assert!(met[&key(0)].pinned, "the pinned business stays");
        assert!(!met.contains_key(&key(1)), "the one heard from least recently made room");
        assert!(met.contains_key(&key(MAX_KNOWN_BUSINESSES as u32 + 10)));
    }
}
