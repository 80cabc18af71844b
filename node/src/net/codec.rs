//! The direct protocols' wire format: each request is one frame, an unsigned varint length
//! (capped before anything is allocated), a kind byte and the signed envelope; each response
//! is a one-byte [`Ack`]. Which protocol carries which message kind is decided here too.

use super::{ANNOUNCE, NEGOTIATE, OFFER, REVOKE, TRANSFER};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};
use me2b_proto::envelope::MessageKind;
use me2b_proto::limits::MAX_DIRECT_MESSAGE_BYTES;
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
}

/// The receiver's answer to a direct message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Handled.
    Accepted,
    /// Refused, through no fault of the sender (late, duplicate, busy).
    Ignored,
    /// Refused as invalid.
    Rejected,
}

/// Reads and writes direct messages: an unsigned varint length, capped before anything is
/// allocated, then a kind byte and the envelope. Responses are one byte.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
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
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {length} bytes exceeds {max}")));
    }
    let mut frame = vec![0u8; length];
    io.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    let mut length = frame.len() as u64;
    let mut prefix = Vec::with_capacity(10);
    loop {
        let byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            prefix.push(byte);
            break;
        }
        prefix.push(byte | 0x80);
    }
    io.write_all(&prefix).await?;
    io.write_all(frame).await?;
    io.close().await
}

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = DirectRequest;
    type Response = Ack;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<DirectRequest> {
        let mut frame = read_frame(io, MAX_DIRECT_MESSAGE_BYTES + 1).await?;
        if frame.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty frame"));
        }
        let kind = kind_of(frame[0], protocol)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "message kind does not fit the protocol"))?;
        frame.remove(0);
        Ok(DirectRequest { kind, bytes: frame })
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Ack> {
        let frame = read_frame(io, 1).await?;
        match frame.first() {
            Some(0) => Ok(Ack::Accepted),
            Some(1) => Ok(Ack::Ignored),
            Some(2) => Ok(Ack::Rejected),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "bad response")),
        }
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: DirectRequest,
    ) -> io::Result<()> {
        let mut frame = Vec::with_capacity(1 + request.bytes.len());
        frame.push(kind_byte(request.kind));
        frame.extend_from_slice(&request.bytes);
        write_frame(io, &frame).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        ack: Ack,
    ) -> io::Result<()> {
        let byte = match ack {
            Ack::Accepted => 0,
            Ack::Ignored => 1,
            Ack::Rejected => 2,
        };
        write_frame(io, &[byte]).await
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
        let request = DirectRequest { kind: MessageKind::Revocation, bytes: vec![1, 2, 3] };
        codec.write_request(&REVOKE, &mut buffer, request).await.unwrap();
        let mut read = Cursor::new(buffer.into_inner());
        let back = codec.read_request(&REVOKE, &mut read).await.unwrap();
        assert_eq!((back.kind, back.bytes), (MessageKind::Revocation, vec![1, 2, 3]));

        // A revocation on the offer protocol is refused.
        let mut buffer = Cursor::new(Vec::new());
        codec
            .write_request(&REVOKE, &mut buffer, DirectRequest { kind: MessageKind::Revocation, bytes: vec![] })
            .await
            .unwrap();
        assert!(codec.read_request(&OFFER, &mut Cursor::new(buffer.into_inner())).await.is_err());

        // A length prefix claiming 1 GiB fails before any allocation of that size.
        let mut huge = Vec::new();
        let mut length = 1u64 << 30;
        while length >= 0x80 {
            huge.push((length as u8) | 0x80);
            length >>= 7;
        }
        huge.push(length as u8);
        assert!(codec.read_request(&REVOKE, &mut Cursor::new(huge)).await.is_err());
        // Garbage varints are refused.
        assert!(codec.read_request(&REVOKE, &mut Cursor::new(vec![0xff; 20])).await.is_err());
    }
}
