//! Feed arbitrary client bytes through the command decoder, whole and in
//! arbitrary chunks, and through the reply parser.
//!
//! Input layout: byte 0 chooses the chunk sizes, byte 1 the limits and
//! whether the client is authenticated; the rest is what the client sends.
//!
//! Checked, besides "no panic":
//! - after every incomplete read the decoder holds no more than the query
//!   buffer limit, and the read buffer never grows towards a declared length
//!   that has not arrived;
//! - chunking never changes the outcome, except for the errors that by
//!   design depend on how much is buffered ("too big …", query buffer
//!   limit), where the commands decoded before the error must still agree;
//! - replies the parser accepts re-encode, in RESP2 and RESP3, to bytes that
//!   parse back and re-encode identically.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use redynamo::protocol::{decode_reply, Limits, ProtocolError, ProtocolVersion, RespCodec};
use redynamo_layers::Reply;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let [chunking, config, ref input @ ..] = *data else {
        return;
    };
    let limits = if config & 1 == 0 {
        Limits::default()
    } else {
        let shift = (config >> 2) & 7;
        Limits {
            max_bulk_len: 1 << shift,
            max_multibulk_len: 1 + usize::from((config >> 5) & 7),
            max_inline_len: 16 + 8 * usize::from(shift),
            query_buffer_limit: 64 + 4 * usize::from(config),
        }
    };
    let authenticated = config & 2 == 0;

    let whole = run(input, &[input.len().max(1)], &limits, authenticated);
    let sizes = [
        usize::from(chunking & 0x0f) + 1,
        usize::from(chunking >> 4) * 7 + 1,
        1,
    ];
    let chunked = run(input, &sizes, &limits, authenticated);
    compare(&whole, &chunked);

    replies(input);
});

struct Outcome {
    commands: Vec<Vec<Bytes>>,
    error: Option<String>,
    /// The error depends on how much was buffered when it happened.
    size_error: bool,
}

fn run(input: &[u8], sizes: &[usize], limits: &Limits, authenticated: bool) -> Outcome {
    let mut codec = RespCodec::new(limits.clone());
    codec.set_authenticated(authenticated);
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut rest = input;
    let mut sizes = sizes.iter().cycle();
    let fail = |commands, e: ProtocolError| {
        let size_error = match &e {
            ProtocolError::QueryBufferLimit => true,
            ProtocolError::Protocol(text) => text.starts_with("Protocol error: too big"),
            ProtocolError::Io(_) => false,
        };
        Outcome {
            commands,
            error: Some(e.to_string()),
            size_error,
        }
    };
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(command)) => {
                    assert!(!command.is_empty(), "empty commands are skipped");
                    commands.push(command);
                }
                Ok(None) => {
                    // Redis' rule: the unparsed bytes are bounded, the
                    // arguments split out are not counted.
                    assert!(
                        buf.len() <= limits.query_buffer_limit,
                        "holding {} unparsed bytes",
                        buf.len()
                    );
                    assert!(
                        buf.capacity() <= 2 * input.len() + 256 * 1024,
                        "buffer of {} for {} input bytes",
                        buf.capacity(),
                        input.len()
                    );
                    break;
                }
                Err(e) => return fail(commands, e),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(command)) => commands.push(command),
            Ok(None) => break,
            Err(e) => return fail(commands, e),
        }
    }
    assert!(buf.is_empty(), "EOF drops a partial command");
    Outcome {
        commands,
        error: None,
        size_error: false,
    }
}

fn compare(whole: &Outcome, chunked: &Outcome) {
    if whole.size_error || chunked.size_error {
        let common = whole.commands.len().min(chunked.commands.len());
        assert_eq!(whole.commands[..common], chunked.commands[..common]);
    } else {
        assert_eq!(whole.commands, chunked.commands);
        assert_eq!(whole.error, chunked.error);
    }
}

fn encode(reply: &Reply, version: ProtocolVersion) -> BytesMut {
    let mut codec = RespCodec::new(Limits::default());
    codec.set_version(version);
    let mut out = BytesMut::new();
    codec.encode_reply(reply, &mut out);
    out
}

fn replies(input: &[u8]) {
    let mut buf = BytesMut::from(input);
    while let Ok(Some(reply)) = decode_reply(&mut buf) {
        for version in [ProtocolVersion::Resp2, ProtocolVersion::Resp3] {
            let first = encode(&reply, version);
            let mut again = first.clone();
            let back = decode_reply(&mut again)
                .expect("own encoding parses")
                .expect("own encoding is complete");
            assert!(again.is_empty());
            assert_eq!(encode(&back, version), first);
        }
    }
}
