//! The `http(s)://` destination: what the lanes hold, POSTed as JSON arrays of events, each
//! batch retried with back-off until the receiver accepts it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;

use super::{KEPT_BUFFER, Shared, TICK};

/// The writer task: takes what the lanes hold every [`TICK`] (or when woken) and POSTs it as
/// JSON arrays of at most `batch`, retrying a refused batch with back-off; returns once closing.
pub(super) async fn post_batches(shared: &Shared, url: String, batch: usize, wake: &Notify) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let mut taken = Vec::new();
    let mut emptied: Vec<Vec<u8>> = Vec::new();
    let mut spare = Vec::with_capacity(64 << 10);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = wake.notified() => {}
        }
        let closing = shared.closing.load(Ordering::Relaxed);
        // Taken whole (a swap per lane), posted after the lanes' locks are let go; each lane gets
        // an emptied buffer back (the bodies are copies), so it does not regrow from nothing.
        shared.take(&mut spare, |lines, _| {
            taken.push(std::mem::replace(lines, emptied.pop().unwrap_or_default()))
        });
        for mut lines in taken.drain(..) {
            let mut rest = &lines[..];
            while !rest.is_empty() {
                let (body, count, used) = json_array(rest, batch);
                rest = &rest[used..];
                if post(shared, &client, &url, body, count).await {
                    shared.written(count);
                } else {
                    shared.held.fetch_sub(count, Ordering::Relaxed);
                    shared.tally.dropped.fetch_add(count, Ordering::Relaxed);
                }
            }
            if lines.capacity() <= KEPT_BUFFER {
                lines.clear();
                emptied.push(lines);
            }
        }
        if closing {
            return;
        }
    }
}

/// Up to `batch` JSON lines of `lines` as one JSON array, with how many it holds and how many
/// bytes of `lines` it used.
fn json_array(lines: &[u8], batch: usize) -> (bytes::Bytes, u64, usize) {
    let mut used = 0;
    let mut count = 0;
    for end in memchr::memchr_iter(b'\n', lines) {
        used = end + 1;
        count += 1;
        if count == batch {
            break;
        }
    }
    let mut body = Vec::with_capacity(used + 1);
    body.push(b'[');
    body.extend_from_slice(&lines[..used]);
    // Each line's newline becomes the separator; the last one the closing bracket.
    for b in &mut body[1..] {
        if *b == b'\n' {
            *b = b',';
        }
    }
    match body.last_mut() {
        Some(last @ b',') => *last = b']',
        _ => body.push(b']'),
    }
    (bytes::Bytes::from(body), count as u64, used)
}

/// POSTs `body` until the receiver accepts it; false when it still refuses at shutdown.
async fn post(
    shared: &Shared,
    client: &reqwest::Client,
    url: &str,
    body: bytes::Bytes,
    count: u64,
) -> bool {
    let mut backoff = Duration::from_millis(200);
    loop {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            outcome => {
                shared.tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                let why = match outcome {
                    Ok(r) => r.status().to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(%url, error = %why, events = count, "events receiver unavailable, retrying");
                if shared.closing.load(Ordering::Relaxed) {
                    return false;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_json_arrays_of_at_most_a_batch() {
        let lines = b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n";
        let (body, count, used) = json_array(lines, 2);
        assert_eq!((&body[..], count), (&b"[{\"n\":1},{\"n\":2}]"[..], 2));
        let (body, count, rest) = json_array(&lines[used..], 2);
        assert_eq!((&body[..], count), (&b"[{\"n\":3}]"[..], 1));
        assert_eq!(used + rest, lines.len());
    }
}
