//! Decoder behaviour against Redis 7, case by case.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

use super::{Limits, ProtocolError, RespCodec};

fn codec() -> RespCodec {
    RespCodec::new(Limits::default())
}

/// Decode everything `input` holds in one go: the commands, and the error
/// that stopped decoding, if any.
fn decode_all(codec: &mut RespCodec, input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
    let mut buf = BytesMut::from(input);
    let mut commands = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(command)) => commands.push(command),
            Ok(None) => return (commands, None),
            Err(e) => return (commands, Some(e)),
        }
    }
}

/// Feed `input` one byte at a time, as a slow client would send it.
fn decode_bytewise(
    codec: &mut RespCodec,
    input: &[u8],
) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    for &b in input {
        buf.extend_from_slice(&[b]);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(command)) => commands.push(command),
                Ok(None) => break,
                Err(e) => return (commands, Some(e)),
            }
        }
    }
    (commands, None)
}

fn commands(input: &[u8]) -> Vec<Vec<Bytes>> {
    let (commands, err) = decode_all(&mut codec(), input);
    assert!(err.is_none(), "{err:?}");
    commands
}

fn args(list: &[&str]) -> Vec<Bytes> {
    list.iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect()
}

/// The `-ERR` text a fresh codec gives for `input`, fed whole.
fn error_text(input: &[u8]) -> String {
    error_text_with(&mut codec(), input)
}

fn error_text_with(codec: &mut RespCodec, input: &[u8]) -> String {
    match decode_all(codec, input).1 {
        Some(ProtocolError::Protocol(text)) => text,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn multibulk_command() {
    assert_eq!(
        commands(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nal\r\n"),
        [args(&["SET", "k", "v\r\nal"])]
    );
}

#[test]
fn binary_and_empty_arguments() {
    assert_eq!(
        commands(b"*2\r\n$0\r\n\r\n$3\r\n\x00\xff\n\r\n"),
        [vec![Bytes::new(), Bytes::from_static(b"\x00\xff\n")]]
    );
}

#[test]
fn pipelined_frames_in_one_buffer() {
    let mut input = Vec::new();
    for i in 0..16 {
        input.extend_from_slice(
            format!(
                "*2\r\n$3\r\nGET\r\n${}\r\nkey{i}\r\n",
                3 + i.to_string().len()
            )
            .as_bytes(),
        );
    }
    input.extend_from_slice(b"PING\r\n*1\r\n$4\r\nQUIT\r\n");
    let got = commands(&input);
    assert_eq!(got.len(), 18);
    assert_eq!(got[0], args(&["GET", "key0"]));
    assert_eq!(got[15], args(&["GET", "key15"]));
    assert_eq!(got[16], args(&["PING"]));
    assert_eq!(got[17], args(&["QUIT"]));
}

#[test]
fn split_at_every_byte_boundary() {
    let input: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\nab\r\ncd\r\nef\r\n\
        set \"a b\" 'c d'\r\n\r\n   \n*0\r\n*-1\r\nGET x\n*1\r\n$4\r\nPING\r\n";
    let whole = commands(input);
    assert_eq!(whole.len(), 4);

    let (bytewise, err) = decode_bytewise(&mut codec(), input);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(bytewise, whole);

    // Every two-part split, too.
    for cut in 0..=input.len() {
        let mut codec = codec();
        let mut buf = BytesMut::from(&input[..cut]);
        let mut got = Vec::new();
        while let Some(command) = codec.decode(&mut buf).expect("valid") {
            got.push(command);
        }
        buf.extend_from_slice(&input[cut..]);
        while let Some(command) = codec.decode(&mut buf).expect("valid") {
            got.push(command);
        }
        assert_eq!(got, whole, "cut at {cut}");
        assert!(buf.is_empty());
    }
}

#[test]
fn empty_multibulk_is_skipped() {
    assert_eq!(commands(b"*0\r\n"), Vec::<Vec<Bytes>>::new());
    assert_eq!(
        commands(b"*-1\r\n*-100\r\n*0\r\n*1\r\n$4\r\nPING\r\n"),
        [args(&["PING"])]
    );
}

#[test]
fn empty_inline_lines_are_skipped() {
    assert_eq!(commands(b"\r\n\n  \t \r\n"), Vec::<Vec<Bytes>>::new());
    assert_eq!(
        commands(b"\r\n\r\nPING\r\n\nECHO hi\n"),
        [args(&["PING"]), args(&["ECHO", "hi"])]
    );
}

#[test]
fn inline_quoting() {
    assert_eq!(
        commands(b"set \"a b\" 'c d'\r\n"),
        [args(&["set", "a b", "c d"])]
    );
    assert_eq!(commands(b"\"\\x41\"\n"), [args(&["A"])]);
    assert_eq!(commands(b"echo \"\"\r\n"), [args(&["echo", ""])]);
    // Only the final \r is the terminator's; a \r inside the line separates.
    assert_eq!(commands(b"a\rb\r\r\n"), [args(&["a", "b"])]);
}

#[test]
fn inline_unbalanced_quotes() {
    for input in [&b"set \"a b\r\n"[..], b"set 'a\n", b"get \"k\"x\n"] {
        assert_eq!(
            error_text(input),
            "Protocol error: unbalanced quotes in request"
        );
    }
}

#[test]
fn inline_too_big() {
    let mut input = vec![b'a'; 64 * 1024];
    // At the limit, the decoder still waits for the newline.
    let (got, err) = decode_all(&mut codec(), &input);
    assert!(got.is_empty() && err.is_none());
    input.push(b'a');
    assert_eq!(error_text(&input), "Protocol error: too big inline request");
    // Like Redis, a long line that arrives whole with its newline is fine.
    input.push(b'\n');
    assert_eq!(commands(&input).len(), 1);
}

#[test]
fn invalid_multibulk_length() {
    for input in [
        &b"*abc\r\n"[..],
        b"*\r\n",
        b"* 1\r\n",
        b"*+1\r\n",
        b"*01\r\n",
        b"*-0\r\n",
        b"*1048577\r\n",
        b"*2147483647\r\n",
        b"*99999999999999999999999\r\n",
    ] {
        assert_eq!(
            error_text(input),
            "Protocol error: invalid multibulk length",
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    // The configured maximum itself is fine.
    let (_, err) = decode_all(&mut codec(), b"*1048576\r\n");
    assert!(err.is_none());
}

#[test]
fn huge_multibulk_count_allocates_nothing() {
    let mut codec = codec();
    let mut buf = BytesMut::from(&b"*1048576\r\n"[..]);
    assert_eq!(codec.decode(&mut buf).expect("valid"), None);
    assert!(codec.decoder.args.capacity() <= 1024);
}

#[test]
fn expected_dollar() {
    assert_eq!(
        error_text(b"*1\r\n:3\r\n"),
        "Protocol error: expected '$', got ':'"
    );
    assert_eq!(
        error_text(b"*2\r\n$1\r\na\r\nX\r\n"),
        "Protocol error: expected '$', got 'X'"
    );
    // Line breaks are shown as spaces, as Redis' addReplyErrorFormat does.
    assert_eq!(
        error_text(b"*1\r\n\r\n"),
        "Protocol error: expected '$', got ' '"
    );
    // Redis only looks once the element's line is complete.
    let (got, err) = decode_all(&mut codec(), b"*1\r\nX");
    assert!(got.is_empty() && err.is_none());
}

#[test]
fn invalid_bulk_length() {
    for input in [
        &b"*1\r\n$-1\r\n"[..],
        b"*1\r\n$abc\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$+3\r\n",
        b"*1\r\n$536870913\r\n",
        b"*1\r\n$9223372036854775808\r\n",
    ] {
        assert_eq!(
            error_text(input),
            "Protocol error: invalid bulk length",
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn too_big_count_strings() {
    let mut mbulk = b"*".to_vec();
    mbulk.extend(std::iter::repeat_n(b'1', 64 * 1024));
    assert_eq!(
        error_text(&mbulk),
        "Protocol error: too big mbulk count string"
    );

    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', 64 * 1024));
    assert_eq!(
        error_text(&bulk),
        "Protocol error: too big bulk count string"
    );

    // A `\r` anywhere later in the buffer ends the header, as Redis'
    // strchr does, and then the number is simply invalid.
    mbulk.extend_from_slice(b"\r\n");
    assert_eq!(
        error_text(&mbulk),
        "Protocol error: invalid multibulk length"
    );
}

#[test]
fn unauthenticated_limits() {
    let mut unauthenticated = codec();
    unauthenticated.set_authenticated(false);
    assert_eq!(
        error_text_with(&mut unauthenticated, b"*11\r\n"),
        "Protocol error: unauthenticated multibulk length"
    );
    let mut unauthenticated = codec();
    unauthenticated.set_authenticated(false);
    assert_eq!(
        error_text_with(&mut unauthenticated, b"*1\r\n$16385\r\n"),
        "Protocol error: unauthenticated bulk length"
    );
    // The general limits come first.
    let mut unauthenticated = codec();
    unauthenticated.set_authenticated(false);
    assert_eq!(
        error_text_with(&mut unauthenticated, b"*2000000\r\n"),
        "Protocol error: invalid multibulk length"
    );

    // At the limits, and after authenticating, all is well.
    let mut codec = codec();
    codec.set_authenticated(false);
    let mut input = b"*10\r\n".to_vec();
    for _ in 0..9 {
        input.extend_from_slice(b"$1\r\nx\r\n");
    }
    input.extend_from_slice(b"$16384\r\n");
    input.extend(std::iter::repeat_n(b'v', 16384));
    input.extend_from_slice(b"\r\n");
    let (got, err) = decode_all(&mut codec, &input);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got[0].len(), 10);
    codec.set_authenticated(true);
    let (got, err) = decode_all(&mut codec, b"*11\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n");
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got[0].len(), 11);
}

#[test]
fn query_buffer_limit() {
    let limits = Limits {
        query_buffer_limit: 100,
        ..Limits::default()
    };
    // As in Redis, only what is not parsed yet counts: the arguments split
    // out of the buffer do not, so a long command sent in small reads
    // passes a limit smaller than itself.
    let mut codec = RespCodec::new(limits.clone());
    let mut buf = BytesMut::from(&b"*30\r\n"[..]);
    for _ in 0..29 {
        assert_eq!(codec.decode(&mut buf).expect("under the limit"), None);
        buf.extend_from_slice(b"$8\r\nargument\r\n");
    }
    assert_eq!(codec.decode(&mut buf).expect("under the limit"), None);
    assert!(codec.pending_command_bytes() > 100);
    buf.extend_from_slice(b"$3\r\nend\r\n");
    let args = codec.decode(&mut buf).expect("under the limit");
    assert_eq!(args.map(|a| a.len()), Some(30));

    // A bulk string arriving counts while it is in the buffer.
    let mut codec = RespCodec::new(limits.clone());
    let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200\r\n"[..]);
    assert_eq!(codec.decode(&mut buf).expect("under the limit"), None);
    buf.extend_from_slice(&[b'v'; 90]);
    assert_eq!(codec.decode(&mut buf).expect("under the limit"), None);
    buf.extend_from_slice(&[b'v'; 20]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(ProtocolError::QueryBufferLimit)
    ));

    // Complete pipelined commands are returned first, whatever their total.
    let mut codec = RespCodec::new(limits);
    let input = b"*1\r\n$4\r\nPING\r\n".repeat(20);
    let (got, err) = decode_all(&mut codec, &input);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 20);
}

#[test]
fn bulk_trailer_is_not_checked_like_redis() {
    assert_eq!(commands(b"*1\r\n$3\r\nfooXY"), [args(&["foo"])]);
    // Nor is the byte after a header's \r.
    assert_eq!(commands(b"*1\rX$4\rYPING\r\n"), [args(&["PING"])]);
}

#[test]
fn header_waits_for_the_byte_after_cr() {
    let mut codec = codec();
    let mut buf = BytesMut::from(&b"*1\r"[..]);
    assert_eq!(codec.decode(&mut buf).expect("valid"), None);
    buf.extend_from_slice(b"\n$4\r\nPING\r\n");
    assert_eq!(
        codec.decode(&mut buf).expect("valid"),
        Some(args(&["PING"]))
    );
}

#[test]
fn arguments_are_zero_copy() {
    let mut codec = codec();
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
    let base = buf.as_ptr() as usize;
    let command = codec.decode(&mut buf).expect("valid").expect("complete");
    assert_eq!(command[0].as_ptr() as usize, base + 8);
    assert_eq!(command[1].as_ptr() as usize, base + 17);
}

#[test]
fn header_search_resumes_where_it_stopped() {
    let mut codec = codec();
    let mut buf = BytesMut::new();
    for _ in 0..1000 {
        buf.extend_from_slice(b"x");
        assert_eq!(codec.decode(&mut buf).expect("valid"), None);
    }
    assert_eq!(codec.decoder.scanned, 1000);
    buf.extend_from_slice(b"\n");
    assert_eq!(
        codec.decode(&mut buf).expect("valid").map(|c| c[0].len()),
        Some(1000)
    );
}

/// Append `data` the way `FramedRead` does: reads of at most `max_read`
/// bytes into the buffer's spare capacity, growing it by one byte's
/// `reserve` only when full, and a decode after each read.
fn read_like_framed(
    codec: &mut RespCodec,
    buf: &mut BytesMut,
    mut data: &[u8],
    max_read: usize,
    mut after_read: impl FnMut(&BytesMut),
) -> Vec<Vec<Bytes>> {
    let mut commands = Vec::new();
    while !data.is_empty() {
        if buf.len() == buf.capacity() {
            buf.reserve(1);
        }
        let n = data.len().min(max_read).min(buf.capacity() - buf.len());
        buf.extend_from_slice(&data[..n]);
        data = &data[n..];
        after_read(buf);
        while let Some(command) = codec.decode(buf).expect("valid") {
            commands.push(command);
        }
    }
    commands
}

#[test]
fn large_bulk_grows_the_buffer_with_the_data_not_the_declaration() {
    let mut codec = codec();
    let declared = 400 * 1024 * 1024;
    let mut buf = BytesMut::from(format!("*2\r\n$3\r\nSET\r\n${declared}\r\n").as_bytes());
    assert_eq!(codec.decode(&mut buf).expect("valid"), None);
    assert!(buf.capacity() <= 128 * 1024, "capacity {}", buf.capacity());

    // Then 1 MiB arrives in 16 KiB reads: the buffer stays within twice
    // what arrived.
    let data = vec![b'v'; 1024 * 1024];
    let mut received = 0;
    read_like_framed(&mut codec, &mut buf, &data, 16 * 1024, |buf| {
        received = buf.len();
        assert!(
            buf.capacity() <= 2 * received + 128 * 1024,
            "{} for {received}",
            buf.capacity()
        );
    });
}

#[test]
fn large_bulk_ends_in_an_exactly_sized_buffer() {
    for len in [32 * 1024, 100_000, 1024 * 1024, 3 * 1024 * 1024 + 7] {
        let mut codec = codec();
        let mut buf = BytesMut::from(format!("*2\r\n$3\r\nSET\r\n${len}\r\n").as_bytes());
        assert_eq!(codec.decode(&mut buf).expect("valid"), None);
        let mut data = vec![b'v'; len];
        data.extend_from_slice(b"\r\n");
        let mut peak = 0;
        let got = read_like_framed(&mut codec, &mut buf, &data, 16 * 1024, |buf| {
            peak = peak.max(buf.capacity());
        });
        assert_eq!(got.len(), 1);
        assert_eq!(got[0][1].len(), len);
        assert!(peak <= len + 2 + 64 * 1024, "peak {peak} for {len}");
    }
}

#[test]
fn megabyte_bulk_byte_by_byte() {
    let len = 1024 * 1024;
    let mut input = format!("*2\r\n$3\r\nSET\r\n${len}\r\n").into_bytes();
    input.extend(std::iter::repeat_n(b'z', len));
    input.extend_from_slice(b"\r\n");
    let (got, err) = decode_bytewise(&mut codec(), &input);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][1].len(), len);
}

#[test]
fn many_arguments_in_small_reads() {
    let n = 100_000;
    let mut input = format!("*{}\r\n$4\r\nMSET\r\n", n + 1).into_bytes();
    for i in 0..n {
        let arg = i.to_string();
        input.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    let mut codec = codec();
    let mut buf = BytesMut::new();
    let mut got = None;
    for chunk in input.chunks(16 * 1024) {
        buf.extend_from_slice(chunk);
        if let Some(command) = codec.decode(&mut buf).expect("valid") {
            got = Some(command);
        }
    }
    let command = got.expect("complete");
    assert_eq!(command.len(), n + 1);
    assert_eq!(command[n], Bytes::from((n - 1).to_string()));
}

#[test]
fn eof_drops_a_partial_command() {
    let mut codec = codec();
    let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET"[..]);
    assert_eq!(
        codec.decode_eof(&mut buf).expect("valid"),
        Some(args(&["PING"]))
    );
    assert_eq!(codec.decode_eof(&mut buf).expect("valid"), None);
    assert!(buf.is_empty());
}

#[test]
fn codec_state() {
    use super::ProtocolVersion;
    use redynamo_layers::Reply;
    use tokio_util::codec::Encoder;

    let mut codec = codec();
    assert_eq!(codec.version(), ProtocolVersion::Resp2);
    let mut out = BytesMut::new();
    codec.encode(&Reply::Null, &mut out).expect("infallible");
    codec.set_version(ProtocolVersion::Resp3);
    codec.encode(&Reply::Null, &mut out).expect("infallible");
    assert_eq!(&out[..], b"$-1\r\n_\r\n");

    codec.limits_mut().max_multibulk_len = 2;
    assert_eq!(codec.limits().max_multibulk_len, 2);
    assert_eq!(
        error_text_with(&mut codec, b"*3\r\n"),
        "Protocol error: invalid multibulk length"
    );
}
