//! The HTTP/1 framing guard: fed the same bytes whole or cut anywhere, it marks the same bytes
//! (a guard that depends on how the bytes arrive could be walked around); and a first request head
//! it lets through is one `httparse` (hyper's parser) reads without any of the ambiguities the
//! guard exists to refuse.
#![no_main]

use komainu_proxy::fuzzing::Framing;
use libfuzzer_sys::fuzz_target;

fn guarded(bytes: &[u8], cuts: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut framing = Framing::default();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&255u8)) {
        if at >= out.len() {
            break;
        }
        let end = (at + 1 + cut as usize).min(out.len());
        framing.feed(&mut out[at..end], false);
        at = end;
    }
    if at < out.len() {
        let len = out.len();
        framing.feed(&mut out[at..len], false);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().copied().unwrap_or(0) as usize % 8;
    let (cuts, bytes) = data.split_at((1 + split).min(data.len()));
    let whole = guarded(bytes, &[]);
    assert_eq!(
        guarded(bytes, cuts),
        whole,
        "the guard depends on how the bytes arrive"
    );

    let Some(end) = whole.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let head = &whole[..end + 4];
    if head.contains(&0) {
        return; // refused: the parser rejects the NUL
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(head) else {
        return;
    };
    let named = |n: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(n))
            .count()
    };
    let te: Vec<&[u8]> = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
        .map(|h| h.value)
        .collect();
    if !te.is_empty() {
        assert_eq!(te.len(), 1, "two Transfer-Encoding fields let through");
        assert!(
            te[0].trim_ascii().eq_ignore_ascii_case(b"chunked"),
            "{:?}",
            String::from_utf8_lossy(te[0])
        );
        assert_eq!(
            named("content-length"),
            0,
            "Transfer-Encoding with Content-Length let through"
        );
    }
    assert!(
        !head.windows(2).any(|w| w[0] != b'\r' && w[1] == b'\n'),
        "a bare LF let through"
    );
});
