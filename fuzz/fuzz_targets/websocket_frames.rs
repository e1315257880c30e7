//! WebSocket frames as the relay checks them: the same bytes whole or cut anywhere give the same
//! verdict (the relay reads whatever the socket gives it), and nothing panics.
#![no_main]

use komainu_proxy::fuzzing::Frames;
use libfuzzer_sys::fuzz_target;

fn verdict(bytes: &[u8], cut: usize, from_client: bool, deflate: bool) -> Option<usize> {
    let mut frames = Frames::new(from_client, deflate, 1 << 16);
    let mut offset = 0;
    for chunk in bytes.chunks(cut.max(1)) {
        if let Err((_, before)) = frames.feed(chunk) {
            return Some(offset + before);
        }
        offset += chunk.len();
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let (from_client, deflate) = (flags & 1 != 0, flags & 2 != 0);
    let cut = (flags >> 2) as usize + 1;
    let whole = verdict(bytes, bytes.len(), from_client, deflate);
    let cut_up = verdict(bytes, cut, from_client, deflate);
    // A frame refused when its header is split across reads is refused where the split put it;
    // whether it is refused never changes.
    assert_eq!(whole.is_some(), cut_up.is_some(), "{whole:?} {cut_up:?}");
});
