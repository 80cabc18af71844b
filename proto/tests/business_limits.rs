//! Attack: a person (or a hostile peer posing as one) counters a "10% discount" campaign with
//! an absurd compensation. The business never signs more than its ceiling (its policy's, or
//! else what the campaign offered), never a compensation it cannot compare, and a person's
//! agent takes what it cannot compare to the owner instead of guessing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{Command, Event};
use me2b_proto::messages::TerminationCode;
use me2b_proto::policy::{AskReason, BusinessPolicy, Policy};
use me2b_proto::terms::{Compensation, Money};

/// Publishes the 10% shoe campaign to a person whose floor is `floor`, with the business's
/// ceiling `ceiling`, and settles.
fn campaign(floor: Compensation, ceiling: Option<Compensation>) -> World {
    let mut w = world();
    let policy = Policy { min_compensation: floor, ..person_policy() };
    command(&mut w.net, w.person, Command::SetPolicy(policy));
    let business = BusinessPolicy { max_compensation: ceiling, ..BusinessPolicy::default() };
    command(&mut w.net, w.shoes, Command::SetBusinessPolicy(business));
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();
    w
}

fn refused_for_compensation(w: &World) -> bool {
    w.net.peer(&w.person).events.iter().any(
        |e| matches!(e, Event::Terminated { code: TerminationCode::Policy, by_peer: true, reason, .. } if reason.contains("compensation")),
    )
}

#[test]
fn a_counter_above_what_the_campaign_offered_is_never_signed() {
    let w = campaign(Compensation::Discount { percent: 90 }, None);
    assert!(finalized(&w.net.peer(&w.shoes).events).is_empty(), "the business signed 90% against its 10%");
    assert!(refused_for_compensation(&w));

    // Negative control: within the business's own ceiling, the same counter is signed.
    let w = campaign(Compensation::Discount { percent: 20 }, Some(Compensation::Discount { percent: 25 }));
    let ids = finalized(&w.net.peer(&w.shoes).events);
    assert_eq!(ids.len(), 1);
    let agreed = &w.net.peer(&w.shoes).engine.state().agreements[&ids[0]].agreement.terms;
    assert_eq!(agreed.compensation, Compensation::Discount { percent: 20 });
    // ...and above it, not.
    let w = campaign(Compensation::Discount { percent: 30 }, Some(Compensation::Discount { percent: 25 }));
    assert!(finalized(&w.net.peer(&w.shoes).events).is_empty());
}

#[test]
fn a_compensation_of_another_kind_goes_to_the_owner_not_into_a_guess() {
    // The person's floor is a billion euros; the campaign offers a discount. Not comparable:
    // the agent neither counters with the floor nor accepts; the owner is asked.
    let billion = Compensation::Money(Money::new(100_000_000_000, "EUR").unwrap());
    let w = campaign(billion, None);
    let person = w.net.peer(&w.person);
    let asked = person.events.iter().any(|e| {
        matches!(e, Event::AwaitingOwner { reasons, .. } if reasons.contains(&AskReason::CompensationNotComparable))
    });
    assert!(asked, "{:?}", person.events);
    assert!(finalized(&person.events).is_empty());
    let negotiation = person.engine.state().negotiations.values().next().unwrap();
    let proposal = negotiation.awaiting().unwrap();
    assert_eq!(proposal.compensation, Compensation::Discount { percent: 10 }, "left as offered, not replaced");
}

#[test]
fn a_business_declines_what_it_cannot_compare_with_its_ceiling() {
    use me2b_proto::policy::{Decision, Reason, evaluate_counter};
    let requested = shoe_terms(START.saturating_add(DAY));
    let mut proposed = requested.clone();
    proposed.retention = 20 * DAY;
    let policy = BusinessPolicy::default();
    for (compensation, expected) in [
        (Compensation::Service("a lifetime of free shoes".into()), Some(Reason::CompensationNotComparable)),
        (Compensation::Money(Money::new(1, "EUR").unwrap()), Some(Reason::CompensationNotComparable)),
        (Compensation::Discount { percent: 11 }, Some(Reason::CompensationTooHigh)),
        (Compensation::Discount { percent: 10 }, None),
        (Compensation::None, None),
    ] {
        proposed.compensation = compensation.clone();
        let decision = evaluate_counter(&requested, &proposed, &policy);
        match expected {
            Some(reason) => assert_eq!(decision, Decision::Reject(reason), "{compensation}"),
            None => assert_eq!(decision, Decision::Accept, "{compensation}"),
        }
    }
}
