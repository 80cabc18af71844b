//! The negotiation state machine, with state names after the IDSA Dataspace Protocol.
//!
//! ```text
//!            propose                counter (alternating)
//!   (new) ──────────▶ REQUESTED ◀──────────────▶ OFFERED
//!     │                  │  ▲                      │
//!     │ ask owner        │  │ approve              │ agree (signs the terms the
//!     ▼                  ▼  │                      ▼  other side put on the table)
//!  AWAITING_OWNER ◀──────┘  └──────────────────  AGREED ── finalize (countersign) ──▶ FINALIZED
//!
//!  any state that is not final ── terminate ──▶ TERMINATED { code, reason }
//! ```
//!
//! Each state records who put the terms on the table, because only the other side may answer
//! them. [`Negotiation::apply`] is the one transition function; an illegal step is a
//! [`TransitionError`], never a panic.

use crate::identity::{NegotiationId, PublicKey};
use crate::messages::{Context, ProductOffer, TerminationCode};
use crate::terms::Terms;
use crate::time::Timestamp;
use crate::vocab::Category;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which side of a negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Party {
    /// This node.
    Local,
    /// The peer.
    Remote,
}

impl Party {
    fn other(self) -> Party {
        match self {
            Party::Local => Party::Remote,
            Party::Remote => Party::Local,
        }
    }
}

/// Where a negotiation stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum State {
    /// A first proposal is on the table, put there by `by`.
    Requested {
        /// Who proposed.
        by: Party,
    },
    /// A counter-offer is on the table, put there by `by`.
    Offered {
        /// Who countered.
        by: Party,
    },
    /// The person's agent waits for the owner to approve or decline `proposal`: the terms it
    /// would sign (the peer's) or counter with (its own narrower ones).
    AwaitingOwner {
        /// What the owner is asked to approve.
        proposal: Box<Terms>,
    },
    /// `signed_by` signed the agreement; the countersignature is outstanding.
    Agreed {
        /// Who signed first.
        signed_by: Party,
    },
    /// Both signed.
    Finalized,
    /// Ended without agreement.
    Terminated {
        /// Why, as a code.
        code: TerminationCode,
        /// Why, in words.
        reason: String,
    },
}

impl State {
    /// Whether nothing can happen any more.
    pub fn is_final(&self) -> bool {
        matches!(self, State::Finalized | State::Terminated { .. })
    }

    /// The upper-case name used in the API and CLI.
    pub fn name(&self) -> &'static str {
        match self {
            State::Requested { .. } => "REQUESTED",
            State::Offered { .. } => "OFFERED",
            State::AwaitingOwner { .. } => "AWAITING_OWNER",
            State::Agreed { .. } => "AGREED",
            State::Finalized => "FINALIZED",
            State::Terminated { .. } => "TERMINATED",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something that moves a negotiation.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `by` put new terms on the table (a first proposal or a counter).
    Terms {
        /// Who.
        by: Party,
    },
    /// The owner's approval of `proposal` is needed.
    AskOwner {
        /// What the owner is asked to approve.
        proposal: Box<Terms>,
    },
    /// `by` signed the agreement.
    Agree {
        /// Who.
        by: Party,
    },
    /// `by` countersigned.
    Finalize {
        /// Who.
        by: Party,
    },
    /// Either side ended it.
    Terminate {
        /// Why, as a code.
        code: TerminationCode,
        /// Why, in words.
        reason: String,
    },
}

/// A step that the state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step} is not allowed in state {state}")]
pub struct TransitionError {
    /// The state's name.
    pub state: &'static str,
    /// The step, described.
    pub step: String,
}

/// The one transition function: the state after `step`, or an error.
pub fn next(state: Option<&State>, step: &Step) -> Result<State, TransitionError> {
    use State as S;
    let table_by = |state: &S| match state {
        S::Requested { by } | S::Offered { by } => Some(*by),
        _ => None,
    };
    let next = match (state, step) {
        (None, Step::Terms { by }) => Some(S::Requested { by: *by }),
        (None, Step::AskOwner { proposal }) => Some(S::AwaitingOwner { proposal: proposal.clone() }),
        (Some(current), _) if current.is_final() => None,
        (Some(current), Step::Terminate { code, reason }) => {
            let _ = current;
            Some(S::Terminated { code: *code, reason: reason.clone() })
        }
        (Some(S::AwaitingOwner { .. }), Step::Terms { by: Party::Local }) => Some(S::Offered { by: Party::Local }),
        (Some(S::AwaitingOwner { .. }), Step::Agree { by: Party::Local }) => {
            Some(S::Agreed { signed_by: Party::Local })
        }
        (Some(current), Step::AskOwner { proposal }) if table_by(current) == Some(Party::Remote) => {
            Some(S::AwaitingOwner { proposal: proposal.clone() })
        }
        (Some(current), Step::Terms { by }) if table_by(current) == Some(by.other()) => Some(S::Offered { by: *by }),
        (Some(current), Step::Agree { by }) if table_by(current) == Some(by.other()) => {
            Some(S::Agreed { signed_by: *by })
        }
        (Some(S::Agreed { signed_by }), Step::Finalize { by }) if *by == signed_by.other() => Some(S::Finalized),
        _ => None,
    };
    next.ok_or_else(|| TransitionError { state: state.map_or("NEW", State::name), step: format!("{step:?}") })
}

/// One negotiation as one side sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Negotiation {
    /// Its id.
    pub id: NegotiationId,
    /// The other side.
    pub peer: PublicKey,
    /// Whether this node is the person (and the peer the business).
    pub local_is_person: bool,
    /// What it answers.
    pub context: Context,
    /// The category of the request or intent it answers.
    pub category: Category,
    /// Where it stands.
    pub state: State,
    /// The terms on the table (before the first proposal: the terms the request asked for).
    pub terms: Terms,
    /// The terms the business first asked for: what counters are measured against.
    pub requested: Terms,
    /// A product offered with the proposal, if any.
    pub offer: Option<ProductOffer>,
    /// The last round sent or received.
    pub round: u32,
    /// When both sides give up.
    pub deadline: Timestamp,
    /// Whether the peer knows of this negotiation yet (a person's agent may ask its owner
    /// before it says anything).
    pub peer_knows: bool,
    /// The encoded agreement once one side signed.
    pub agreement: Option<Vec<u8>>,
    /// When it started.
    pub created_at: Timestamp,
    /// When the owner's approval prompt expired undecided (then it ended as a timeout).
    #[serde(default)]
    pub prompt_expired_at: Option<Timestamp>,
}

impl Negotiation {
    /// The terms the owner is asked to approve, while the negotiation awaits the owner.
    pub fn awaiting(&self) -> Option<&Terms> {
        match &self.state {
            State::AwaitingOwner { proposal } => Some(proposal),
            _ => None,
        }
    }

    /// Applies `step`, or leaves the negotiation as it was and returns why not.
    pub fn apply(&mut self, step: &Step) -> Result<(), TransitionError> {
        self.state = next(Some(&self.state), step)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask_owner() -> Step {
        Step::AskOwner { proposal: Box::new(crate::harness::fixtures::shoe_terms(crate::harness::fixtures::START)) }
    }

    fn terminate() -> Step {
        Step::Terminate { code: TerminationCode::Declined, reason: String::new() }
    }

    #[test]
    fn the_happy_paths() {
        let s = next(None, &Step::Terms { by: Party::Local }).unwrap();
        let s = next(Some(&s), &Step::Agree { by: Party::Remote }).unwrap();
        assert_eq!(next(Some(&s), &Step::Finalize { by: Party::Local }), Ok(State::Finalized));

        let s = next(None, &Step::Terms { by: Party::Remote }).unwrap();
        let s = next(Some(&s), &Step::Terms { by: Party::Local }).unwrap();
        assert_eq!(s, State::Offered { by: Party::Local });
        let s = next(Some(&s), &Step::Terms { by: Party::Remote }).unwrap();
        let s = next(Some(&s), &ask_owner()).unwrap();
        let s = next(Some(&s), &Step::Agree { by: Party::Local }).unwrap();
        assert_eq!(next(Some(&s), &Step::Finalize { by: Party::Remote }), Ok(State::Finalized));
    }

    #[test]
    fn illegal_steps_are_errors() {
        let requested = next(None, &Step::Terms { by: Party::Local }).unwrap();
        // Nobody answers their own terms.
        assert!(next(Some(&requested), &Step::Terms { by: Party::Local }).is_err());
        assert!(next(Some(&requested), &Step::Agree { by: Party::Local }).is_err());
        // No finalize before agree, and not by the signer.
        assert!(next(Some(&requested), &Step::Finalize { by: Party::Remote }).is_err());
        let agreed = State::Agreed { signed_by: Party::Local };
        assert!(next(Some(&agreed), &Step::Finalize { by: Party::Local }).is_err());
        // The owner is asked only about the peer's terms.
        assert!(next(Some(&requested), &ask_owner()).is_err());
        // A new negotiation cannot start with an agreement.
        assert!(next(None, &Step::Agree { by: Party::Remote }).is_err());
    }

    #[test]
    fn a_terminated_negotiation_never_becomes_an_agreement() {
        let terminated = State::Terminated { code: TerminationCode::Timeout, reason: String::new() };
        for step in [
            Step::Terms { by: Party::Local },
            Step::Terms { by: Party::Remote },
            Step::Agree { by: Party::Remote },
            Step::Finalize { by: Party::Remote },
            ask_owner(),
            terminate(),
        ] {
            assert!(next(Some(&terminated), &step).is_err(), "{step:?}");
            assert!(next(Some(&State::Finalized), &step).is_err(), "{step:?}");
        }
        for state in [
            State::Requested { by: Party::Local },
            State::Offered { by: Party::Remote },
            State::AwaitingOwner {
                proposal: Box::new(crate::harness::fixtures::shoe_terms(crate::harness::fixtures::START)),
            },
            State::Agreed { signed_by: Party::Local },
        ] {
            assert!(matches!(next(Some(&state), &terminate()), Ok(State::Terminated { .. })));
        }
    }
}
