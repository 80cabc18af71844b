//! The direct protocols' wire format: each request is one frame, an unsigned varint length
//! (checked against the cap first, then read incrementally: never allocated from what the
//! peer declares), a kind byte and the signed envelope; each response is one frame holding
//! the receiver's [`Answer`]: a code byte (0 accepted, 1 ignored, 2 rejected) and, for a
//! refusal, its reason as UTF-8 (at most [`MAX_ANSWER_REASON_BYTES`]). A request over the cap
//! is answered, not cut: the reader hands the node a [`DirectRequest::refused`] and the node
//! answers it rejected ("message of N bytes exceeds M") and penalises the sender. Which
//! protocol carries which message kind is decided here too.

use super::{ANNOUNCE, NEGOTIATE, OFFER, REVOKE, TRANSFER};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};
use me2b_proto::engine::Answer;
use me2b_proto::envelope::MessageKind;
use me2b_proto::limits::{MAX_ANSWER_REASON_BYTES, MAX_DIRECT_MESSAGE_BYTES};
use std::io;

/// The protocol that carries a direct message kind.
pub fn protocol_for(kind: MessageKind) -> StreamProtocol {
    match kind {
        MessageKind::Negotiation => NEGOTIATE,
        MessageKind::DataPackage => TRANSFER,
        MessageKind::PersonalOffer => OFFER,
        MessageKind::DataRequest | MessageKind::Intent => ANNOUNCE,
        MessageKind::Revocation | MessageKind::DeletionReceipt => REVOKE,
    }
}

fn kind_byte(kind: MessageKind) -> u8 {
    match kind {
        MessageKind::DataRequest => 1,
        MessageKind::Intent => 2,
        MessageKind::Negotiation => 3,
        MessageKind::DataPackage => 4,
        MessageKind::PersonalOffer => 5,
        MessageKind::Revocation => 6,
        MessageKind::DeletionReceipt => 7,
    }
}

fn kind_of(byte: u8, protocol: &StreamProtocol) -> Option<MessageKind> {
    let kind = match byte {
        1 => MessageKind::DataRequest,
        2 => MessageKind::Intent,
        3 => MessageKind::Negotiation,
        4 => MessageKind::DataPackage,
        5 => MessageKind::PersonalOffer,
        6 => MessageKind::Revocation,
        7 => MessageKind::DeletionReceipt,
        _ => return None,
    };
    (protocol_for(kind) == *protocol).then_some(kind)
}

/// A direct message: its kind and the signed envelope.
#[derive(Debug, Clone)]
pub struct DirectRequest {
    /// What it is.
    pub kind: MessageKind,
    /// The signed envelope.
    pub bytes: Vec<u8>,
    /// Set by the reader on a frame it would not read (over the cap), with why: the receiver
    /// answers it rejected and penalises the sender, instead of cutting the stream unanswered.
    pub refused: Option<String>,
}

impl DirectRequest {
    /// A message to send.
    pub fn new(kind: MessageKind, bytes: Vec<u8>) -> Self {
        DirectRequest { kind, bytes, refused: None }
    }
}

/// The most of an oversized request the reader discards so that its sender, done writing,
/// reads the answer; beyond this the stream is closed after the answer.
const MAX_DISCARDED_BYTES: u64 = 4 * 1024 * 1024;

/// A frame's declared length, checked against nothing yet.
async fn read_length<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<usize> {
    let mut length: u64 = 0;
    for shift in (0..).step_by(7).take(10) {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        length |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        if shift >= 56 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "length varint too long"));
        }
    }
    Ok(usize::try_from(length).unwrap_or(usize::MAX))
}

/// Reads and writes direct messages: an unsigned varint length, capped before anything is
/// allocated, then a kind byte and the envelope. Responses are an [`Answer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Codec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let length = read_length(io).await?;
    if length > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {length} bytes exceeds {max}")));
    }
    read_body(io, length).await
}

async fn read_body<T: AsyncRead + Unpin + Send>(io: &mut T, length: usize) -> io::Result<Vec<u8>> {
    // Grows with what actually arrives: a peer that declares the cap and sends nothing costs
    // nothing.
    let mut frame = Vec::new();
    io.take(length as u64).read_to_end(&mut frame).await?;
    if frame.len() != length {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "frame ended early"));
    }
    Ok(frame)
}

/// Writes a frame (its parts one after the other) and closes the stream. The length prefix and
/// the parts go in one write: each write on a yamux stream is a frame of its own, flushed on
/// its own (a Noise frame and a TCP segment), so a prefix written apart costs the sender a
/// system call and the receiver a wake-up per message.
async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, parts: &[&[u8]]) -> io::Result<()> {
    let mut length = parts.iter().map(|part| part.len() as u64).sum::<u64>();
    let mut out = Vec::with_capacity(10 + length as usize);
    loop {
        let byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    for part in parts {
        out.extend_from_slice(part);
    }
    io.write_all(&out).await?;
    io.close().await
}

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = DirectRequest;
    type Response = Answer;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<DirectRequest> {
        let length = read_length(io).await?;
        if length == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty frame"));
        }
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        let kind = kind_of(byte[0], protocol)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "message kind does not fit the protocol"))?;
        let max = MAX_DIRECT_MESSAGE_BYTES;
        let body = length - 1;
        if body > max {
            // Answered, not cut: the rest is read into nothing (up to a bound, never kept) so
            // that the sender gets to read why.
            if body as u64 <= MAX_DISCARDED_BYTES {
                futures::io::copy(io.take(body as u64), &mut futures::io::sink()).await?;
            }
            let refused = Some(format!("message of {body} bytes exceeds {max}"));
            return Ok(DirectRequest { kind, bytes: Vec::new(), refused });
        }
        Ok(DirectRequest::new(kind, read_body(io, body).await?))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Answer> {
        let frame = read_frame(io, 1 + MAX_ANSWER_REASON_BYTES).await?;
        let Some((&code, reason)) = frame.split_first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty response"));
        };
        // The reason is peer text: the engine makes it printable; here it need only be text.
        let reason = String::from_utf8_lossy(reason).into_owned();
        match code {
            0 => Ok(Answer::Accepted),
            1 => Ok(Answer::Ignored(reason)),
            2 => Ok(Answer::Rejected(reason)),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "bad response")),
        }
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: DirectRequest,
    ) -> io::Result<()> {
        write_frame(io, &[&[kind_byte(request.kind)], &request.bytes]).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        answer: Answer,
    ) -> io::Result<()> {
        let code = match answer {
            Answer::Accepted => 0,
            Answer::Ignored(_) => 1,
            Answer::Rejected(_) => 2,
        };
        let reason = answer.reason().unwrap_or_default();
        let mut end = reason.len().min(MAX_ANSWER_REASON_BYTES);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        write_frame(io, &[&[code], &reason.as_bytes()[..end]]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused_before_allocating() {
        let mut codec = Codec;
        let mut buffer = Cursor::new(Vec::new());
        let request = DirectRequest::new(MessageKind::Revocation, vec![1, 2, 3]);
        codec.write_request(&REVOKE, &mut buffer, request).await.unwrap();
        let mut read = Cursor::new(buffer.into_inner());
        let back = codec.read_request(&REVOKE, &mut read).await.unwrap();
        assert_eq!((back.kind, back.bytes), (MessageKind::Revocation, vec![1, 2, 3]));

        // A revocation on the offer protocol is refused.
        let mut buffer = Cursor::new(Vec::new());
        codec.write_request(&REVOKE, &mut buffer, DirectRequest::new(MessageKind::Revocation, vec![])).await.unwrap();
        assert!(codec.read_request(&OFFER, &mut Cursor::new(buffer.into_inner())).await.is_err());

        // A length prefix claiming 1 GiB is answered "too large" without any allocation of that
        // size (nor reading it: beyond 4 MiB nothing is discarded).
        let mut huge = Vec::new();
        let mut length = 1u64 << 30;
        while length >= 0x80 {
            huge.push((length as u8) | 0x80);
            length >>= 7;
        }
        huge.push(length as u8);
        huge.push(6);
        let refused = codec.read_request(&REVOKE, &mut Cursor::new(huge)).await.unwrap();
        assert!(refused.refused.is_some_and(|why| why.contains("exceeds")) && refused.bytes.is_empty());
        // Just over the cap: refused too, the body read into nothing.
        let mut over = Cursor::new(Vec::new());
        let big = DirectRequest::new(MessageKind::Revocation, vec![0; MAX_DIRECT_MESSAGE_BYTES + 1]);
        codec.write_request(&REVOKE, &mut over, big).await.unwrap();
        let refused = codec.read_request(&REVOKE, &mut Cursor::new(over.into_inner())).await.unwrap();
        assert!(refused.refused.is_some());
        // At the cap: read.
        let mut at = Cursor::new(Vec::new());
        let full = DirectRequest::new(MessageKind::Revocation, vec![0; MAX_DIRECT_MESSAGE_BYTES]);
        codec.write_request(&REVOKE, &mut at, full).await.unwrap();
        let read = codec.read_request(&REVOKE, &mut Cursor::new(at.into_inner())).await.unwrap();
        assert!(read.refused.is_none() && read.bytes.len() == MAX_DIRECT_MESSAGE_BYTES);
        // Garbage varints are refused.
        assert!(codec.read_request(&REVOKE, &mut Cursor::new(vec![0xff; 20])).await.is_err());
        // A frame that declares the cap and ends early fails without holding the cap.
        let mut short = Vec::new();
        let mut length = MAX_DIRECT_MESSAGE_BYTES as u64;
        while length >= 0x80 {
            short.push((length as u8) | 0x80);
            length >>= 7;
        }
        short.push(length as u8);
        short.extend_from_slice(&[6, 1, 2, 3]);
        assert!(codec.read_request(&REVOKE, &mut Cursor::new(short)).await.is_err());
    }

    /// Keeps each write apart, as a yamux stream does (each write is a frame of its own).
    #[derive(Default)]
    struct Writes {
        writes: Vec<Vec<u8>>,
        closed: bool,
    }

    impl futures::io::AsyncWrite for Writes {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            assert!(!self.closed, "written after the close");
            self.writes.push(buf.to_vec());
            std::task::Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_close(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            self.closed = true;
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_message_and_an_answer_each_go_out_in_one_write_then_the_close() {
        let mut codec = Codec;
        let mut request = Writes::default();
        codec
            .write_request(&REVOKE, &mut request, DirectRequest::new(MessageKind::Revocation, vec![7; 300]))
            .await
            .unwrap();
        assert_eq!(request.writes.len(), 1, "a prefix written apart is a yamux frame (and a system call) of its own");
        assert!(request.closed);
        let back = codec.read_request(&REVOKE, &mut Cursor::new(request.writes.concat())).await.unwrap();
        assert_eq!((back.kind, back.bytes), (MessageKind::Revocation, vec![7; 300]));

        let mut answer = Writes::default();
        codec.write_response(&REVOKE, &mut answer, Answer::Rejected("no".into())).await.unwrap();
        assert_eq!(answer.writes.len(), 1);
        assert!(answer.closed);
        let back = codec.read_response(&REVOKE, &mut Cursor::new(answer.writes.concat())).await.unwrap();
        assert_eq!(back, Answer::Rejected("no".into()));
    }

    #[tokio::test]
    async fn answers_round_trip_with_their_reasons() {
        let mut codec = Codec;
        for answer in [
            Answer::Accepted,
            Answer::Ignored("stale: unknown agreement".into()),
            Answer::Rejected("protocol violation: bad countersignature".into()),
        ] {
            let mut buffer = Cursor::new(Vec::new());
            codec.write_response(&REVOKE, &mut buffer, answer.clone()).await.unwrap();
            assert_eq!(codec.read_response(&REVOKE, &mut Cursor::new(buffer.into_inner())).await.unwrap(), answer);
        }
        // A reason beyond the cap is cut on a character boundary by the writer, and refused
        // whole by the reader.
        let mut buffer = Cursor::new(Vec::new());
        codec.write_response(&REVOKE, &mut buffer, Answer::Ignored("é".repeat(MAX_ANSWER_REASON_BYTES))).await.unwrap();
        let back = codec.read_response(&REVOKE, &mut Cursor::new(buffer.into_inner())).await.unwrap();
        assert_eq!(back.reason().unwrap().len(), MAX_ANSWER_REASON_BYTES);
        let mut oversized = vec![(MAX_ANSWER_REASON_BYTES + 2) as u8 | 0x80, 1, 1];
        oversized.extend(std::iter::repeat_n(b'x', MAX_ANSWER_REASON_BYTES + 1));
        assert!(codec.read_response(&REVOKE, &mut Cursor::new(oversized)).await.is_err());
    }
}
