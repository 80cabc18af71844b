//! Policy: the limits within which a node's agent acts on its own.
//!
//! A person's [`Policy`] says, per field and purpose, what may be shared and how; [`evaluate`]
//! applies it to terms and decides to accept, counter, ask the owner or reject. A business's
//! [`BusinessPolicy`] says which counters it takes ([`evaluate_counter`]). Both are pure
//! functions of their inputs.

use crate::decode::TextError;
use crate::identity::PublicKey;
use crate::terms::{Compensation, ContactPermission, Disclosure, Terms, Use};
use crate::time::Timestamp;
use crate::value::Value;
use crate::vocab::{Category, FieldPath, Purpose};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// How much of a field a rule lets out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Share {
    /// The value itself, or any derived fact about it.
    Raw,
    /// Only derived facts.
    DerivedOnly,
    /// Nothing.
    Never,
}

impl Share {
    fn as_str(self) -> &'static str {
        match self {
            Share::Raw => "raw",
            Share::DerivedOnly => "derived-only",
            Share::Never => "never",
        }
    }
}

/// `raw`, `derived-only` or `never`.
impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Share {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        [Share::Raw, Share::DerivedOnly, Share::Never]
            .into_iter()
            .find(|share| share.as_str() == text)
            .ok_or_else(|| TextError::new(text, "a share rule", "use raw, derived-only or never"))
    }
}

/// A rule for the fields under `path`. The most specific rule for a field applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldRule {
    /// The path or subtree the rule covers.
    pub path: FieldPath,
    /// How much may be shared.
    pub share: Share,
    /// For which purposes.
    pub purposes: BTreeSet<Purpose>,
    /// Whether the owner must approve every agreement that includes these fields. Sensitive
    /// fields (see [`FieldPath::is_sensitive`]) always need approval, whatever this says.
    pub ask_owner: bool,
    /// Longest retention for these fields, if shorter than the policy's.
    pub max_retention: Option<Duration>,
    /// The categories of requests and intents the rule applies to (a category covers its
    /// subcategories); empty for all.
    #[serde(default)]
    pub categories: BTreeSet<Category>,
}

impl FieldRule {
    /// Whether the rule applies to a request or intent in `category`.
    pub fn applies_in(&self, category: &Category) -> bool {
        self.categories.is_empty() || self.categories.iter().any(|c| c.covers(category))
    }
}

/// Who asks, and in which category: what a decision depends on besides the terms.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// The business.
    pub business: &'a PublicKey,
    /// The category of its request, or of the intent it answers.
    pub category: &'a Category,
}

/// A person's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Field rules; a field no rule covers is never shared.
    pub rules: Vec<FieldRule>,
    /// Longest retention for any field.
    pub max_retention: Duration,
    /// The least compensation worth sharing for.
    pub min_compensation: Compensation,
    /// Whether businesses may pass data on.
    pub allow_onward_sharing: bool,
    /// The most contact allowed; `None` allows none.
    pub max_contact: Option<ContactPermission>,
    /// Businesses never dealt with.
    pub denied_businesses: BTreeSet<PublicKey>,
    /// If not empty, the only businesses dealt with.
    pub allowed_businesses: BTreeSet<PublicKey>,
    /// Whether to counter terms that go too far (otherwise they are rejected).
    pub counter: bool,
    /// Most agreements to make per intent.
    pub max_agreements_per_intent: u32,
}

impl Default for Policy {
    /// A cautious policy: share nothing, counter when asked.
    fn default() -> Self {
        Policy {
            rules: Vec::new(),
            max_retention: Duration::from_secs(90 * 86_400),
            min_compensation: Compensation::None,
            allow_onward_sharing: false,
            max_contact: None,
            denied_businesses: BTreeSet::new(),
            allowed_businesses: BTreeSet::new(),
            counter: true,
            max_agreements_per_intent: 1,
        }
    }
}

impl Policy {
    /// The policy a new person's node starts with: every request about the usual areas of a
    /// vault (`profile`, `body`, `activity`, `preferences`, `health`) goes to the owner, for any
    /// purpose; nothing is shared without their approval, and no contact is granted.
    pub fn ask_first() -> Policy {
        let rules = ["profile", "body", "activity", "preferences", "health"]
            .into_iter()
            .filter_map(|area| area.parse().ok())
            .map(|path| FieldRule {
                path,
                share: Share::Raw,
                purposes: Purpose::ALL.into_iter().collect(),
                ask_owner: true,
                max_retention: None,
                categories: BTreeSet::new(),
            })
            .collect();
        Policy { rules, ..Policy::default() }
    }

    /// The most specific rule covering `path` in `category`.
    pub fn rule_for(&self, path: &FieldPath, category: &Category) -> Option<&FieldRule> {
        self.rules
            .iter()
            .filter(|rule| rule.path.covers(path) && rule.applies_in(category))
            .max_by_key(|rule| rule.path.depth())
    }

    /// Whether `terms` are entirely within this policy for `business` (ignoring what the vault
    /// holds and whether the owner must approve). Every agreement a person's agent signs on its
    /// own satisfies this.
    pub fn permits(&self, terms: &Terms, asker: Asker<'_>) -> bool {
        matches!(
            evaluate(terms, self, &AnyValue, asker, Timestamp::EPOCH),
            Decision::Accept | Decision::AskOwner { .. }
        )
    }
}

/// Read access to the values a decision depends on. Values never leave the evaluation.
pub trait Facts {
    /// The current value at `path`.
    fn value(&self, path: &FieldPath) -> Option<&Value>;
}

impl Facts for BTreeMap<FieldPath, Value> {
    fn value(&self, path: &FieldPath) -> Option<&Value> {
        self.get(path)
    }
}

/// Facts that pretend every field exists, to check terms against a policy alone.
struct AnyValue;

impl Facts for AnyValue {
    fn value(&self, _: &FieldPath) -> Option<&Value> {
        None
    }
}

/// Why terms were rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// The owner does not deal with this business.
    BusinessNotAllowed,
    /// No requested field may be shared, or none is in the vault.
    NothingToShare,
    /// A trigger watches a field the policy does not let out.
    TriggerNotAllowed(FieldPath),
    /// The terms go too far and the policy does not counter.
    TooFar(Vec<Concern>),
    /// A field the business requires is missing.
    RequiredFieldMissing(FieldPath),
    /// The terms disclose more than the business asked for.
    WiderThanRequested,
    /// Retention is shorter than the business needs.
    RetentionTooShort,
    /// The compensation asked for is more than the business pays.
    CompensationTooHigh,
    /// The compensation asked for cannot be compared with what the business pays.
    CompensationNotComparable,
    /// The business does not accept changed terms.
    CountersNotAccepted,
    /// A product offer costs more than the intent's maximum.
    OverBudget,
}

impl Reason {
    /// What the other side is told. A person's refusals say only that the terms are outside
    /// the person's policy: the whole reason could tell a business which fields the vault does
    /// not hold, or what the policy allows. A business's refusals are its own limits, which
    /// the person may know.
    pub fn for_peer(&self) -> String {
        match self {
            Reason::BusinessNotAllowed | Reason::NothingToShare | Reason::TriggerNotAllowed(_) | Reason::TooFar(_) => {
                "terms not acceptable under the person's policy".into()
            }
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::BusinessNotAllowed => f.write_str("business not allowed by policy"),
            Reason::NothingToShare => f.write_str("nothing requested may be shared"),
            Reason::TriggerNotAllowed(path) => write!(f, "trigger on {path} not allowed"),
            Reason::TooFar(concerns) => {
                f.write_str("terms go beyond policy:")?;
                for concern in concerns {
                    write!(f, " {concern};")?;
                }
                Ok(())
            }
            Reason::RequiredFieldMissing(path) => write!(f, "required field {path} missing"),
            Reason::WiderThanRequested => f.write_str("terms disclose more than requested"),
            Reason::RetentionTooShort => f.write_str("retention shorter than needed"),
            Reason::CompensationTooHigh => f.write_str("compensation above budget"),
            Reason::CompensationNotComparable => f.write_str("compensation not comparable with what is offered"),
            Reason::CountersNotAccepted => f.write_str("counter-offers not accepted"),
            Reason::OverBudget => f.write_str("price above the intent's maximum"),
        }
    }
}

/// Why the agent asks, as the person reads it.
impl fmt::Display for AskReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskReason::Sensitive(path) => write!(f, "{path} is sensitive (health, identity or finance): you decide"),
            AskReason::RuleAsks(path) => write!(f, "your rule for {path} says to ask you"),
            AskReason::CompensationNotComparable => {
                f.write_str("the compensation cannot be compared with your minimum: you judge it")
            }
            AskReason::Impersonation { name, pinned } => write!(
                f,
                "WARNING: this is not the {name} you agreed with (that one's key is {}): it may be an impersonator",
                pinned.fingerprint()
            ),
        }
    }
}

/// One thing in the terms that the policy does not allow as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Concern {
    /// The field may not be shared for this purpose, or not in this form.
    FieldNotAllowed(FieldPath),
    /// The vault has no usable value for the field.
    FieldUnavailable(FieldPath),
    /// Retention is longer than allowed.
    RetentionTooLong,
    /// Onward sharing is not allowed.
    OnwardSharing,
    /// More contact than allowed.
    TooMuchContact,
    /// Less compensation than the owner wants.
    CompensationTooLow,
}

impl fmt::Display for Concern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Concern::FieldNotAllowed(path) => write!(f, "{path} not allowed"),
            Concern::FieldUnavailable(path) => write!(f, "{path} not in vault"),
            Concern::RetentionTooLong => f.write_str("retention too long"),
            Concern::OnwardSharing => f.write_str("onward sharing"),
            Concern::TooMuchContact => f.write_str("too much contact"),
            Concern::CompensationTooLow => f.write_str("compensation too low"),
        }
    }
}

/// Why the owner must decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AskReason {
    /// The field is sensitive (health, identity, finance).
    Sensitive(FieldPath),
    /// The owner's rule asks for approval of this field.
    RuleAsks(FieldPath),
    /// The compensation offered cannot be compared with the owner's floor (another kind,
    /// another currency, a service): the owner judges it.
    CompensationNotComparable,
    /// The business claims the name of one the owner agreed with under another key: it may
    /// be an impersonator.
    Impersonation {
        /// The name claimed.
        name: String,
        /// The key the owner agreed with under that name.
        pinned: crate::identity::PublicKey,
    },
}

/// What an agent does with terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    /// Agree to the terms as they are.
    Accept,
    /// Propose these terms instead.
    Counter(Terms),
    /// The owner must approve `terms` (the original or a counter) first.
    AskOwner {
        /// The terms the owner is asked to approve.
        terms: Terms,
        /// Why the owner is asked.
        reasons: Vec<AskReason>,
    },
    /// Do not agree.
    Reject(Reason),
}

/// A person's agent's decision on `terms` from `asker`: the terms are narrowed to what
/// `policy` allows and `facts` can answer; the result is accepted as is, countered, put to the
/// owner, or rejected.
pub fn evaluate(terms: &Terms, policy: &Policy, facts: &dyn Facts, asker: Asker<'_>, now: Timestamp) -> Decision {
    let business = asker.business;
    let check_values = !std::ptr::addr_eq(facts, &AnyValue as &dyn Facts);
    if policy.denied_businesses.contains(business)
        || (!policy.allowed_businesses.is_empty() && !policy.allowed_businesses.contains(business))
    {
        return Decision::Reject(Reason::BusinessNotAllowed);
    }
    let mut concerns = Vec::new();
    let mut ask = Vec::new();
    let mut retention_cap = policy.max_retention;
    let mut note_rule = |path: &FieldPath, rule: &FieldRule, ask: &mut Vec<AskReason>| {
        if path.is_sensitive() {
            ask.push(AskReason::Sensitive(path.clone()));
        } else if rule.ask_owner {
            ask.push(AskReason::RuleAsks(path.clone()));
        }
        if let Some(cap) = rule.max_retention {
            retention_cap = retention_cap.min(cap);
        }
    };

    let mut fields = Vec::new();
    for field in &terms.fields {
        let allowed = policy.rule_for(&field.path, asker.category).filter(|rule| {
            rule.purposes.contains(&terms.purpose)
                && !matches!((&field.disclosure, rule.share), (_, Share::Never) | (Disclosure::Raw, Share::DerivedOnly))
        });
        let Some(rule) = allowed else {
            concerns.push(Concern::FieldNotAllowed(field.path.clone()));
            continue;
        };
        if check_values {
            let usable = facts.value(&field.path).is_some_and(|value| match &field.disclosure {
                Disclosure::Raw => true,
                Disclosure::Derived(predicate) => predicate.evaluate(value, now).is_ok(),
            });
            if !usable {
                concerns.push(Concern::FieldUnavailable(field.path.clone()));
                continue;
            }
        }
        note_rule(&field.path, rule, &mut ask);
        fields.push(field.clone());
    }
    if let Use::Trigger { path, .. } = &terms.usage {
        let rule = policy
            .rule_for(path, asker.category)
            .filter(|rule| rule.share != Share::Never && rule.purposes.contains(&terms.purpose));
        match rule {
            Some(rule) => note_rule(path, rule, &mut ask),
            None => return Decision::Reject(Reason::TriggerNotAllowed(path.clone())),
        }
    }
    if fields.is_empty() {
        return Decision::Reject(Reason::NothingToShare);
    }

    let mut proposal = terms.clone();
    proposal.fields = fields;
    narrow_limits(&mut proposal, policy, retention_cap, &mut concerns);
    if proposal.compensation.compare(&policy.min_compensation).is_none() {
        ask.push(AskReason::CompensationNotComparable);
    }
    ask.dedup();
    conclude(proposal, policy, concerns, ask)
}

/// Brings the terms' retention, onward sharing, contact and compensation within `policy`,
/// noting each change as a concern.
fn narrow_limits(proposal: &mut Terms, policy: &Policy, retention_cap: Duration, concerns: &mut Vec<Concern>) {
    if proposal.retention > retention_cap {
        concerns.push(Concern::RetentionTooLong);
        proposal.retention = retention_cap;
    }
    if proposal.onward_sharing && !policy.allow_onward_sharing {
        concerns.push(Concern::OnwardSharing);
        proposal.onward_sharing = false;
    }
    if let Some(contact) = proposal.contact {
        match policy.max_contact {
            None => {
                concerns.push(Concern::TooMuchContact);
                proposal.contact = None;
            }
            Some(max) if !contact.within(&max) => {
                concerns.push(Concern::TooMuchContact);
                proposal.contact = Some(max);
            }
            Some(_) => {}
        }
    }
    // Below the floor: countered with the floor. Not comparable: left as offered, for the
    // owner to judge (see `evaluate`), never replaced by a guess.
    if proposal.compensation.compare(&policy.min_compensation).is_some_and(std::cmp::Ordering::is_lt) {
        concerns.push(Concern::CompensationTooLow);
        proposal.compensation = policy.min_compensation.clone();
    }
}

/// The decision on narrowed terms: as asked if nothing changed, else a counter (or a refusal
/// if the owner does not counter); either goes to the owner first when something asks for it.
fn conclude(proposal: Terms, policy: &Policy, concerns: Vec<Concern>, ask: Vec<AskReason>) -> Decision {
    if concerns.is_empty() {
        return if ask.is_empty() { Decision::Accept } else { Decision::AskOwner { terms: proposal, reasons: ask } };
    }
    if !policy.counter {
        return Decision::Reject(Reason::TooFar(concerns));
    }
    if ask.is_empty() { Decision::Counter(proposal) } else { Decision::AskOwner { terms: proposal, reasons: ask } }
}

/// A business's limits on what it agrees to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessPolicy {
    /// Whether changed terms are considered at all.
    pub accept_counters: bool,
    /// The most compensation the business agrees to in a counter; `None`: no more than each
    /// campaign itself offered.
    pub max_compensation: Option<Compensation>,
    /// The shortest retention that is useful.
    pub min_retention: Duration,
    /// Whether a derived fact may stand in for a required raw value.
    pub derived_for_raw: bool,
}

impl Default for BusinessPolicy {
    fn default() -> Self {
        BusinessPolicy {
            accept_counters: true,
            max_compensation: None,
            min_retention: Duration::from_secs(86_400),
            derived_for_raw: false,
        }
    }
}

/// A business's decision on terms a person proposed in answer to what the business asked
/// (`requested`).
pub fn evaluate_counter(requested: &Terms, proposed: &Terms, policy: &BusinessPolicy) -> Decision {
    if proposed == requested {
        return Decision::Accept;
    }
    if !policy.accept_counters {
        return Decision::Reject(Reason::CountersNotAccepted);
    }
    if !proposed.is_within(requested) {
        return Decision::Reject(Reason::WiderThanRequested);
    }
    for field in requested.fields.iter().filter(|f| f.required) {
        let kept = proposed
            .field(&field.path)
            .is_some_and(|kept| kept.disclosure == field.disclosure || policy.derived_for_raw);
        if !kept {
            return Decision::Reject(Reason::RequiredFieldMissing(field.path.clone()));
        }
    }
    if proposed.retention < policy.min_retention.min(requested.retention) {
        return Decision::Reject(Reason::RetentionTooShort);
    }
    // The ceiling is the policy's, or else what the campaign itself offered: a business never
    // signs more than it said it pays, and never a compensation it cannot compare.
    let ceiling = policy.max_compensation.as_ref().unwrap_or(&requested.compensation);
    match proposed.compensation.compare(ceiling) {
        Some(std::cmp::Ordering::Greater) => Decision::Reject(Reason::CompensationTooHigh),
        None => Decision::Reject(Reason::CompensationNotComparable),
        Some(_) => Decision::Accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;
    use crate::predicate::Predicate;
    use crate::terms::FieldRequest;
    use crate::terms::tests::shoe_terms;

    fn business() -> PublicKey {
        Keypair::from_secret_bytes(&[9; 32]).public()
    }

    fn rule(path: &str, share: Share, purposes: &[Purpose]) -> FieldRule {
        FieldRule {
            path: path.parse().unwrap(),
            share,
            purposes: purposes.iter().copied().collect(),
            ask_owner: false,
            max_retention: None,
            categories: BTreeSet::new(),
        }
    }

    fn shoes() -> Category {
        "apparel.shoes".parse().unwrap()
    }

    fn asker<'a>(business: &'a PublicKey, category: &'a Category) -> Asker<'a> {
        Asker { business, category }
    }

    fn shoe_policy() -> Policy {
        Policy {
            rules: vec![
                rule("body", Share::Raw, &[Purpose::PersonalisedOffers]),
                rule("activity", Share::DerivedOnly, &[Purpose::PersonalisedOffers]),
                rule("health", Share::Raw, &[Purpose::Research, Purpose::HealthCare]),
            ],
            max_retention: Duration::from_secs(60 * 86_400),
            min_compensation: Compensation::Discount { percent: 5 },
            max_contact: Some(ContactPermission { max_messages: 4, per_period: Duration::from_secs(30 * 86_400) }),
            ..Policy::default()
        }
    }

    fn vault() -> BTreeMap<FieldPath, Value> {
        let mut vault = BTreeMap::new();
        vault.insert("body.shoe_size_eu".parse().unwrap(), Value::Number(44.0));
        vault.insert("activity.running_km".parse().unwrap(), Value::Series(vec![]));
        vault.insert("health.acquired.asthma".parse().unwrap(), Value::Boolean(true));
        vault
    }

    fn decide(terms: &Terms, policy: &Policy) -> Decision {
        evaluate(terms, policy, &vault(), asker(&business(), &shoes()), Timestamp::EPOCH)
    }

    #[test]
    fn terms_within_policy_are_accepted() {
        assert_eq!(decide(&shoe_terms(), &shoe_policy()), Decision::Accept);
        assert!(shoe_policy().permits(&shoe_terms(), asker(&business(), &shoes())));
    }

    #[test]
    fn a_denied_or_unlisted_business_is_rejected() {
        let mut policy = shoe_policy();
        policy.denied_businesses.insert(business());
        assert_eq!(decide(&shoe_terms(), &policy), Decision::Reject(Reason::BusinessNotAllowed));
        let mut policy = shoe_policy();
        policy.allowed_businesses.insert(Keypair::from_secret_bytes(&[1; 32]).public());
        assert_eq!(decide(&shoe_terms(), &policy), Decision::Reject(Reason::BusinessNotAllowed));
    }

    #[test]
    fn disallowed_fields_are_dropped_in_a_counter() {
        let mut terms = shoe_terms();
        terms.fields.push(FieldRequest::raw("profile.email".parse().unwrap()));
        let Decision::Counter(counter) = decide(&terms, &shoe_policy()) else { panic!("expected a counter") };
        assert_eq!(counter, shoe_terms());
        assert!(counter.is_within(&terms));
    }

    #[test]
    fn a_raw_value_where_only_derived_facts_are_allowed_is_dropped() {
        let mut terms = shoe_terms();
        terms.fields[1].disclosure = Disclosure::Raw;
        let Decision::Counter(counter) = decide(&terms, &shoe_policy()) else { panic!("expected a counter") };
        assert_eq!(counter.fields.len(), 1);
    }

    #[test]
    fn fields_missing_from_the_vault_are_dropped() {
        let mut terms = shoe_terms();
        terms.fields.push(FieldRequest::raw("body.height_cm".parse().unwrap()).optional());
        let Decision::Counter(counter) = decide(&terms, &shoe_policy()) else { panic!("expected a counter") };
        assert!(counter.field(&"body.height_cm".parse().unwrap()).is_none());
    }

    #[test]
    fn a_field_for_a_purpose_the_rule_does_not_list_is_not_allowed() {
        let mut terms = shoe_terms();
        terms.purpose = Purpose::Marketing;
        assert_eq!(decide(&terms, &shoe_policy()), Decision::Reject(Reason::NothingToShare));
    }

    #[test]
    fn retention_contact_sharing_and_compensation_are_countered() {
        let mut terms = shoe_terms();
        terms.retention = Duration::from_secs(365 * 86_400);
        terms.onward_sharing = true;
        terms.contact = Some(ContactPermission { max_messages: 30, per_period: Duration::from_secs(86_400) });
        terms.compensation = Compensation::Discount { percent: 2 };
        let policy = shoe_policy();
        let Decision::Counter(counter) = decide(&terms, &policy) else { panic!("expected a counter") };
        assert_eq!(counter.retention, policy.max_retention);
        assert!(!counter.onward_sharing);
        assert_eq!(counter.contact, policy.max_contact);
        assert_eq!(counter.compensation, policy.min_compensation);
        assert!(policy.permits(&counter, asker(&business(), &shoes())));
        assert!(counter.is_within(&terms), "a counter never widens the request");
    }

    #[test]
    fn a_policy_that_does_not_counter_rejects_with_its_concerns() {
        let mut terms = shoe_terms();
        terms.onward_sharing = true;
        let policy = Policy { counter: false, ..shoe_policy() };
        assert_eq!(decide(&terms, &policy), Decision::Reject(Reason::TooFar(vec![Concern::OnwardSharing])));
    }

    #[test]
    fn sensitive_fields_always_ask_the_owner() {
        let mut terms = shoe_terms();
        terms.purpose = Purpose::Research;
        terms.fields = vec![FieldRequest::raw("health.acquired.asthma".parse().unwrap())];
        let decision = decide(&terms, &shoe_policy());
        assert_eq!(
            decision,
            Decision::AskOwner {
                terms: terms.clone(),
                reasons: vec![AskReason::Sensitive("health.acquired.asthma".parse().unwrap())]
            }
        );
    }

    #[test]
    fn rules_can_be_limited_to_categories() {
        let mut policy = shoe_policy();
        for rule in &mut policy.rules {
            rule.categories.insert("apparel".parse().unwrap());
        }
        assert_eq!(decide(&shoe_terms(), &policy), Decision::Accept, "apparel covers apparel.shoes");
        let hats: Category = "food.delivery".parse().unwrap();
        let decision = evaluate(&shoe_terms(), &policy, &vault(), asker(&business(), &hats), Timestamp::EPOCH);
        assert_eq!(decision, Decision::Reject(Reason::NothingToShare));
    }

    #[test]
    fn a_rule_can_ask_the_owner() {
        let mut policy = shoe_policy();
        policy.rules[0].ask_owner = true;
        assert!(matches!(decide(&shoe_terms(), &policy), Decision::AskOwner { .. }));
    }

    #[test]
    fn a_trigger_on_a_field_not_allowed_is_rejected() {
        let mut terms = shoe_terms();
        terms.usage = Use::Trigger {
            path: "location.home".parse().unwrap(),
            predicate: Predicate::NumberCompare { op: crate::predicate::CompareOp::Greater, operand: 1.0 },
            event: "moved".into(),
            rearm: None,
        };
        assert!(matches!(decide(&terms, &shoe_policy()), Decision::Reject(Reason::TriggerNotAllowed(_))));
    }

    #[test]
    fn business_takes_narrower_counters_and_refuses_wider_ones() {
        let requested = shoe_terms();
        let policy = BusinessPolicy::default();
        assert_eq!(evaluate_counter(&requested, &requested, &policy), Decision::Accept);

        let mut without_optional = requested.clone();
        without_optional.fields.pop();
        assert_eq!(evaluate_counter(&requested, &without_optional, &policy), Decision::Accept);

        let mut without_required = requested.clone();
        without_required.fields.remove(0);
        assert!(matches!(
            evaluate_counter(&requested, &without_required, &policy),
            Decision::Reject(Reason::RequiredFieldMissing(_))
        ));

        let mut wider = requested.clone();
        wider.onward_sharing = true;
        assert_eq!(evaluate_counter(&requested, &wider, &policy), Decision::Reject(Reason::WiderThanRequested));

        let mut short = requested.clone();
        short.retention = Duration::from_secs(60);
        assert_eq!(evaluate_counter(&requested, &short, &policy), Decision::Reject(Reason::RetentionTooShort));

        let capped =
            BusinessPolicy { max_compensation: Some(Compensation::Discount { percent: 15 }), ..policy.clone() };
        let mut greedy = requested.clone();
        greedy.compensation = Compensation::Discount { percent: 40 };
        assert_eq!(evaluate_counter(&requested, &greedy, &capped), Decision::Reject(Reason::CompensationTooHigh));
        greedy.compensation = Compensation::Discount { percent: 15 };
        assert_eq!(evaluate_counter(&requested, &greedy, &capped), Decision::Accept);

        let strict = BusinessPolicy { accept_counters: false, ..policy };
        assert_eq!(
            evaluate_counter(&requested, &without_optional, &strict),
            Decision::Reject(Reason::CountersNotAccepted)
        );
    }
}
