//! Evidence about one agreement that anyone can check offline with nothing but the bytes:
//! the agreement exactly as both signed it, both signatures, and (once it exists) the
//! business's signed envelope carrying its deletion receipt. A person exports it
//! (`me2b export`) and checks it (`me2b ledger verify`) without the business, the network or
//! even the node: if the business keeps data after a receipt, or denies an agreement, this is
//! what the person shows.

use crate::agreement::{self, Agreement, AgreementRecord};
use crate::decode::DecodeError;
use crate::envelope::{self, EnvelopeError, MessageKind};
use crate::identity::{AgreementId, Signature, hex, unhex};
use crate::messages::DeletionReceipt;
use crate::wire;
use serde::{Deserialize, Serialize};

/// One agreement's evidence, as hex text (so that it survives any JSON tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    /// The agreement's id: the SHA-256 of `agreement`.
    pub agreement_id: String,
    /// The exact bytes both parties signed.
    pub agreement: String,
    /// The person's signature over them.
    pub person_signature: String,
    /// The business's signature over them.
    pub business_signature: String,
    /// The business's signed envelope carrying the deletion receipt, when held.
    pub receipt_envelope: Option<String>,
}

/// What checked evidence shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The agreement's id.
    pub agreement_id: AgreementId,
    /// The agreement, decoded from the signed bytes.
    pub agreement: Agreement,
    /// The business's deletion receipt, if one is held.
    pub receipt: Option<DeletionReceipt>,
}

/// Why evidence does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// A field is not hex.
    #[error("{0} is not hex")]
    NotHex(&'static str),
    /// The id is not the hash of the bytes.
    #[error("the agreement id is not the hash of its bytes")]
    WrongId,
    /// The bytes are not an agreement.
    #[error("the agreement does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// A signature does not verify against the key named in the agreement.
    #[error("the {0}'s signature does not verify")]
    BadSignature(&'static str),
    /// The receipt's envelope does not verify.
    #[error("the receipt's envelope does not verify: {0}")]
    Receipt(#[from] EnvelopeError),
    /// The receipt was not signed by the business for the person, or is about another
    /// agreement.
    #[error("the receipt is not the business's receipt for this agreement")]
    ReceiptMismatch,
}

impl Evidence {
    /// The evidence a node holds for `record`.
    pub fn of(record: &AgreementRecord) -> Evidence {
        Evidence {
            agreement_id: record.id.to_string(),
            agreement: hex(&record.bytes),
            person_signature: hex(&Vec::from(record.person_signature)),
            business_signature: hex(&Vec::from(record.business_signature)),
            receipt_envelope: record.receipt_envelope.as_deref().map(hex),
        }
    }

    /// Checks everything offline: the id, both signatures against the keys the agreement
    /// names, and the receipt's signature, sender, recipient and agreement.
    pub fn check(&self) -> Result<Checked, EvidenceError> {
        let bytes = unhex(&self.agreement).ok_or(EvidenceError::NotHex("agreement"))?;
        let agreement_id = Agreement::id_of(&bytes);
        if agreement_id.to_string() != self.agreement_id {
            return Err(EvidenceError::WrongId);
        }
        let agreement = Agreement::decode(&bytes)?;
        let signature = |text: &str, who: &'static str| {
            let raw = unhex(text).ok_or(EvidenceError::NotHex(who))?;
            Signature::try_from(raw.as_slice()).map_err(|_| EvidenceError::BadSignature(who))
        };
        if !agreement::verify(&agreement.person, &bytes, &signature(&self.person_signature, "person")?) {
            return Err(EvidenceError::BadSignature("person"));
        }
        if !agreement::verify(&agreement.business, &bytes, &signature(&self.business_signature, "business")?) {
            return Err(EvidenceError::BadSignature("business"));
        }
        let receipt = match &self.receipt_envelope {
            None => None,
            Some(text) => {
                let envelope = unhex(text).ok_or(EvidenceError::NotHex("receipt envelope"))?;
                let opened = envelope::verify(&envelope, MessageKind::DeletionReceipt)?;
                let header = opened.header();
                if header.sender != agreement.business || header.recipient != Some(agreement.person) {
                    return Err(EvidenceError::ReceiptMismatch);
                }
                let receipt = DeletionReceipt::try_from(opened.decode::<wire::DeletionReceipt>()?)?;
                if receipt.agreement_id != agreement_id {
                    return Err(EvidenceError::ReceiptMismatch);
                }
                Some(receipt)
            }
        };
        Ok(Checked { agreement_id, agreement, receipt })
    }
}

/// What checking a node's records found: its ledger and every agreement's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// Whether everything holds.
    pub valid: bool,
    /// Ledger entries checked.
    pub entries: usize,
    /// Agreements whose evidence was checked.
    pub agreements: usize,
    /// Signed deletion receipts among them.
    pub receipts: usize,
    /// The first thing that does not hold.
    pub error: Option<String>,
}

/// Checks a node's signed ledger entries against its key (and `head`, when the node's own
/// head is known: nothing cut off) and every agreement's evidence. The daemon runs it on its
/// store; `me2b ledger verify --file` on an export, with no daemon at all.
pub fn check_records(
    key: &crate::identity::PublicKey,
    ledger: &[Vec<u8>],
    head: Option<&crate::ledger::Head>,
    evidence: &[Evidence],
) -> Report {
    let mut report = Report { valid: true, entries: ledger.len(), agreements: 0, receipts: 0, error: None };
    if let Err(error) = crate::ledger::verify(ledger, key, head) {
        report.valid = false;
        report.error = Some(format!("the ledger does not verify: {error}"));
        return report;
    }
    for item in evidence {
        match item.check() {
            Ok(checked) => {
                report.agreements += 1;
                report.receipts += usize::from(checked.receipt.is_some());
            }
            Err(error) => {
                report.valid = false;
                report.error = Some(format!("agreement {}: {error}", item.agreement_id));
                return report;
            }
        }
    }
    report
}
