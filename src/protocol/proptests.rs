//! Property tests: commands and replies survive a trip through the wire.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use redynamo_layers::Reply;
use tokio_util::codec::Decoder;

use super::{decode_reply, format_double, Limits, ProtocolVersion, RespCodec};

/// A command line as a client library writes it.
fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let arg = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..24),
        1 => prop::collection::vec(any::<u8>(), 0..2000),
        // Bytes that look like protocol.
        1 => prop::collection::vec(prop::sample::select(&b"*$\r\n-01 \"'"[..]), 0..16),
    ];
    prop::collection::vec(arg, 1..12)
}

/// Cut `input` into pieces at the given relative positions.
fn chunks(input: &[u8], cuts: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.windows(2).map(|w| input[w[0]..w[1]].to_vec()).collect()
}

fn simple_text() -> impl Strategy<Value = Bytes> {
    // Status and error lines never hold CR or LF.
    prop::collection::vec(
        any::<u8>().prop_filter("no line breaks", |b| *b != b'\r' && *b != b'\n'),
        0..16,
    )
    .prop_map(Bytes::from)
}

fn blob() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from)
}

fn finite_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        (-1_000_000i64..1_000_000).prop_map(|n| n as f64),
        (-1000i64..1000).prop_map(|n| n as f64 / 8.0),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        simple_text().prop_map(Reply::Simple),
        simple_text().prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Integer),
        blob().prop_map(Reply::Bulk),
        Just(Reply::Null),
        Just(Reply::NullArray),
        finite_double().prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Bool),
        blob().prop_map(|b| Reply::Verbatim("txt", b)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Reply::Array),
            prop::collection::vec((inner.clone(), inner.clone()), 0..5).prop_map(Reply::Map),
            prop::collection::vec(inner.clone(), 0..8).prop_map(Reply::Set),
            prop::collection::vec(inner, 0..8).prop_map(Reply::Push),
        ]
    })
}

/// What a RESP3 client reads back: both null kinds are `_`.
fn as_resp3(reply: &Reply) -> Reply {
    match reply {
        Reply::NullArray => Reply::Null,
        Reply::Array(items) => Reply::Array(items.iter().map(as_resp3).collect()),
        Reply::Set(items) => Reply::Set(items.iter().map(as_resp3).collect()),
        Reply::Push(items) => Reply::Push(items.iter().map(as_resp3).collect()),
        Reply::Map(pairs) => Reply::Map(
            pairs
                .iter()
                .map(|(k, v)| (as_resp3(k), as_resp3(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a RESP2 client reads back: the documented lossy mappings.
fn as_resp2(reply: &Reply) -> Reply {
    match reply {
        Reply::Double(v) => Reply::Bulk(Bytes::from(format_double(*v))),
        Reply::Bool(b) => Reply::Integer(i64::from(*b)),
        Reply::Verbatim(_, data) => Reply::Bulk(data.clone()),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            Reply::Array(items.iter().map(as_resp2).collect())
        }
        Reply::Map(pairs) => Reply::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [as_resp2(k), as_resp2(v)])
                .collect(),
        ),
        other => other.clone(),
    }
}

fn encode(reply: &Reply, version: ProtocolVersion) -> BytesMut {
    let mut codec = RespCodec::new(Limits::default());
    codec.set_version(version);
    let mut out = BytesMut::new();
    codec.encode_reply(reply, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn commands_round_trip_in_any_chunking(
        commands in prop::collection::vec(command(), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut input = Vec::new();
        for command in &commands {
            input.extend_from_slice(&multibulk(command));
        }
        let mut codec = RespCodec::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in chunks(&input, &cuts) {
            buf.extend_from_slice(&piece);
            while let Some(command) = codec.decode(&mut buf).expect("valid input") {
                got.push(command.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
        }
        prop_assert_eq!(got, commands);
        prop_assert!(buf.is_empty());
        prop_assert_eq!(codec.pending_command_bytes(), 0);
    }

    #[test]
    fn resp3_replies_round_trip(reply in reply(), cut in any::<prop::sample::Index>()) {
        let encoded = encode(&reply, ProtocolVersion::Resp3);
        // Any strict prefix is incomplete and left alone.
        let cut = cut.index(encoded.len());
        let mut partial = BytesMut::from(&encoded[..cut]);
        prop_assert_eq!(decode_reply(&mut partial).expect("valid prefix"), None);
        prop_assert_eq!(partial.len(), cut);

        let mut buf = encoded.clone();
        buf.extend_from_slice(b"+next\r\n");
        let decoded = decode_reply(&mut buf).expect("valid").expect("complete");
        prop_assert_eq!(&decoded, &as_resp3(&reply));
        prop_assert_eq!(&buf[..], b"+next\r\n");
    }

    #[test]
    fn resp2_replies_round_trip_modulo_lossy_mappings(reply in reply()) {
        let mut buf = encode(&reply, ProtocolVersion::Resp2);
        let decoded = decode_reply(&mut buf).expect("valid").expect("complete");
        prop_assert_eq!(decoded, as_resp2(&reply));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn doubles_read_back_exactly(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
        let text = format_double(v);
        prop_assert_eq!(text.parse::<f64>().ok(), Some(v), "{}", text);
        // Integral values within 2^62 print without a decimal point.
        if v.fract() == 0.0 && v.abs() <= 4_611_686_018_427_387_904.0 && v != 0.0 {
            prop_assert!(!text.contains(['.', 'e']), "{}", text);
        }
    }

    #[test]
    fn the_decoder_survives_any_bytes(
        input in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let limits = Limits { max_bulk_len: 64, max_multibulk_len: 8, max_inline_len: 32, query_buffer_limit: 256 };
        let mut codec = RespCodec::new(limits.clone());
        let mut buf = BytesMut::new();
        'feed: for piece in chunks(&input, &cuts) {
            buf.extend_from_slice(&piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(command)) => {
                        prop_assert!(!command.is_empty() && command.len() <= limits.max_multibulk_len.max(input.len()));
                    }
                    Ok(None) => {
                        prop_assert!(buf.len() <= limits.query_buffer_limit);
                        break;
                    }
                    Err(_) => break 'feed,
                }
            }
        }
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = decode_reply(&mut buf) {}
    }
}
