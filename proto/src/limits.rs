//! Every bound of the protocol in one place, so that a reader can see what a peer can make a
//! node hold. Values here are part of the wire contract: all nodes must agree on them.

/// Largest encoded signed envelope accepted on a direct stream.
pub const MAX_DIRECT_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest encoded signed envelope accepted from gossip. Gossip carries small messages only.
pub const MAX_GOSSIP_MESSAGE_BYTES: usize = 16 * 1024;
/// Most fields one set of terms may name.
pub const MAX_FIELDS: usize = 64;
/// Longest dotted path or category, in bytes.
pub const MAX_PATH_BYTES: usize = 128;
/// Longest free text (names, descriptions, reasons), in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Most points in one time series.
pub const MAX_SERIES_POINTS: usize = 10_000;
/// Longest token (a series point's tag, a code such as `sct|44054006`, a `one of` value), in
/// bytes.
pub const MAX_TOKEN_BYTES: usize = 64;
/// Most codes in one set of codes (conditions, medications, immunizations).
pub const MAX_CODES: usize = 1_024;
/// Most values a `one of [...]` predicate may list.
pub const MAX_ONE_OF: usize = 32;
/// Most key/value pairs in an intent's spec.
pub const MAX_SPEC_ENTRIES: usize = 32;
/// Most items in one data package.
pub const MAX_PACKAGE_ITEMS: usize = MAX_FIELDS;
/// Longest reason a node gives with its answer to a direct message, in bytes.
pub const MAX_ANSWER_REASON_BYTES: usize = 200;
/// Most messages in one negotiation before it is terminated.
pub const MAX_ROUNDS: u32 = 8;
/// Longest validity window a gossip message may claim (its expiry minus its issue time).
pub const MAX_GOSSIP_VALIDITY_MS: u64 = 14 * 24 * 3600 * 1000;
/// Longest validity window of a direct message.
pub const MAX_DIRECT_VALIDITY_MS: u64 = 10 * 60 * 1000;
/// How far in the future a message's issue time may be (clock skew tolerated).
pub const MAX_CLOCK_SKEW_MS: u64 = 2 * 60 * 1000;
/// Longest retention terms may ask for: ten years.
pub const MAX_RETENTION_MS: u64 = 10 * 365 * 24 * 3600 * 1000;
/// Time a countersignature may still arrive after a negotiation's deadline, covering the
/// delay of the last message. Both sides use the same value.
pub const FINALIZE_GRACE_MS: u64 = 30 * 1000;
/// Most (sender, nonce) pairs remembered for replay detection.
pub const MAX_SEEN_NONCES: usize = 200_000;
/// Most unexpired nonces remembered for one sender: beyond it that sender alone is refused
/// until some of its messages expire.
pub const MAX_SEEN_NONCES_PER_SENDER: usize = 4_096;
/// Most negotiations that are not final at one time.
pub const MAX_OPEN_NEGOTIATIONS: usize = 10_000;
/// Most negotiations that are not final with one peer at one time.
pub const MAX_OPEN_NEGOTIATIONS_PER_PEER: usize = 64;
/// Most negotiations kept, open or ended: beyond it the oldest ended ones are forgotten early.
pub const MAX_NEGOTIATIONS_KEPT: usize = 20_000;
/// Most outputs waiting in the engine for the driver to poll.
pub const MAX_PENDING_OUTPUTS: usize = 16_384;
/// Most distinct (category, spec) keys a business keeps demand counts for.
pub const MAX_DEMAND_KEYS: usize = 10_000;
/// Most proposals held for one intent until its decision time.
pub const MAX_PROPOSALS_PER_INTENT: usize = 64;
/// Most history entries kept per vault record in the engine.
pub const MAX_RECORD_HISTORY: usize = 16;
/// Most direct messages waiting in the outbox for delivery (revocations and deletion
/// receipts, at most one per agreement, are not counted and never refused).
pub const MAX_OUTBOX: usize = 4_096;
/// Most direct messages waiting in the outbox for one peer (same exception).
pub const MAX_OUTBOX_PER_PEER: usize = 256;
/// Longest wait between two attempts at a revocation the business answered without a
/// receipt yet (before the random spread): the receipt is asked for again at this pace for
/// as long as the agreement's retention lasts.
pub const MAX_RECEIPT_RECHECK_MS: u64 = 3600 * 1000;
/// How long the outbox keeps retrying a message about an agreement (a revocation, a receipt,
/// data) before it gives up and tells the owner.
pub const MAX_OUTBOX_AGE_MS: u64 = 30 * 24 * 3600 * 1000;
/// Longest wait between two delivery attempts, before the random spread of up to half again.
pub const MAX_RETRY_BACKOFF_MS: u64 = 5 * 60 * 1000;
/// Most requests (person) or intents (business) remembered as seen.
pub const MAX_SEEN_ANNOUNCEMENTS: usize = 10_000;
/// Longest an owner's approval prompt waits (it also ends when the request expires).
pub const MAX_OWNER_WINDOW_MS: u64 = 7 * 24 * 3600 * 1000;
/// Longest negotiation a peer may propose, from now to its deadline.
pub const MAX_NEGOTIATION_MS: u64 = 24 * 3600 * 1000;
/// Personal offers kept per agreement (sent or received), newest last.
pub const MAX_OFFERS_KEPT: usize = 32;

/// Most live requests or intents of one topic handed to a peer when it subscribes to it.
pub const MAX_ANNOUNCED_ON_SUBSCRIBE: usize = 32;

/// Most businesses a person's node remembers (profiles, pins, petnames); pinned ones are never
/// dropped for room.
pub const MAX_KNOWN_BUSINESSES: usize = 4_096;

/// Most public keys the process keeps checked and decompressed (`identity`'s cache of them);
/// about 200 bytes each. Emptied when full.
pub const MAX_CHECKED_KEYS: usize = 1_024;
